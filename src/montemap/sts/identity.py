"""Who a caller is, as STS names it: an ARN, a unique id and an account.

A server without keys takes every request as its account's root user (the
caller AWS answers for an account's own credentials); a configured access key
is an IAM user named after the key id; temporary credentials are the identity
they were issued for (an assumed role's session, or the user who asked for a
session token). Unique ids are derived from the names, so they are stable
across restarts: ``AIDA...`` for users, ``AROA...`` for roles, as on AWS.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

#: A role's ARN: partition, account, optional path, name.
ROLE_ARN_RE = re.compile(
    r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([A-Za-z0-9_+=,.@-]{1,64})$"
)


def unique_id(prefix: str, name: str) -> str:
    """``prefix`` and 17 letters or digits derived from ``name`` (21 characters, as AWS's)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return prefix + base64.b32encode(digest).decode("ascii")[:17]


@dataclass(frozen=True)
class Identity:
    """A caller, as GetCallerIdentity answers it."""

    account: str
    arn: str
    user_id: str
    #: ``root``, ``user`` or ``assumed-role`` (role chaining and GetSessionToken rules).
    kind: str

    def as_result(self) -> dict[str, str]:
        return {"UserId": self.user_id, "Account": self.account, "Arn": self.arn}


def root(account: str) -> Identity:
    """The account's root user: a server's callers when it has no keys."""
    return Identity(account, f"arn:aws:iam::{account}:root", account, "root")


def user(account: str, access_key_id: str) -> Identity:
    """The IAM user a configured access key stands for (named after the key id)."""
    return Identity(
        account,
        f"arn:aws:iam::{account}:user/{access_key_id}",
        unique_id("AIDA", f"{account}:{access_key_id}"),
        "user",
    )


def assumed_role(role_arn: str, session_name: str) -> Identity:
    """The session ``session_name`` of the role ``role_arn`` (already validated)."""
    match = ROLE_ARN_RE.match(role_arn)
    if match is None:
        raise ValueError(f"not a role ARN: {role_arn}")
    partition, account, name = match.groups()
    return Identity(
        account,
        f"arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}",
        f"{unique_id('AROA', role_arn)}:{session_name}",
        "assumed-role",
    )
