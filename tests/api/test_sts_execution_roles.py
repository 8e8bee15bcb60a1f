"""Execution-role sessions: one per role and function, reused while they outlast a call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from montemap.sts import sessions as sessions_module
from montemap.sts.roles import MARGIN_SECONDS, RoleSessions
from montemap.sts.sessions import SessionStore

ROLE = "arn:aws:iam::123456789012:role/service-role/Runner"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_session_is_reused_until_it_would_expire_during_a_call() -> None:
    clock = Clock()
    store = SessionStore(clock)
    roles = RoleSessions(store, seconds=600)
    first = roles(ROLE, "fn", 30)
    assert first is not None
    assert first.identity.arn == "arn:aws:sts::123456789012:assumed-role/Runner/fn"
    assert first.issued_by == "Lambda"
    assert store.get(first.access_key_id, first.session_token) is first  # services accept it
    clock.now += timedelta(seconds=600 - 30 - MARGIN_SECONDS - 1)
    assert roles(ROLE, "fn", 30) is first
    clock.now += timedelta(seconds=1)
    renewed = roles(ROLE, "fn", 30)
    assert renewed is not None and renewed is not first
    assert renewed.expiration == clock.now + timedelta(seconds=600)


def test_sessions_are_per_role_and_function() -> None:
    roles = RoleSessions(SessionStore())
    one, two = roles(ROLE, "one", 3), roles(ROLE, "two", 3)
    other = roles("arn:aws:iam::123456789012:role/Other", "one", 3)
    assert one is not None and two is not None and other is not None
    assert len({one.access_key_id, two.access_key_id, other.access_key_id}) == 3
    assert roles.held == 3


def test_a_session_outlasts_a_timeout_longer_than_its_duration() -> None:
    clock = Clock()
    roles = RoleSessions(SessionStore(clock), seconds=60)
    session = roles(ROLE, "slow", 900)
    assert session is not None
    assert session.expiration >= clock.now + timedelta(seconds=900 + MARGIN_SECONDS)
    assert roles(ROLE, "slow", 900) is session


def test_a_session_the_store_dropped_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 2)
    store = SessionStore()
    roles = RoleSessions(store)
    first = roles(ROLE, "fn", 3)
    assert first is not None
    store.issue(first.identity, 7200, "AssumeRole")
    store.issue(first.identity, 7200, "AssumeRole")  # full: the one closest to expiry goes
    assert store.get_any(first.access_key_id) is None
    again = roles(ROLE, "fn", 3)
    assert again is not None and again is not first
    assert store.get_any(again.access_key_id) is again


def test_no_session_for_what_is_not_a_role_arn() -> None:
    roles = RoleSessions(SessionStore())
    assert roles("arn:aws:iam::123456789012:user/someone", "fn", 3) is None
    assert roles(f"arn:aws:iam::123456789012:role/{'r' * 65}", "fn", 3) is None
    assert roles.held == 0
