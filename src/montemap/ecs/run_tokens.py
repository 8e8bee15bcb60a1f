"""RunTask's client tokens: the same request twice starts its tasks once.

ECS makes ``RunTask`` idempotent with ``clientToken`` (up to 64 ASCII characters
33-126; the SDKs and the AWS CLI send a fresh one with every call): a request
repeated with a token already used in the same cluster, and the same parameters,
answers the original request's result and starts nothing; the same token with other
parameters is a ``ConflictException``. A token is remembered for 24 hours.

:class:`RunTokens` keeps each token's request digest and the original response in
the server's database, so a repeat after a restart (a client retrying a call whose
answer it never saw, a state machine's ``ecs:runTask`` state run again) finds it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from montemap.ecs.taskdefs import invalid_parameter
from montemap.engine.db import Database
from montemap.errors import ApiError

__all__ = ["TOKEN_TTL_S", "RunTokens", "check_token", "request_digest"]

#: How long a token is remembered (ECS: 24 hours).
TOKEN_TTL_S = 24 * 3600.0
_MAX_LENGTH = 64
_DATETIME = "$montemap.datetime"

SCHEMA = """
CREATE TABLE IF NOT EXISTS ecs_run_tokens (
    cluster TEXT NOT NULL,
    token TEXT NOT NULL,
    digest TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (cluster, token)
);
CREATE INDEX IF NOT EXISTS ecs_run_tokens_by_age ON ecs_run_tokens (created_at);
"""


def check_token(token: Any) -> str:
    """``token`` if it is a valid client token, else ``InvalidParameterException``."""
    if (
        not isinstance(token, str)
        or not 1 <= len(token) <= _MAX_LENGTH
        or any(not 33 <= ord(c) <= 126 for c in token)
    ):
        raise invalid_parameter(
            f"clientToken must be 1 to {_MAX_LENGTH} ASCII characters in the range 33-126,"
            f" got {json.dumps(token)[:80]}."
        )
    return token


def _encode(value: Any) -> Any:
    """JSON for the datetimes of a response (kept as epoch seconds)."""
    if isinstance(value, datetime):
        return {_DATETIME: value.timestamp()}
    raise TypeError(f"cannot keep a {type(value).__name__} in a RunTask response")


def _decode(value: dict[str, Any]) -> Any:
    if len(value) == 1 and _DATETIME in value:
        return datetime.fromtimestamp(value[_DATETIME], UTC)
    return value


def request_digest(params: dict[str, Any]) -> str:
    """A digest of a RunTask request's parameters, its ``clientToken`` left out."""
    rest = {k: v for k, v in params.items() if k != "clientToken"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class RunTokens:
    """Client tokens of RunTask requests, per cluster, for :data:`TOKEN_TTL_S`."""

    def __init__(self, db: Database, *, now: Callable[[], float] = time.time) -> None:
        self.db = db
        self.now = now
        db.migrate(SCHEMA)

    def replay(self, cluster: str, token: str, digest: str) -> dict[str, Any] | None:
        """The original response for ``token`` in ``cluster`` (None: the token is new);
        ``ConflictException`` when it was used with other parameters."""
        row = self.db.query_one(
            "SELECT digest, response FROM ecs_run_tokens"
            " WHERE cluster = ? AND token = ? AND created_at > ?",
            (cluster, token, self.now() - TOKEN_TTL_S),
        )
        if row is None:
            return None
        if row["digest"] != digest:
            raise ApiError(
                "ConflictException",
                f"The clientToken '{token}' was already used in cluster '{cluster}' with"
                " different parameters: use a new clientToken for a different request.",
            )
        response: dict[str, Any] = json.loads(row["response"], object_hook=_decode)
        return response

    def original(self, cluster: str, token: str) -> dict[str, Any] | None:
        """The response first given for ``token`` in ``cluster``, whatever its parameters
        (None: the token is new or expired)."""
        row = self.db.query_one(
            "SELECT response FROM ecs_run_tokens WHERE cluster = ? AND token = ? AND created_at > ?",
            (cluster, token, self.now() - TOKEN_TTL_S),
        )
        if row is None:
            return None
        response: dict[str, Any] = json.loads(row["response"], object_hook=_decode)
        return response

    def remember(self, cluster: str, token: str, digest: str, response: dict[str, Any]) -> None:
        """Keep ``response`` as the answer to ``token`` (and forget expired tokens)."""
        now = self.now()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ecs_run_tokens WHERE created_at <= ?", (now - TOKEN_TTL_S,))
            conn.execute(
                "INSERT OR REPLACE INTO ecs_run_tokens"
                " (cluster, token, digest, response, created_at) VALUES (?, ?, ?, ?, ?)",
                (
                    cluster,
                    token,
                    digest,
                    json.dumps(response, separators=(",", ":"), default=_encode),
                    now,
                ),
            )
