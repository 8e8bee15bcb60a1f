"""STS's operations: GetCallerIdentity, AssumeRole, GetSessionToken, GetAccessKeyInfo.

Refusals are those of the STS API reference: ``ValidationError`` (400) for a
parameter outside its constraints, worded as AWS words them,
``MalformedPolicyDocument`` for a session policy that is not JSON, and
``AccessDenied`` (403) for GetSessionToken called with temporary credentials.
Nothing is authorised here: a role's trust policy, session policies, tags and
MFA codes are accepted and not evaluated (montemap's one trust boundary is
the server's access keys, docs/security.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from montemap.errors import ApiError
from montemap.sts import identity
from montemap.sts.identity import Identity
from montemap.sts.sessions import Session, SessionStore

#: AssumeRole's DurationSeconds: default and bounds (a role's maximum session is 12 h).
ASSUME_ROLE_SECONDS = (3600, 900, 43200)
#: The most a chained role session (assumed with a role's credentials) may last.
CHAINED_MAX_SECONDS = 3600
#: GetSessionToken's DurationSeconds: default and bounds (36 h at most; root: 1 h).
SESSION_TOKEN_SECONDS = (43200, 900, 129600)
ROOT_MAX_SECONDS = 3600
_SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9_+=,.@-]*$")
_EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_+=,.@:/-]*$")
_ACCESS_KEY_ID_RE = re.compile(r"^\w*$")
_NAMES = "GetCallerIdentity, AssumeRole, GetSessionToken, GetAccessKeyInfo"


def validation(message: str) -> ApiError:
    return ApiError("ValidationError", message, status=400)


def _constraint(value: object, member: str, constraint: str) -> ApiError:
    return validation(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must {constraint}"
    )


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        member = name[:1].lower() + name[1:]
        raise validation(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return str(value)


def _text(
    params: dict[str, Any], name: str, low: int, high: int, pattern: re.Pattern[str] | None
) -> str | None:
    """An optional string parameter, checked against its length and pattern."""
    value = params.get(name)
    if value is None:
        return None
    text = str(value)
    member = name[:1].lower() + name[1:]
    if len(text) < low:
        raise _constraint(text, member, f"have length greater than or equal to {low}")
    if len(text) > high:
        raise _constraint(text, member, f"have length less than or equal to {high}")
    if pattern is not None and not pattern.match(text):
        shown = pattern.pattern.strip("^$").replace("A-Za-z0-9_", "\\w")
        raise _constraint(text, member, f"satisfy regular expression pattern: {shown}")
    return text


def _duration(params: dict[str, Any], bounds: tuple[int, int, int]) -> int:
    default, low, high = bounds
    value = params.get("DurationSeconds")
    if value is None:
        return default
    seconds = int(value)
    if seconds < low:
        raise _constraint(seconds, "durationSeconds", f"have value greater than or equal to {low}")
    if seconds > high:
        raise _constraint(seconds, "durationSeconds", f"have value less than or equal to {high}")
    return seconds


@dataclass(frozen=True)
class Caller:
    """Who sent a request: their identity, and the session when they used temporary credentials."""

    identity: Identity
    session: Session | None = None


class Sts:
    """The STS operations of one server (its account, its sessions)."""

    def __init__(self, sessions: SessionStore, account: str, *, keys_configured: bool) -> None:
        self.sessions = sessions
        self.account = account
        self.keys_configured = keys_configured

    def caller(self, access_key_id: str | None, token: str | None) -> Caller:
        """The caller that signed with ``access_key_id`` (and ``token``, for a session).

        The server's authenticator has checked them when it has keys; without keys
        a request naming a session (its key id and token) is still that session's.
        """
        if access_key_id:
            session = self.sessions.get(access_key_id, token)
            if session is not None:
                return Caller(session.identity, session)
            if self.keys_configured:
                return Caller(identity.user(self.account, access_key_id))
        return Caller(identity.root(self.account))

    def call(self, action: str, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """One action's result; raises :class:`ApiError` as STS refuses."""
        if action == "GetCallerIdentity":
            return caller.identity.as_result()
        if action == "AssumeRole":
            return self.assume_role(params, caller)
        if action == "GetSessionToken":
            return self.get_session_token(params, caller)
        if action == "GetAccessKeyInfo":
            return self.get_access_key_info(params)
        raise ApiError(
            "InvalidAction",
            f"The action {action} is not valid for this web service (montemap answers {_NAMES})",
            status=400,
        )

    def assume_role(self, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
        role_arn = _required(params, "RoleArn")
        session_name = _required(params, "RoleSessionName")
        _text(params, "RoleArn", 20, 2048, None)
        if not identity.ROLE_ARN_RE.match(role_arn):
            raise validation(
                f"{role_arn} is invalid: RoleArn must be a role's ARN "
                "(arn:aws:iam::ACCOUNT:role/NAME)"
            )
        _text(params, "RoleSessionName", 2, 64, _SESSION_NAME_RE)
        _text(params, "ExternalId", 2, 1224, _EXTERNAL_ID_RE)
        source_identity = _text(params, "SourceIdentity", 2, 64, _SESSION_NAME_RE)
        _policy(params)
        seconds = _duration(params, ASSUME_ROLE_SECONDS)
        if caller.identity.kind == "assumed-role" and seconds > CHAINED_MAX_SECONDS:
            raise validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                "assumed by role chaining."
            )
        role = identity.assumed_role(role_arn, session_name)
        session = self.sessions.issue(role, seconds, "AssumeRole")
        result: dict[str, Any] = {
            "Credentials": session.as_credentials(),
            "AssumedRoleUser": {"AssumedRoleId": role.user_id, "Arn": role.arn},
        }
        if source_identity is not None:
            result["SourceIdentity"] = source_identity
        return result

    def get_session_token(self, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
        if caller.session is not None:
            raise ApiError(
                "AccessDenied", "Cannot call GetSessionToken with session credentials", status=403
            )
        _text(params, "SerialNumber", 9, 256, None)
        _text(params, "TokenCode", 6, 6, re.compile(r"^[\d]*$"))
        seconds = _duration(params, SESSION_TOKEN_SECONDS)
        if caller.identity.kind == "root":
            # AWS: account owners' sessions last an hour at most (longer asks get an hour).
            seconds = min(seconds, ROOT_MAX_SECONDS)
        session = self.sessions.issue(caller.identity, seconds, "GetSessionToken")
        return {"Credentials": session.as_credentials()}

    def get_access_key_info(self, params: dict[str, Any]) -> dict[str, Any]:
        key_id = _required(params, "AccessKeyId")
        _text(params, "AccessKeyId", 16, 128, _ACCESS_KEY_ID_RE)
        session = self.sessions.get_any(key_id)
        return {"Account": session.identity.account if session else self.account}


def _policy(params: dict[str, Any]) -> None:
    """A session policy must be a JSON document (it is not evaluated)."""
    policy = params.get("Policy")
    if policy is None:
        return
    if len(str(policy)) > 2048:
        raise _constraint("...", "policy", "have length less than or equal to 2048")
    try:
        document = json.loads(str(policy))
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ApiError(
            "MalformedPolicyDocument", "The policy is not in the valid JSON format.", status=400
        )
