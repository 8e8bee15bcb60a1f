"""Who may call the S3 endpoint: SigV4 as S3 uses it (header or presigned URL).

On a server with access keys every S3 request must be signed by one of them,
in the ``Authorization`` header (the payload named by ``x-amz-content-sha256``:
a hash, ``UNSIGNED-PAYLOAD`` or a ``STREAMING-*`` value) or in the query
string (a presigned URL). A ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body is
checked chunk by chunk against the chain of chunk signatures that starts with
the request's own signature; with ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``
the trailer's ``x-amz-trailer-signature`` continues the chain (string to sign
``AWS4-HMAC-SHA256-TRAILER``, time, scope, the last chunk's signature, and the
SHA-256 of the trailer's ``name:value`` lines). On a server without keys no
signature is checked, but a presigned URL past its expiry is still refused
(:func:`refuse_expired`), as S3 refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from montemap.api import sigv4
from montemap.api.credentials import SigV4Authenticator
from montemap.errors import ApiError
from montemap.s3api.body import ChunkCheck
from montemap.s3api.errors import S3Error, from_auth_error
from montemap.s3api.request import S3Request

SERVICES = ("s3",)
#: The longest validity of a presigned URL, seven days (S3's limit for SigV4 URLs).
MAX_PRESIGN_EXPIRY = sigv4.MAX_PRESIGN_EXPIRY
SIGNED_STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Query parameters that signature version 2 signs as part of the resource.
_V2_SUBRESOURCES = frozenset(
    {"acl", "delete", "location", "partNumber", "tagging", "uploadId", "uploads", "versionId"}
    | {"response-content-type", "response-content-disposition", "response-cache-control"}
    | {"response-content-encoding", "response-content-language", "response-expires"}
)


def refuse_expired(request: S3Request, now: datetime) -> None:
    """Refuse a presigned URL (SigV4 or version 2) whose validity has run out.

    A server without keys checks no signature, yet a URL made to stop working must
    stop working here too: S3 answers ``AccessDenied`` (403), "Request has expired".
    Parameters that do not parse are left to a server with keys to judge.
    """
    query = request.query
    if "X-Amz-Credential" in query:
        expires = query.get("X-Amz-Expires", "")
        try:
            signed = datetime.strptime(query.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ")
        except ValueError:
            return
        if not expires.isdigit():
            return
        if int(expires) > MAX_PRESIGN_EXPIRY:
            raise _too_long(expires)
        ends = signed.replace(tzinfo=UTC) + timedelta(seconds=int(expires))
    elif "Signature" in query and "AWSAccessKeyId" in query:
        expires = query.get("Expires", "")
        if not expires.isdigit():
            return
        ends = datetime.fromtimestamp(int(expires), UTC)
    else:
        return
    if now > ends:
        raise S3Error("AccessDenied", "Request has expired")


def _too_long(expires: str) -> S3Error:
    """S3 refuses a presigned URL valid for more than seven days, keys or not."""
    return S3Error(
        "AuthorizationQueryParametersError",
        f"X-Amz-Expires must be at most a week in seconds ({MAX_PRESIGN_EXPIRY}), not {expires}",
    )


class S3Auth:
    """Checks S3 requests against the server's access keys."""

    def __init__(
        self,
        secret_for: Callable[[str], str | None],
        *,
        region: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.secret_for = secret_for
        self.region = region
        self.clock = clock or (lambda: datetime.now(UTC))
        #: The server's one SigV4 verifier, scoped to ``s3`` (None: no key is accepted).
        self.verifier: SigV4Authenticator | None = None

    @classmethod
    def from_authenticator(cls, authenticator: object, region: str) -> S3Auth | None:
        """The S3 check matching the server's authenticator (``None``: no keys, no checks).

        An authenticator of another kind has no keys S3 can use: every S3 request
        is then refused rather than let through.
        """
        if authenticator is None:
            return None
        if isinstance(authenticator, SigV4Authenticator):
            auth = cls(authenticator.store.secret_for, region=region, clock=authenticator.clock)
            auth.verifier = authenticator.for_service(*SERVICES)
            return auth
        return cls(lambda _: None, region=region)

    def _verifier(self) -> SigV4Authenticator:
        if self.verifier is None:
            raise S3Error(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        return self.verifier

    def check(self, request: S3Request) -> ChunkCheck | None:
        """Accept the request or raise :class:`S3Error`; a chunk check for a signed stream."""
        headers = request.headers
        # No header repeated (the usual case): the decoded headers are the list as sent.
        listed = list(headers.items()) if len(headers) == len(request.raw_headers) else None
        incoming = sigv4.IncomingRequest(
            request.method, request.path, request.raw_query, listed or request.header_list, b""
        )
        try:
            if "authorization" in request.headers:
                return self._check_header(request, incoming)
            if "X-Amz-Credential" in request.query:
                expires = request.query.get("X-Amz-Expires", "")
                if expires.isdigit() and int(expires) > MAX_PRESIGN_EXPIRY:
                    raise _too_long(expires)
                self._verifier().authenticate_presigned(incoming)
                return None
            if "Signature" in request.query and "AWSAccessKeyId" in request.query:
                self._check_presigned_v2(request)
                return None
        except ApiError as exc:
            raise from_auth_error(exc)
        raise S3Error(
            "AccessDenied",
            "Access Denied: this server requires requests signed (SigV4) by an access key "
            "configured on it",
        )

    def _check_presigned_v2(self, request: S3Request) -> None:
        """A presigned URL of signature version 2 (what boto3 makes by default in us-east-1)."""
        query = request.query
        expires = query.get("Expires", "")
        if not expires.isdigit():
            raise S3Error("AccessDenied", "Query-string authentication requires an Expires time")
        if int(expires) < self.clock().timestamp():
            raise S3Error("AccessDenied", "Request has expired")
        secret = self.secret_for(query["AWSAccessKeyId"])
        if secret is None:
            raise S3Error(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        subresources = sorted(
            (name, value) for name, value in query.items() if name in _V2_SUBRESOURCES
        )
        resource = request.path
        if subresources:
            resource += "?" + "&".join(f"{n}={v}" if v else n for n, v in subresources)
        amz = sorted(
            (name, value.strip())
            for name, value in request.headers.items()
            if name.startswith("x-amz-")
        )
        to_sign = "\n".join(
            [
                request.method,
                request.header("content-md5"),
                request.header("content-type"),
                expires,
                *(f"{name}:{value}" for name, value in amz),
                resource,
            ]
        )
        digest = hmac.new(secret.encode(), to_sign.encode("utf-8"), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest), query["Signature"].encode()):
            raise S3Error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )

    def _check_header(
        self, request: S3Request, incoming: sigv4.IncomingRequest
    ) -> ChunkCheck | None:
        content_sha = request.header("x-amz-content-sha256")
        if not content_sha:
            raise S3Error(
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
            )
        self._verifier().authenticate(incoming, payload=content_sha, s3=True)
        if not content_sha.startswith(SIGNED_STREAMING):
            return None
        auth = sigv4.parse_authorization(request.headers["authorization"])
        secret = self.secret_for(auth.access_key_id)
        assert secret is not None  # verify() accepted the key
        return _ChunkChain(
            sigv4.signing_key(secret, auth.date, auth.region, auth.service),
            request.header("x-amz-date"),
            auth.scope,
            auth.signature,
        )


class _ChunkChain:
    """Checks each chunk's signature, chained from the seed (the request's signature)."""

    def __init__(self, key: bytes, amz_date: str, scope: str, seed: str) -> None:
        self.key = key
        self.amz_date = amz_date
        self.scope = scope
        self.previous = seed

    def chunk(self, signature: str, chunk_hash: str) -> None:
        self._check("AWS4-HMAC-SHA256-PAYLOAD", [_EMPTY_SHA256, chunk_hash], signature, "chunk")

    def trailer(self, canonical: str, signature: str) -> None:
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        self._check("AWS4-HMAC-SHA256-TRAILER", [digest], signature, "trailer")

    def _check(self, algorithm: str, hashes: list[str], signature: str, what: str) -> None:
        to_sign = "\n".join([algorithm, self.amz_date, self.scope, self.previous, *hashes])
        expected = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise S3Error(
                "SignatureDoesNotMatch",
                f"The {what} signature we calculated does not match the one you provided.",
            )
        self.previous = signature
