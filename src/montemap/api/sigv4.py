"""Verifying AWS Signature Version 4 (``Authorization: AWS4-HMAC-SHA256 ...``).

The server rebuilds what the client signed, following AWS's signing process:

1. the *canonical request*: method, canonical URI (the path as sent, dot
   segments and empty segments removed, each segment URI-encoded once more),
   canonical query string (parameters decoded, re-encoded, sorted), the signed
   headers as ``name:value`` lines (values trimmed, runs of spaces collapsed,
   repeated headers joined with commas), the ``SignedHeaders`` list and the
   hex SHA-256 of the body;
2. the *string to sign*: algorithm, request time, credential scope
   (``date/region/service/aws4_request``) and the hash of the canonical request;
3. the *signing key*: HMAC-SHA256 chained over ``"AWS4" + secret``, date,
   region, service and ``aws4_request``;

then compares the signature in constant time. Checks made on the way: the
credential scope (date equal to the request's date, this server's region, an
accepted service, the ``aws4_request`` terminator), the clock skew (15
minutes either way, as AWS), ``host``, the date header and
``x-amz-target`` signed, and ``x-amz-content-sha256``, when sent, equal to the
body's hash. :func:`verify` rejects requests carrying ``X-Amz-Security-Token``
(it knows long-term keys only); the server's authenticator first accepts the
temporary credentials its STS issued (:mod:`montemap.sts.sessions`).

Refusals are :class:`~montemap.errors.ApiError` with the codes AWS's JSON
services return (HTTP 400): ``MissingAuthenticationTokenException``,
``IncompleteSignatureException``, ``UnrecognizedClientException`` and
``InvalidSignatureException``. This module never logs and never puts a
secret into a message.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from montemap.errors import ApiError

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
#: How far the request time may be from the server's clock (AWS: 15 minutes).
MAX_CLOCK_SKEW = timedelta(minutes=15)

MISSING_TOKEN = "MissingAuthenticationTokenException"
INCOMPLETE_SIGNATURE = "IncompleteSignatureException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"

_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_RE = re.compile(r"^\d{8}T\d{6}Z$")
_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
_SHA256_HEX_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_SPACES_RE = re.compile(r"\s+")
_PARAM_SEPARATOR_RE = re.compile(r"[,\s]+")
#: RFC 3986 unreserved characters: the only ones SigV4 leaves unencoded.
_UNRESERVED = "-_.~"
_REQUIRED_PARAMETERS = ("Credential", "SignedHeaders", "Signature")


def missing_token(message: str = "Request is missing Authentication Token") -> ApiError:
    return ApiError(MISSING_TOKEN, message)


def incomplete(message: str) -> ApiError:
    return ApiError(INCOMPLETE_SIGNATURE, message)


def unrecognized(
    message: str = "The security token included in the request is invalid.",
) -> ApiError:
    return ApiError(UNRECOGNIZED_CLIENT, message)


def invalid(message: str) -> ApiError:
    return ApiError(INVALID_SIGNATURE, message)


@dataclass(frozen=True)
class IncomingRequest:
    """A request as it arrived: what SigV4 covers.

    ``path`` and ``query`` are exactly as sent on the wire (still
    percent-encoded); ``headers`` keeps every occurrence, in order.
    """

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes

    @functools.cached_property
    def _by_name(self) -> dict[str, list[str]]:
        """Lowercase header name -> its values in arrival order (built once per request)."""
        index: dict[str, list[str]] = {}
        for key, value in self.headers:
            index.setdefault(key.lower(), []).append(value)
        return index

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in arrival order."""
        return list(self._by_name.get(name.lower(), ()))

    def header(self, name: str) -> str | None:
        """The value of a header that must appear at most once."""
        values = self.header_values(name)
        if len(values) > 1:
            raise incomplete(f"Header '{name}' appears {len(values)} times; it must appear once.")
        return values[0] if values else None


@dataclass(frozen=True)
class Authorization:
    """The parts of an ``AWS4-HMAC-SHA256`` Authorization header."""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def parse_authorization(value: str) -> Authorization:
    """Split ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete(
            f"Unsupported Authorization algorithm '{algorithm}': this server accepts only "
            f"AWS Signature Version 4 ('{ALGORITHM}')."
        )
    params: dict[str, str] = {}
    for part in _PARAM_SEPARATOR_RE.split(rest):
        if not part:
            continue
        key, eq, val = part.partition("=")
        if not eq:
            raise incomplete(
                f"'{part}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{value}'."
            )
        if key in params:
            raise incomplete(f"Authorization header has '{key}' more than once.")
        params[key] = val
    missing = [name for name in _REQUIRED_PARAMETERS if not params.get(name)]
    if missing:
        raise incomplete(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        )
    return Authorization(
        *_parse_credential(params["Credential"]),
        signed_headers=_parse_signed_headers(params["SignedHeaders"]),
        signature=_parse_signature(params["Signature"]),
    )


def _parse_credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise incomplete(
            f"Credential '{credential}' is not of the form "
            f"'<access key id>/<YYYYMMDD>/<region>/<service>/{TERMINATOR}'."
        )
    key_id, date, region, service, terminator = parts
    if not re.fullmatch(r"\d{8}", date):
        raise incomplete(f"Credential scope date '{date}' is not a date of the form YYYYMMDD.")
    return key_id, date, region, service, terminator


@functools.lru_cache(maxsize=256)  # a client sends the same few lists again and again
def _parse_signed_headers(value: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    for name in names:
        if not _HEADER_NAME_RE.match(name):
            raise incomplete(
                f"SignedHeaders '{value}' must list lowercase header names separated by ';' "
                f"(found '{name}')."
            )
    if len(set(names)) != len(names):
        raise incomplete(f"SignedHeaders '{value}' lists a header more than once.")
    return names


def _parse_signature(value: str) -> str:
    if not _SIGNATURE_RE.match(value):
        raise incomplete(f"Signature '{value}' is not 64 lowercase hexadecimal digits.")
    return value


# ----------------------------------------------------------------------------- canonical form


def _encode(text: str) -> str:
    """URI-encode per SigV4: every byte but A-Z a-z 0-9 - _ . ~ as %XX (uppercase)."""
    return quote(text, safe=_UNRESERVED)


def canonical_uri(raw_path: str) -> str:
    """The path as sent, normalized (``.``, ``..`` and empty segments) and encoded again."""
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    trailing = "/" if segments and raw_path.endswith("/") else ""
    return "/" + "/".join(_encode(segment) for segment in segments) + trailing


def canonical_s3_uri(raw_path: str) -> str:
    """S3's canonical URI: the path decoded and encoded once, '/' kept, nothing normalized."""
    return quote(unquote(raw_path), safe="/" + _UNRESERVED)


def canonical_query(raw_query: str, *, without: str = "") -> str:
    """Parameters decoded, re-encoded, sorted by name then value, joined with ``&``.

    ``without`` names a parameter left out (a presigned URL's ``X-Amz-Signature``).
    """
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        if without and unquote(name) == without:
            continue
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_headers(request: IncomingRequest, signed_headers: Sequence[str]) -> str:
    """One ``name:value`` line per signed header, values trimmed and joined with commas."""
    lines = []
    for name in signed_headers:
        values = request.header_values(name)
        if not values:
            raise invalid(
                f"Header '{name}' is listed in SignedHeaders but missing from the request."
            )
        joined = ",".join(_SPACES_RE.sub(" ", value.strip()) for value in values)
        lines.append(f"{name}:{joined}\n")
    return "".join(lines)


def canonical_request(
    request: IncomingRequest,
    signed_headers: Sequence[str],
    payload_hash: str,
    *,
    s3: bool = False,
    query_without: str = "",
) -> str:
    """The canonical request; ``s3`` selects S3's URI rule (encoded once, not normalized)."""
    return "\n".join(
        [
            request.method.upper(),
            canonical_s3_uri(request.path) if s3 else canonical_uri(request.path),
            canonical_query(request.query, without=query_without),
            canonical_headers(request, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return "\n".join([ALGORITHM, amz_date, scope, digest])


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


@functools.lru_cache(maxsize=64)  # one per key, day, region and service in use
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """``kSigning``: HMAC-SHA256 chained over the credential scope."""
    key = _hmac(f"AWS4{secret}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def sign(key: bytes, text: str) -> str:
    """The hex signature of a string to sign."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------- checks


def request_time(request: IncomingRequest, signed_headers: Sequence[str]) -> datetime:
    """The signed request time: ``X-Amz-Date`` (ISO 8601 basic) or else ``Date`` (RFC 7231)."""
    amz_date = request.header("x-amz-date")
    if amz_date is not None:
        if "x-amz-date" not in signed_headers:
            raise incomplete("Header 'X-Amz-Date' must be listed in SignedHeaders.")
        if not _AMZ_DATE_RE.match(amz_date):
            raise incomplete(
                f"X-Amz-Date '{amz_date}' must be in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z')."
            )
        try:
            return _amz_datetime(amz_date)
        except ValueError:
            raise incomplete(f"X-Amz-Date '{amz_date}' is not a valid date and time.")
    http_date = request.header("date")
    if http_date is None:
        raise incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if "date" not in signed_headers:
        raise incomplete("Header 'Date' must be listed in SignedHeaders.")
    try:
        parsed = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        raise incomplete(f"Date header '{http_date}' is not an HTTP date.")
    if parsed.tzinfo is None:
        raise incomplete(f"Date header '{http_date}' has no time zone.")
    return parsed.astimezone(UTC)


def _amz_datetime(amz_date: str) -> datetime:
    """``YYYYMMDDTHHMMSSZ`` (already matched by ``_AMZ_DATE_RE``) as an aware datetime.

    Sliced by hand: ``strptime`` costs more than the rest of the check.
    """
    d = amz_date
    return datetime(
        int(d[0:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]), int(d[11:13]), int(d[13:15]), 0, UTC
    )


def check_scope(
    auth: Authorization,
    when: datetime,
    *,
    region: str,
    services: Collection[str],
) -> None:
    """The credential scope must name the request's date, this region and a served service."""
    amz_date = when.strftime(_AMZ_DATE_FORMAT)
    if auth.terminator != TERMINATOR:
        raise invalid(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{auth.terminator}'."
        )
    if auth.date != amz_date[:8]:
        raise invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if auth.region != region:
        raise invalid(
            f"Credential should be scoped to a valid region, not '{auth.region}'. "
            f"This server's region is '{region}'."
        )
    if auth.service not in services:
        expected = " or ".join(f"'{name}'" for name in sorted(services))
        raise invalid(f"Credential should be scoped to correct service: {expected}.")


def check_clock_skew(when: datetime, now: datetime, max_skew: timedelta = MAX_CLOCK_SKEW) -> None:
    """Refuse a request time more than ``max_skew`` before or after ``now``."""
    minutes = int(max_skew.total_seconds() // 60)

    def fmt(value: datetime) -> str:
        return value.astimezone(UTC).strftime(_AMZ_DATE_FORMAT)

    if when < now - max_skew:
        raise invalid(
            f"Signature expired: {fmt(when)} is now earlier than {fmt(now - max_skew)} "
            f"({fmt(now)} - {minutes} min.)"
        )
    if when > now + max_skew:
        raise invalid(
            f"Signature not yet current: {fmt(when)} is still later than {fmt(now + max_skew)} "
            f"({fmt(now)} + {minutes} min.)"
        )


def payload_hash(request: IncomingRequest) -> str:
    """The body's SHA-256; a sent ``x-amz-content-sha256`` must equal it."""
    computed = hashlib.sha256(request.body).hexdigest()
    declared = request.header("x-amz-content-sha256")
    if declared is None:
        return computed
    if not _SHA256_HEX_RE.match(declared):
        raise invalid(
            f"x-amz-content-sha256 '{declared}' is not supported: this service requires the "
            "hex SHA-256 of the body (no UNSIGNED-PAYLOAD or streaming signatures)."
        )
    if declared.lower() != computed:
        raise invalid(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    return computed


def _check_required_signed(request: IncomingRequest, signed: Sequence[str]) -> None:
    if "host" not in signed:
        raise incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    for name in ("x-amz-target", "x-amz-content-sha256"):
        if request.header_values(name) and name not in signed:
            raise incomplete(f"Header '{name}' is present but not listed in SignedHeaders.")


def _mismatch_message(canonical: str, to_sign: str) -> str:
    return (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.\n\nThe Canonical String for this request should have been\n"
        f"'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
    )


def verify(
    request: IncomingRequest,
    *,
    secret_for: Callable[[str], str | None],
    region: str,
    services: Collection[str],
    now: datetime,
    max_skew: timedelta = MAX_CLOCK_SKEW,
    payload: str | None = None,
    s3: bool = False,
) -> str:
    """Check a request's SigV4 signature; the access key id that signed it.

    ``secret_for`` maps an access key id to its secret (``None``: unknown);
    ``now`` must be timezone-aware. Raises :class:`ApiError` on refusal.
    S3 passes ``payload`` (its ``x-amz-content-sha256``: a hash it checks
    against the body itself, ``UNSIGNED-PAYLOAD`` or a ``STREAMING-*`` value)
    and ``s3`` (S3's canonical URI).
    """
    if now.tzinfo is None:
        raise ValueError("verify() needs a timezone-aware 'now'")
    header = request.header("authorization")
    if header is None:
        raise missing_token(
            "Request is missing Authentication Token: this server requires requests signed "
            "with AWS Signature Version 4 by an access key configured on it."
        )
    auth = parse_authorization(header)
    _check_required_signed(request, auth.signed_headers)
    when = request_time(request, auth.signed_headers)
    if request.header_values("x-amz-security-token"):
        raise unrecognized(
            "The security token included in the request is invalid. This server accepts "
            "only long-term access keys configured on it, not session credentials "
            "(unset AWS_SESSION_TOKEN)."
        )
    secret = secret_for(auth.access_key_id)
    if secret is None:
        raise unrecognized(
            f"The security token included in the request is invalid. "
            f"Access key id '{auth.access_key_id}' is not configured on this server."
        )
    check_scope(auth, when, region=region, services=services)
    check_clock_skew(when, now, max_skew)
    content_hash = payload if payload is not None else payload_hash(request)
    canonical = canonical_request(request, auth.signed_headers, content_hash, s3=s3)
    to_sign = string_to_sign(when.strftime(_AMZ_DATE_FORMAT), auth.scope, canonical)
    expected = sign(signing_key(secret, auth.date, auth.region, auth.service), to_sign)
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("ascii")):
        raise invalid(_mismatch_message(canonical, to_sign))
    return auth.access_key_id


#: The longest a presigned URL may be valid (AWS: seven days).
MAX_PRESIGN_EXPIRY = 604800
_PRESIGN_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


def verify_presigned(
    request: IncomingRequest,
    *,
    secret_for: Callable[[str], str | None],
    region: str,
    services: Collection[str],
    now: datetime,
) -> str:
    """Check a presigned URL (query-string SigV4, as S3 uses it); the signing key id.

    The URL carries ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
    ``X-Amz-Expires``, ``X-Amz-SignedHeaders`` and ``X-Amz-Signature``; the
    payload is ``UNSIGNED-PAYLOAD`` and the URL is refused once expired.
    """
    params = {
        unquote(name): unquote(value)
        for name, _, value in (item.partition("=") for item in request.query.split("&"))
    }
    missing = [name for name in _PRESIGN_PARAMETERS if not params.get(name)]
    if missing:
        raise incomplete(f"Query-string authentication requires {', '.join(missing)}.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise incomplete(f"X-Amz-Algorithm must be '{ALGORITHM}'.")
    key_id, date, scope_region, service, terminator = _parse_credential(params["X-Amz-Credential"])
    auth = Authorization(
        key_id,
        date,
        scope_region,
        service,
        terminator,
        _parse_signed_headers(params["X-Amz-SignedHeaders"]),
        _parse_signature(params["X-Amz-Signature"]),
    )
    amz_date = params["X-Amz-Date"]
    try:
        when = datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise incomplete(f"X-Amz-Date '{amz_date}' is not of the form YYYYMMDD'T'HHMMSS'Z'.")
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGN_EXPIRY:
        raise incomplete(f"X-Amz-Expires must be 1 to {MAX_PRESIGN_EXPIRY} seconds.")
    if now > when + timedelta(seconds=int(expires)):
        raise missing_token(f"Request has expired: it was valid for {expires} s from {amz_date}.")
    if "host" not in auth.signed_headers:
        raise incomplete("'Host' must be a signed header of a presigned URL.")
    secret = secret_for(auth.access_key_id)
    if secret is None:
        raise unrecognized(
            f"The AWS Access Key Id you provided does not exist in our records: "
            f"'{auth.access_key_id}' is not configured on this server."
        )
    check_scope(auth, when, region=region, services=services)
    if when > now + MAX_CLOCK_SKEW:
        raise invalid(f"Request is not yet valid: X-Amz-Date {amz_date} is in the future.")
    canonical = canonical_request(
        request, auth.signed_headers, UNSIGNED_PAYLOAD, s3=True, query_without="X-Amz-Signature"
    )
    to_sign = string_to_sign(amz_date, auth.scope, canonical)
    expected = sign(signing_key(secret, auth.date, auth.region, auth.service), to_sign)
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("ascii")):
        raise invalid(_mismatch_message(canonical, to_sign))
    return auth.access_key_id


UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
