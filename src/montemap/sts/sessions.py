"""Temporary credentials: issued by STS, remembered, and accepted by every service.

:class:`SessionStore` keeps what AssumeRole and GetSessionToken issued (in
memory: a restart forgets them, as it forgets nothing else a client needs,
since clients ask again). :class:`SessionAuthenticator` is the server's SigV4
authenticator extended to them: a request with ``X-Amz-Security-Token`` is
checked against the session its access key id names (the token must match,
the session must not have expired) and its signature with the session's
secret; every other request is checked as before, against the configured
long-term keys only. The assembly swaps it in for the server's
:class:`~montemap.api.credentials.SigV4Authenticator`, so every service on
the endpoint (Step Functions, ECS, S3, Lambda, CloudFormation, IAM, STS)
accepts the same temporary credentials.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import string
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from montemap.api import sigv4
from montemap.api.app import Authenticator
from montemap.api.credentials import CredentialStore, SigV4Authenticator
from montemap.errors import ApiError
from montemap.sts.identity import Identity

#: Live sessions kept at most; past it the one closest to expiry is dropped.
MAX_SESSIONS = 10000
_KEY_ALPHABET = string.ascii_uppercase + "234567"
#: The services that answer in JSON (``...Exception`` error codes).
_JSON_SERVICES = frozenset({"states", "ecs"})


@dataclass(frozen=True)
class Session:
    """One set of temporary credentials; its ``repr`` hides the secret and the token."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    identity: Identity
    #: ``AssumeRole`` or ``GetSessionToken``: what issued it.
    issued_by: str

    def as_credentials(self) -> dict[str, object]:
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration,
        }


def expired_token(services: Collection[str] | None) -> ApiError:
    """AWS's refusal of an expired session token (the JSON services' code or the others')."""
    json_only = services is None or set(services) <= _JSON_SERVICES
    return ApiError(
        "ExpiredTokenException" if json_only else "ExpiredToken",
        "The security token included in the request is expired",
    )


class SessionStore:
    """Issued temporary credentials by access key id (``ASIA...``)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self._sessions: dict[str, Session] = {}

    def issue(self, identity: Identity, seconds: int, issued_by: str) -> Session:
        """New credentials for ``identity``, valid ``seconds`` from now (whole seconds)."""
        now = self.clock().replace(microsecond=0)
        self._prune(now)
        session = Session(
            access_key_id="ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
            secret_access_key=base64.b64encode(secrets.token_bytes(30)).decode("ascii"),
            session_token=base64.b64encode(secrets.token_bytes(240)).decode("ascii"),
            expiration=now + timedelta(seconds=seconds),
            identity=identity,
            issued_by=issued_by,
        )
        self._sessions[session.access_key_id] = session
        return session

    def _prune(self, now: datetime) -> None:
        for key_id in [k for k, s in self._sessions.items() if s.expiration <= now]:
            del self._sessions[key_id]
        while len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.expiration)
            del self._sessions[oldest.access_key_id]

    def get(self, access_key_id: str, token: str | None) -> Session | None:
        """The session ``access_key_id`` names if ``token`` is its token (expired or not)."""
        session = self._sessions.get(access_key_id)
        if session is None or token is None:
            return None
        if not hmac.compare_digest(session.session_token.encode(), token.encode()):
            return None
        return session

    def get_any(self, access_key_id: str) -> Session | None:
        """The session ``access_key_id`` names, whatever token comes with it."""
        return self._sessions.get(access_key_id)

    def live_secret(self, access_key_id: str, now: datetime) -> str | None:
        """The secret of a session that has not expired (S3's chunk and V2 checks)."""
        session = self._sessions.get(access_key_id)
        if session is None or session.expiration <= now:
            return None
        return session.secret_access_key

    def __len__(self) -> int:
        return len(self._sessions)


class SessionKeys(CredentialStore):
    """The configured keys, and the secrets of live sessions.

    What S3 reads through ``authenticator.store`` to check the chunks of a
    signed stream after the request's own signature (and its token) passed.
    """

    def __init__(
        self, keys: CredentialStore, sessions: SessionStore, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(())
        self.keys = keys
        self.sessions = sessions
        self.clock = clock

    def secret_for(self, access_key_id: str) -> str | None:
        return self.keys.secret_for(access_key_id) or self.sessions.live_secret(
            access_key_id, self.clock()
        )

    @property
    def access_key_ids(self) -> list[str]:
        return self.keys.access_key_ids

    def __len__(self) -> int:
        return len(self.keys)


class SessionAuthenticator(SigV4Authenticator):
    """The server's SigV4 authenticator, accepting the temporary credentials STS issued."""

    def __init__(
        self,
        keys: CredentialStore,
        sessions: SessionStore,
        *,
        region: str,
        clock: Callable[[], datetime] | None = None,
        services: Collection[str] | None = None,
    ) -> None:
        clock = clock or (lambda: datetime.now(UTC))
        super().__init__(
            SessionKeys(keys, sessions, clock), region=region, clock=clock, services=services
        )
        self.keys = keys
        self.sessions = sessions

    def for_service(self, *services: str) -> SessionAuthenticator:
        return SessionAuthenticator(
            self.keys, self.sessions, region=self.region, clock=self.clock, services=services
        )

    def authenticate(
        self, request: sigv4.IncomingRequest, *, payload: str | None = None, s3: bool = False
    ) -> str:
        header = request.header("authorization")
        tokens = request.header_values("x-amz-security-token")
        if header is None or not tokens:
            # No token: long-term keys only (a session's key is nothing without its token).
            return sigv4.verify(
                request,
                secret_for=self.keys.secret_for,
                region=self.region,
                services=self.scopes(request),
                now=self.clock(),
                payload=payload,
                s3=s3,
            )
        if len(tokens) > 1:
            raise sigv4.incomplete("Header 'X-Amz-Security-Token' must appear once.")
        return self._verify_session(request, header, tokens[0], payload, s3)

    def _session(self, access_key_id: str, token: str) -> Session:
        session = self.sessions.get(access_key_id, token)
        if session is None:
            raise sigv4.unrecognized(
                "The security token included in the request is invalid: it is not one this "
                f"server issued for access key id '{access_key_id}'."
            )
        if session.expiration <= self.clock():
            raise expired_token(self.services)
        return session

    def _verify_session(
        self,
        request: sigv4.IncomingRequest,
        header: str,
        token: str,
        payload: str | None,
        s3: bool,
    ) -> str:
        """SigV4 with a session's secret: the same checks as for long-term keys."""
        auth = sigv4.parse_authorization(header)
        if "host" not in auth.signed_headers:
            raise sigv4.incomplete(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )
        for name in ("x-amz-target", "x-amz-content-sha256", "x-amz-security-token"):
            if request.header_values(name) and name not in auth.signed_headers:
                raise sigv4.incomplete(
                    f"Header '{name}' is present but not listed in SignedHeaders."
                )
        when = sigv4.request_time(request, auth.signed_headers)
        session = self._session(auth.access_key_id, token)
        now = self.clock()
        sigv4.check_scope(auth, when, region=self.region, services=self.scopes(request))
        sigv4.check_clock_skew(when, now)
        content_hash = payload if payload is not None else sigv4.payload_hash(request)
        canonical = sigv4.canonical_request(request, auth.signed_headers, content_hash, s3=s3)
        to_sign = sigv4.string_to_sign(when.strftime("%Y%m%dT%H%M%SZ"), auth.scope, canonical)
        key = sigv4.signing_key(session.secret_access_key, auth.date, auth.region, auth.service)
        if not hmac.compare_digest(sigv4.sign(key, to_sign).encode(), auth.signature.encode()):
            raise sigv4.invalid(
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method."
            )
        return auth.access_key_id

    def authenticate_presigned(self, request: sigv4.IncomingRequest) -> str:
        """A presigned URL: by a configured key, or by a session with ``X-Amz-Security-Token``."""
        tokens = parse_qs(request.query).get("X-Amz-Security-Token", [])
        now = self.clock()

        def secret_for(access_key_id: str) -> str | None:
            if not tokens:
                return self.keys.secret_for(access_key_id)
            session = self.sessions.get(access_key_id, tokens[0])
            if session is None:
                return None
            if session.expiration <= now:
                raise expired_token(self.services)
            return session.secret_access_key

        return sigv4.verify_presigned(
            request,
            secret_for=secret_for,
            region=self.region,
            services=self.scopes(request),
            now=now,
        )

    def __repr__(self) -> str:
        return "Session" + super().__repr__()


def with_sessions(
    authenticator: Authenticator | None, sessions: SessionStore
) -> Authenticator | None:
    """``authenticator`` extended to ``sessions`` when it is the SigV4 one; else unchanged.

    ``None`` (a server without keys, where every request is accepted anyway) and
    authenticators of another kind stay as they are.
    """
    if isinstance(authenticator, SigV4Authenticator) and not isinstance(
        authenticator, SessionAuthenticator
    ):
        return SessionAuthenticator(
            authenticator.store,
            sessions,
            region=authenticator.region,
            clock=authenticator.clock,
            services=authenticator.services,
        )
    return authenticator
