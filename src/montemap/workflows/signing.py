"""The keys the commands that talk to a server sign with, as the AWS CLI would.

``montemap run --server URL`` and ``montemap deploy --endpoint-url URL`` sign
with the user's AWS credentials (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
else ``AWS_PROFILE`` or the default profile of ``~/.aws``), else with montemap's
built-in pair, which a keyless loopback server accepts (it accepts any key). The
instance metadata service is not asked: no montemap server accepts an instance
role's temporary key, and where there is none the question costs seconds.

An embedded server (``montemap run`` and ``montemap deploy`` without a URL) has
no keys: the commands sign for it with the built-in pair, whatever the
environment says (:func:`session` with ``own_server``).

A server that refuses the signature is explained in one line (:func:`refusal`):
the key that was used, where it came from, and what to set.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from montemap import signing_keys as keys
from montemap.errors import MontemapError


def is_server_url(url: str) -> bool:
    """Whether ``url`` can name a server (``--server``, ``--endpoint-url``): http or
    https, a host, and a port that is a number if any."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


#: The built-in pair, the codes of a refused key and what to set: the worker's
#: (:mod:`montemap.signing_keys`), so that ``montemap worker`` signs and explains alike.
BUILTIN_ACCESS_KEY_ID = keys.BUILTIN_ACCESS_KEY_ID
BUILTIN_SECRET_ACCESS_KEY = keys.BUILTIN_SECRET_ACCESS_KEY
AUTH_ERROR_CODES = keys.AUTH_ERROR_CODES
WHAT_TO_SET = keys.WHAT_TO_SET
DEFAULT_REGION = "us-east-1"


class SigningError(MontemapError):
    """The user's AWS credentials cannot be read (a profile that does not exist...)."""


def session(*, own_server: bool = False) -> Any:
    """A boto3 session signing as the AWS CLI would (see the module's documentation);
    ``own_server``: with the built-in pair, for an embedded server."""
    import boto3
    import botocore.session
    from botocore.exceptions import BotoCoreError

    if own_server:
        return _builtin(boto3.session.Session, DEFAULT_REGION)
    try:
        core = botocore.session.get_session()
        resolver = core.get_component("credential_provider")
        if resolver.get_provider("iam-role") is not None:
            resolver.remove("iam-role")
        credentials = core.get_credentials()
        region = core.get_config_variable("region") or DEFAULT_REGION
    except BotoCoreError as exc:  # AWS_PROFILE names no profile, half a key pair...
        raise SigningError(f"cannot read your AWS credentials: {exc}") from None
    if credentials is None:
        return _builtin(boto3.session.Session, region)
    return boto3.session.Session(botocore_session=core, region_name=region)


def _builtin(make: Any, region: str) -> Any:
    """A session with the built-in pair that reads none of the user's AWS configuration
    (an ``AWS_PROFILE`` naming no profile would fail it)."""
    import botocore.session

    core = botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),  # not AWS_PROFILE
            "config_file": (None, None, os.devnull, None),  # not AWS_CONFIG_FILE
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    core.set_credentials(BUILTIN_ACCESS_KEY_ID, BUILTIN_SECRET_ACCESS_KEY)
    return make(botocore_session=core, region_name=region)


def signer() -> str:
    """Who :func:`session` signs as, for a message: the access key id and where it
    came from."""
    credentials = session().get_credentials()
    return keys.describe(credentials.access_key, getattr(credentials, "method", "") or "")


def refusal(code: str) -> str | None:
    """What to do where a server answered ``code`` to a client of :func:`session`: None
    unless ``code`` says it refused the signature or the key."""
    if code not in AUTH_ERROR_CODES:
        return None
    return keys.refusal(code, signer())
