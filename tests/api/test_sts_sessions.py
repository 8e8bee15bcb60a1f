"""Temporary credentials as every service checks them (montemap.sts.sessions), in-process.

Requests are signed by botocore's own SigV4 signer, as boto3 signs them, and
checked by the authenticator the assembly gives every service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from montemap.api import sigv4
from montemap.api.credentials import AccessKey, CredentialStore, SigV4Authenticator
from montemap.errors import ApiError
from montemap.sts import identity
from montemap.sts.sessions import (
    Session,
    SessionAuthenticator,
    SessionKeys,
    SessionStore,
    with_sessions,
)

REGION = "us-east-1"
KEY = AccessKey("WORKERS", "long-term-secret-0123456789")
ROLE = identity.assumed_role("arn:aws:iam::123456789012:role/Worker", "job-1")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def signed(credentials: Credentials, *, service: str = "states") -> sigv4.IncomingRequest:
    """A ``POST /`` as botocore signs it for ``service``."""
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:8083/",
        data=b"{}",
        headers={"X-Amz-Target": "AWSStepFunctions.ListActivities"},
    )
    SigV4Auth(credentials, service, REGION).add_auth(request)
    headers = [("host", "127.0.0.1:8083"), *request.headers.items()]
    return sigv4.IncomingRequest("POST", "/", "", headers, b"{}")


def session_credentials(session: Session, *, token: str | None = None) -> Credentials:
    return Credentials(
        session.access_key_id,
        session.secret_access_key,
        session.session_token if token is None else token,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(clock: Clock) -> SessionStore:
    return SessionStore(clock)


@pytest.fixture
def authenticator(sessions: SessionStore, clock: Clock) -> SessionAuthenticator:
    base = SigV4Authenticator(CredentialStore([KEY]), region=REGION, clock=clock)
    wrapped = with_sessions(base, sessions)
    assert isinstance(wrapped, SessionAuthenticator)
    return wrapped


def test_issued_credentials_look_like_aws_temporary_ones(sessions: SessionStore) -> None:
    session = sessions.issue(ROLE, 900, "AssumeRole")
    assert session.access_key_id.startswith("ASIA") and len(session.access_key_id) == 20
    assert len(session.secret_access_key) == 40
    assert len(session.session_token) > 300
    assert session.expiration - sessions.clock().replace(microsecond=0) == timedelta(seconds=900)
    assert session.secret_access_key not in repr(session)
    assert session.session_token not in repr(session)


def test_session_credentials_are_accepted(
    authenticator: SessionAuthenticator, sessions: SessionStore
) -> None:
    session = sessions.issue(ROLE, 900, "AssumeRole")
    request = signed(session_credentials(session))
    assert authenticator.authenticate(request) == session.access_key_id
    scoped = authenticator.for_service("sts")
    assert isinstance(scoped, SessionAuthenticator)
    assert scoped.authenticate(signed(session_credentials(session), service="sts"))


def test_long_term_keys_still_work(authenticator: SessionAuthenticator) -> None:
    request = signed(Credentials(KEY.access_key_id, KEY.secret_access_key))
    assert authenticator.authenticate(request) == "WORKERS"


def test_a_wrong_or_missing_token_is_refused(
    authenticator: SessionAuthenticator, sessions: SessionStore
) -> None:
    session = sessions.issue(ROLE, 900, "AssumeRole")
    with pytest.raises(ApiError) as wrong:
        authenticator.authenticate(signed(session_credentials(session, token="forged")))
    assert wrong.value.code == sigv4.UNRECOGNIZED_CLIENT
    # The key and secret without the token are not a configured key.
    bare = Credentials(session.access_key_id, session.secret_access_key)
    with pytest.raises(ApiError) as missing:
        authenticator.authenticate(signed(bare))
    assert missing.value.code == sigv4.UNRECOGNIZED_CLIENT
    # A long-term key with some token is not a session either.
    keyed = Credentials(KEY.access_key_id, KEY.secret_access_key, session.session_token)
    with pytest.raises(ApiError):
        authenticator.authenticate(signed(keyed))


def test_the_session_secret_signs(
    authenticator: SessionAuthenticator, sessions: SessionStore
) -> None:
    session = sessions.issue(ROLE, 900, "AssumeRole")
    other = Credentials(session.access_key_id, "x" * 40, session.session_token)
    with pytest.raises(ApiError) as refused:
        authenticator.authenticate(signed(other))
    assert refused.value.code == sigv4.INVALID_SIGNATURE


def test_expired_sessions_are_refused(
    authenticator: SessionAuthenticator, sessions: SessionStore, clock: Clock
) -> None:
    now = clock.now
    clock.now = now - timedelta(seconds=901)  # issued 901 s ago, for 900 s
    session = sessions.issue(ROLE, 900, "AssumeRole")
    clock.now = now
    with pytest.raises(ApiError) as states:
        authenticator.authenticate(signed(session_credentials(session)))
    assert states.value.code == "ExpiredTokenException"
    query = signed(session_credentials(session), service="sts")
    with pytest.raises(ApiError) as sts:
        authenticator.for_service("sts").authenticate(query)
    assert sts.value.code == "ExpiredToken"
    assert sessions.live_secret(session.access_key_id, clock.now) is None


def test_presigned_urls_with_a_session_token(
    authenticator: SessionAuthenticator, sessions: SessionStore
) -> None:
    session = sessions.issue(ROLE, 900, "AssumeRole")
    s3 = authenticator.for_service("s3")

    def presigned(credentials: Credentials) -> sigv4.IncomingRequest:
        request = AWSRequest(method="GET", url="http://127.0.0.1:8083/bucket/key")
        S3SigV4QueryAuth(credentials, "s3", REGION, expires=60).add_auth(request)
        url = urlsplit(str(request.url))
        return sigv4.IncomingRequest("GET", url.path, url.query, [("host", url.netloc)], b"")

    assert s3.authenticate_presigned(presigned(session_credentials(session)))
    with pytest.raises(ApiError):
        s3.authenticate_presigned(presigned(session_credentials(session, token="forged")))
    bare = Credentials(session.access_key_id, session.secret_access_key)
    with pytest.raises(ApiError):
        s3.authenticate_presigned(presigned(bare))


def test_the_store_s3_reads_knows_live_sessions(
    authenticator: SessionAuthenticator, sessions: SessionStore, clock: Clock
) -> None:
    session = sessions.issue(ROLE, 900, "AssumeRole")
    store = authenticator.store
    assert isinstance(store, SessionKeys)
    assert store.secret_for("WORKERS") == KEY.secret_access_key
    assert store.secret_for(session.access_key_id) == session.secret_access_key
    assert store.access_key_ids == ["WORKERS"] and len(store) == 1
    clock.now += timedelta(hours=1)
    assert store.secret_for(session.access_key_id) is None


def test_servers_without_keys_keep_no_authenticator(sessions: SessionStore) -> None:
    assert with_sessions(None, sessions) is None


def test_expired_sessions_are_forgotten(sessions: SessionStore, clock: Clock) -> None:
    first = sessions.issue(ROLE, 900, "AssumeRole")
    clock.now += timedelta(seconds=900)
    sessions.issue(ROLE, 900, "AssumeRole")
    assert len(sessions) == 1
    assert sessions.get_any(first.access_key_id) is None
