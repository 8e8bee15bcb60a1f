"""Execution-role sessions: the temporary credentials a Lambda function runs with.

On Lambda a function's code gets credentials of a session of its execution
role named after the function (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION``),
renewed before they expire. :class:`RoleSessions` issues them from the
server's :class:`~montemap.sts.sessions.SessionStore`, so every service
accepts them as it accepts AssumeRole's, and hands the same session to each
invocation while it outlasts the call by a margin.
"""

from __future__ import annotations

from datetime import timedelta

from montemap.sts import identity
from montemap.sts.sessions import Session, SessionStore

#: How long an execution-role session is valid (seconds).
SESSION_SECONDS = 3600
#: A session is handed to a call only if it outlives the call's timeout by this much.
MARGIN_SECONDS = 60
#: What issued them, as ``Session.issued_by`` records it.
ISSUED_BY = "Lambda"


class RoleSessions:
    """Sessions of execution roles, one per (role, function), reused while they last."""

    def __init__(self, sessions: SessionStore, seconds: int = SESSION_SECONDS) -> None:
        self.sessions = sessions
        self.seconds = seconds
        self._current: dict[tuple[str, str], Session] = {}

    def __call__(self, role_arn: str, function_name: str, timeout: int) -> Session | None:
        """A live session of ``role_arn`` named ``function_name`` lasting past ``timeout`` s.

        ``None`` when ``role_arn`` is not a role ARN STS can name a session of.
        """
        key = (role_arn, function_name)
        session = self._current.get(key)
        needed = self.sessions.clock() + timedelta(seconds=timeout + MARGIN_SECONDS)
        if (
            session is not None
            and session.expiration > needed
            and self.sessions.get_any(session.access_key_id) is session  # not dropped
        ):
            return session
        try:
            who = identity.assumed_role(role_arn, function_name)
        except ValueError:
            return None
        seconds = max(self.seconds, timeout + 2 * MARGIN_SECONDS)
        session = self.sessions.issue(who, seconds, ISSUED_BY)
        self._current = {  # forget the sessions the store no longer holds
            k: s for k, s in self._current.items() if self.sessions.get_any(s.access_key_id) is s
        }
        self._current[key] = session
        return session

    @property
    def held(self) -> int:
        """How many (role, function) sessions are remembered (not a ``__len__``: an
        instance with none held must still be a true provider)."""
        return len(self._current)
