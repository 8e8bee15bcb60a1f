"""A function's resource-based policy: AddPermission, RemovePermission, GetPolicy.

The statements are recorded and shown as Lambda shows them (a policy per
function, or per version or alias with ``Qualifier``); nothing here is
enforced, as no other account or service calls in.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from montemap.lambda_api.errors import conflict, constraint, invalid, not_found
from montemap.lambda_api.store import Config, FunctionStore

_SID_RE = re.compile(r"[a-zA-Z0-9-_.]{1,100}")
_ACTION_RE = re.compile(r"lambda:[*]|lambda:[a-zA-Z]+|[*]")
_ACCOUNT_RE = re.compile(r"\d{12}")

#: ``resource(function, qualifier)``: (name, ARN the statements name) of an existing
#: function, version or alias; raises Lambda's refusal otherwise.
Resource = Callable[[str, str | None], tuple[str, str]]


class FunctionPolicies:
    """Resource-policy statements, kept per function and qualifier."""

    def __init__(self, store: FunctionStore, resource: Resource) -> None:
        self.store = store
        self._resource = resource

    def add(self, function: str, qualifier: str | None, params: dict[str, Any]) -> Config:
        name, arn = self._resource(function, qualifier)
        sid, action, principal = (params.get(k) for k in ("StatementId", "Action", "Principal"))
        for field, value, pattern in (
            ("statementId", sid, _SID_RE),
            ("action", action, _ACTION_RE),
            ("principal", principal, re.compile(r"[^\s]+")),
        ):
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise constraint(
                    f"Value '{value}' at '{field}' failed to satisfy constraint: Member must "
                    f"satisfy regular expression pattern: {pattern.pattern}"
                )
        assert isinstance(sid, str) and isinstance(principal, str)
        statement: Config = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": _principal(principal),
            "Action": action,
            "Resource": arn,
        }
        condition = _condition(params)
        if condition:
            statement["Condition"] = condition
        if not self.store.add_statement(name, qualifier or "", sid, statement):
            raise conflict(
                f"The statement id ({sid}) provided already exists. Please provide a new "
                "statement id, or remove the existing statement."
            )
        return {"Statement": json.dumps(statement)}

    def get(self, function: str, qualifier: str | None) -> Config:
        name, _ = self._resource(function, qualifier)
        statements = self.store.statements(name, qualifier or "")
        if not statements:
            raise not_found("The resource you requested does not exist.")
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        return {"Policy": json.dumps(policy), "RevisionId": str(uuid.uuid4())}

    def remove(self, function: str, qualifier: str | None, sid: str) -> None:
        name, _ = self._resource(function, qualifier)
        if not self.store.remove_statement(name, qualifier or "", sid):
            raise not_found(f"Statement {sid} is not found in resource policy.")


def _principal(principal: str) -> Any:
    if principal == "*":
        return "*"
    if _ACCOUNT_RE.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    return {"Service": principal}


def _condition(params: dict[str, Any]) -> Config:
    condition: Config = {}
    source_arn, account = params.get("SourceArn"), params.get("SourceAccount")
    org, token = params.get("PrincipalOrgID"), params.get("EventSourceToken")
    for value, field in ((source_arn, "SourceArn"), (account, "SourceAccount")):
        if value is not None and not isinstance(value, str):
            raise invalid(f"{field} must be a string")
    if account is not None:
        condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = account
    if org is not None:
        condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = org
    if token is not None:
        condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = token
    if params.get("FunctionUrlAuthType") is not None:
        auth = params["FunctionUrlAuthType"]
        condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = auth
    if source_arn is not None:
        condition["ArnLike"] = {"AWS:SourceArn": source_arn}
    return condition
