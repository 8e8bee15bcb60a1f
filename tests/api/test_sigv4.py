"""SigV4 verification against AWS's documented example and botocore's own signer."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from montemap.api import sigv4
from montemap.api.sigv4 import IncomingRequest, verify
from montemap.errors import ApiError

KEY_ID = "AKIAMONTEMAPTEST01"
SECRET = "s3cr3t/K7MDENG+bPxRfiCYmontemapKEY"
OTHER_KEY_ID = "AKIAMONTEMAPTEST02"
OTHER_SECRET = "another-secret-of-sufficient-length"
REGION = "us-east-1"
URL = "http://127.0.0.1:8083/"
TARGET = "AWSStepFunctions.ListStateMachines"
BODY = b'{"maxResults": 10}'
SECRETS = {KEY_ID: SECRET, OTHER_KEY_ID: OTHER_SECRET}


def signed(
    *,
    url: str = URL,
    body: bytes = BODY,
    headers: dict[str, str] | None = None,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    token: str | None = None,
    service: str = "states",
    region: str = REGION,
    method: str = "POST",
) -> IncomingRequest:
    """A request signed by botocore, as the server would receive it."""
    sent = {"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.0"}
    sent.update(headers or {})
    request = AWSRequest(method=method, url=url, data=body, headers=sent)
    SigV4Auth(Credentials(key_id, secret, token), service, region).add_auth(request)
    parts = urlsplit(url)
    wire = [(name, str(value)) for name, value in request.headers.items()]
    if not any(name.lower() == "host" for name, _ in wire):
        wire.append(("Host", parts.netloc))  # what the HTTP client adds
    return IncomingRequest(method, parts.path or "/", parts.query, wire, body)


def signed_at(request: IncomingRequest) -> datetime:
    value = request.header("x-amz-date")
    assert value is not None
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def check(
    request: IncomingRequest,
    *,
    now: datetime | None = None,
    services: tuple[str, ...] = ("states",),
    region: str = REGION,
) -> str:
    return verify(
        request,
        secret_for=SECRETS.get,
        region=region,
        services=services,
        now=now or signed_at(request),
    )


def refused(call: Callable[[], object], code: str, match: str = "") -> ApiError:
    with pytest.raises(ApiError) as info:
        call()
    assert info.value.code == code, info.value.message
    assert info.value.status == 400
    assert match in info.value.message
    return info.value


def replace_header(request: IncomingRequest, name: str, value: str | None) -> IncomingRequest:
    """The request with one header changed (``None``: removed)."""
    headers = [(k, v) for k, v in request.headers if k.lower() != name.lower()]
    if value is not None:
        headers.append((name, value))
    return IncomingRequest(request.method, request.path, request.query, headers, request.body)


# ----------------------------------------------------------------------------- AWS's example


def test_aws_documented_example() -> None:
    """The IAM ListUsers example of AWS's "Create a signed AWS API request" guide."""
    request = IncomingRequest(
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        [
            ("Host", "iam.amazonaws.com"),
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date, "
                "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            ),
        ],
        b"",
    )
    canonical = sigv4.canonical_request(
        request, ["content-type", "host", "x-amz-date"], hashlib.sha256(b"").hexdigest()
    )
    assert canonical == (
        "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
        "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
        "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        "content-type;host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    key_id = verify(
        request,
        secret_for={"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}.get,
        region="us-east-1",
        services=("iam",),
        now=datetime(2015, 8, 30, 12, 40, tzinfo=UTC),
    )
    assert key_id == "AKIDEXAMPLE"


# ----------------------------------------------------------------------------- botocore accepted


def test_accepts_botocore_signature() -> None:
    assert check(signed()) == KEY_ID
    assert check(signed(key_id=OTHER_KEY_ID, secret=OTHER_SECRET)) == OTHER_KEY_ID


def test_accepts_ecs_scope_when_served() -> None:
    request = signed(service="ecs")
    assert check(request, services=("states", "ecs")) == KEY_ID
    refused(lambda: check(request), "InvalidSignatureException", "correct service: 'states'")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8083/a/./b/../c//d/",
        "http://127.0.0.1:8083/x%20y/%7Euser/caf%C3%A9",
        "http://localhost/?b=2&a=1&a=0&c=x%20y&d=&e",
        "http://[::1]:9000/path?Key=a%2Fb%2Bc&empty=",
        "http://127.0.0.1:8083",
    ],
)
def test_paths_and_queries_match_botocore(url: str) -> None:
    assert check(signed(url=url)) == KEY_ID


@pytest.mark.parametrize("body", [b"", b"{}", '{"name": "caf\u00e9 \u2603"}'.encode()])
def test_bodies(body: bytes) -> None:
    assert check(signed(body=body)) == KEY_ID


def test_repeated_and_spaced_headers() -> None:
    request = signed(headers={"X-Amz-Meta": "  a   b  "})
    assert check(request) == KEY_ID
    assert "x-amz-meta:a b\n" in sigv4.canonical_headers(request, ["x-amz-meta"])
    doubled = IncomingRequest("POST", "/", "", [("X-Test", "one"), ("x-test", " two ")], b"")
    assert sigv4.canonical_headers(doubled, ["x-test"]) == "x-test:one,two\n"


def test_payload_hash_header_checked() -> None:
    good = hashlib.sha256(BODY).hexdigest()
    assert check(signed(headers={"X-Amz-Content-SHA256": good})) == KEY_ID
    bad = hashlib.sha256(b"other").hexdigest()
    refused(
        lambda: check(signed(headers={"X-Amz-Content-SHA256": bad})),
        "InvalidSignatureException",
        "x-amz-content-sha256",
    )
    refused(
        lambda: check(signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})),
        "InvalidSignatureException",
        "UNSIGNED-PAYLOAD",
    )


def test_clock_skew_boundaries() -> None:
    request = signed()
    at = signed_at(request)
    assert check(request, now=at + timedelta(minutes=15)) == KEY_ID
    assert check(request, now=at - timedelta(minutes=15)) == KEY_ID


# ----------------------------------------------------------------------------- refused


def test_tampered_body() -> None:
    request = signed()
    tampered = IncomingRequest(
        request.method, request.path, request.query, request.headers, b'{"maxResults": 11}'
    )
    error = refused(
        lambda: check(tampered), "InvalidSignatureException", "does not match the signature"
    )
    assert "The Canonical String for this request should have been" in error.message
    assert SECRET not in error.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Amz-Target", "AWSStepFunctions.DeleteStateMachine"),
        ("Host", "127.0.0.1:9999"),
        ("Content-Type", "application/json"),
    ],
)
def test_tampered_signed_header(name: str, value: str) -> None:
    request = replace_header(signed(), name, value)
    refused(lambda: check(request), "InvalidSignatureException", "does not match")


def test_tampered_path_and_query() -> None:
    request = signed(url="http://127.0.0.1:8083/a?x=1")
    for path, query in (("/b", "x=1"), ("/a", "x=2"), ("/a", "")):
        tampered = IncomingRequest(request.method, path, query, request.headers, request.body)
        refused(functools.partial(check, tampered), "InvalidSignatureException", "does not match")


def test_tampered_date_within_skew() -> None:
    request = signed()
    later = (signed_at(request) + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    tampered = replace_header(request, "X-Amz-Date", later)
    refused(lambda: check(tampered), "InvalidSignatureException", "does not match")


def test_wrong_secret() -> None:
    request = signed(secret="not-the-right-secret-at-all")
    refused(lambda: check(request), "InvalidSignatureException", "Check your AWS Secret Access Key")


def test_unknown_key() -> None:
    request = signed(key_id="AKIAUNKNOWN")
    refused(
        lambda: check(request),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_session_token_rejected() -> None:
    request = signed(token="FQoGZXIvYXdzEXAMPLETOKEN")
    refused(lambda: check(request), "UnrecognizedClientException", "AWS_SESSION_TOKEN")


def test_expired_and_future() -> None:
    request = signed()
    at = signed_at(request)
    error = refused(
        lambda: check(request, now=at + timedelta(minutes=16)),
        "InvalidSignatureException",
        "Signature expired: ",
    )
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    assert error.message.startswith(f"Signature expired: {stamp} is now earlier than ")
    assert error.message.endswith(" - 15 min.)")
    refused(
        lambda: check(request, now=at - timedelta(minutes=16)),
        "InvalidSignatureException",
        "Signature not yet current: ",
    )


def test_wrong_region() -> None:
    request = signed(region="eu-west-1")
    refused(lambda: check(request), "InvalidSignatureException", "not 'eu-west-1'")


def test_scope_date_must_match_request_date() -> None:
    request = signed()
    at = signed_at(request)
    other_day = (at + timedelta(days=1)).strftime("%Y%m%d")
    auth = request.header("authorization")
    assert auth is not None
    forged = auth.replace(f"/{at:%Y%m%d}/", f"/{other_day}/")
    tampered = replace_header(request, "Authorization", forged)
    refused(lambda: check(tampered), "InvalidSignatureException", "Date in Credential scope")


def test_unsigned_request() -> None:
    request = replace_header(signed(), "Authorization", None)
    refused(
        lambda: check(request),
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    )


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Bearer abc", "Unsupported Authorization algorithm 'Bearer'"),
        ("AWS4-HMAC-SHA256", "requires 'Credential' parameter"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAMONTEMAPTEST01/20250101/us-east-1/states/aws4_request",
            "requires 'SignedHeaders' parameter. Authorization header requires 'Signature'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=" + "0" * 64,
            "of the form",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=k/2025/us-east-1/states/aws4_request, "
            "SignedHeaders=host, Signature=" + "0" * 64,
            "YYYYMMDD",
        ),
        (
            "AWS4-HMAC-SHA256 Credential= k/20250101/us-east-1/states/aws4_request",
            "missing equal-sign",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=k/20250101/us-east-1/states/aws4_request, "
            "SignedHeaders=Host;X-Amz-Date, Signature=" + "0" * 64,
            "lowercase header names",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=k/20250101/us-east-1/states/aws4_request, "
            "SignedHeaders=host;host, Signature=" + "0" * 64,
            "more than once",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=k/20250101/us-east-1/states/aws4_request, "
            "SignedHeaders=host, Signature=xyz",
            "64 lowercase hexadecimal",
        ),
    ],
)
def test_malformed_authorization(authorization: str, message: str) -> None:
    request = replace_header(signed(), "Authorization", authorization)
    refused(lambda: check(request), "IncompleteSignatureException", message)


def _resigned_headers(signed_headers: str) -> IncomingRequest:
    request = signed()
    auth = request.header("authorization")
    assert auth is not None
    prefix, rest = auth.split("SignedHeaders=", 1)
    _, signature = rest.split(",", 1)
    return replace_header(
        request, "Authorization", f"{prefix}SignedHeaders={signed_headers},{signature}"
    )


@pytest.mark.parametrize(
    ("signed_headers", "code", "message"),
    [
        ("content-type;x-amz-date;x-amz-target", "IncompleteSignatureException", "'Host'"),
        ("content-type;host;x-amz-target", "IncompleteSignatureException", "X-Amz-Date"),
        ("content-type;host;x-amz-date", "IncompleteSignatureException", "x-amz-target"),
        (
            "content-type;host;x-amz-date;x-amz-target;x-missing",
            "InvalidSignatureException",
            "'x-missing' is listed in SignedHeaders but missing",
        ),
    ],
)
def test_required_signed_headers(signed_headers: str, code: str, message: str) -> None:
    refused(lambda: check(_resigned_headers(signed_headers)), code, message)


def test_missing_or_bad_date() -> None:
    now = datetime.now(UTC)
    request = replace_header(signed(), "X-Amz-Date", None)
    refused(
        lambda: check(request, now=now), "IncompleteSignatureException", "'X-Amz-Date' or a 'Date'"
    )
    bad = replace_header(signed(), "X-Amz-Date", "2025-01-01T00:00:00Z")
    refused(lambda: check(bad, now=now), "IncompleteSignatureException", "ISO-8601 basic format")
    impossible = replace_header(signed(), "X-Amz-Date", "20251399T000000Z")
    refused(lambda: check(impossible, now=now), "IncompleteSignatureException", "not a valid date")


def test_date_header_instead_of_x_amz_date() -> None:
    """A client may sign ``Date`` (RFC 7231) instead of ``X-Amz-Date``."""
    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    headers = [
        ("Host", "example.test"),
        ("Date", "Tue, 04 Mar 2025 05:06:07 GMT"),
        ("X-Amz-Target", TARGET),
    ]
    bare = IncomingRequest("POST", "/", "", headers, BODY)
    names = ["date", "host", "x-amz-target"]
    canonical = sigv4.canonical_request(bare, names, hashlib.sha256(BODY).hexdigest())
    scope = f"20250304/{REGION}/states/aws4_request"
    to_sign = sigv4.string_to_sign("20250304T050607Z", scope, canonical)
    signature = sigv4.sign(sigv4.signing_key(SECRET, "20250304", REGION, "states"), to_sign)
    auth = (
        f"AWS4-HMAC-SHA256 Credential={KEY_ID}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    request = IncomingRequest("POST", "/", "", [*headers, ("Authorization", auth)], BODY)
    assert check(request, now=now) == KEY_ID
    garbled = replace_header(request, "Date", "yesterday")
    refused(lambda: check(garbled, now=now), "IncompleteSignatureException", "not an HTTP date")


def test_duplicate_authorization_header() -> None:
    request = signed()
    auth = request.header("authorization")
    assert auth is not None
    doubled = IncomingRequest(
        request.method,
        request.path,
        request.query,
        [*request.headers, ("Authorization", auth)],
        b"",
    )
    refused(lambda: check(doubled), "IncompleteSignatureException", "appears 2 times")


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(
            signed(),
            secret_for=SECRETS.get,
            region=REGION,
            services=("states",),
            now=datetime(2025, 1, 1),
        )


def test_signing_key_is_deterministic_and_scoped() -> None:
    key = sigv4.signing_key(SECRET, "20250101", REGION, "states")
    assert key == sigv4.signing_key(SECRET, "20250101", REGION, "states")
    assert key != sigv4.signing_key(SECRET, "20250102", REGION, "states")
    assert key != sigv4.signing_key(SECRET, "20250101", REGION, "ecs")
    assert len(key) == 32
