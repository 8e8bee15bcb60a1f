"""The one Host/Origin policy (montemap.api.hosts) and the trust rule for process-starting actions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from montemap.api.hosts import (
    SCOPE_KEY,
    HostPolicy,
    HostsError,
    host_name,
    is_loopback,
    may_start_processes,
    refusal,
)
from montemap.errors import ApiError


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost", "localhost"),
        ("LocalHost:8083", "localhost"),
        ("localhost.:8083", "localhost"),
        ("127.0.0.1:8083", "127.0.0.1"),
        ("[::1]:8083", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("build-box.example.com", "build-box.example.com"),
        ("", None),
        (":8083", None),
        ("localhost:http", None),
        ("localhost:123456", None),
        ("[::1", None),
        ("[::1]x", None),
        ("[not-an-address]:80", None),
        ("a:b:c", None),
    ],
)
def test_host_name(header: str, name: str | None) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.0.2.1", False),
        ("localhost.example", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def _refused_status(policy: HostPolicy, header: str | None) -> int | None:
    try:
        policy.check_host(header)
    except ApiError as exc:
        assert exc.code == "AccessDeniedException"
        return exc.status
    return None


def test_a_loopback_bind_answers_loopback_names_only() -> None:
    policy = HostPolicy("127.0.0.1")
    header: str | None
    for header in ("localhost", "localhost:8083", "localhost:9000", "127.0.0.1:8083"):
        assert _refused_status(policy, header) is None, header
    for header in ("127.0.0.2:8083", "[::1]:8083", "LOCALHOST", "bucket.localhost:8083"):
        assert _refused_status(policy, header) is None, header
    for header in (
        "attacker.example:8083",
        "attacker.example",
        "localhost.attacker.example",
        "xlocalhost",
        "192.168.1.10:8083",
        "0.0.0.0:8083",
        "127.0.0.1.nip.io",
        "",
        None,
        "localhost:port",
    ):
        assert _refused_status(policy, header) == 421, header


def test_a_remote_bind_answers_its_address_and_the_allowed_names() -> None:
    policy = HostPolicy("192.0.2.1", ["Build-Box.example.", "198.51.100.7"])
    for header in ("192.0.2.1:8083", "build-box.example:8083", "198.51.100.7", "localhost:8083"):
        assert _refused_status(policy, header) is None, header
    assert _refused_status(policy, "bucket.build-box.example:8083") is None
    for header in ("192.0.2.2:8083", "other.example", "build-box.example.attacker.example"):
        assert _refused_status(policy, header) == 421, header


def test_a_wildcard_bind_answers_every_address_but_only_allowed_names() -> None:
    policy = HostPolicy("0.0.0.0", ["build-box"])
    for header in ("192.0.2.1:8083", "[2001:db8::1]:8083", "build-box:8083", "localhost"):
        assert _refused_status(policy, header) is None, header
    assert _refused_status(policy, "attacker.example:8083") == 421


def test_the_refusal_names_the_host_and_the_option() -> None:
    with pytest.raises(ApiError) as refused:
        HostPolicy("127.0.0.1").check_host("attacker.example:8083")
    assert "'attacker.example'" in refused.value.message
    assert "--allowed-host" in refused.value.message
    with pytest.raises(ApiError) as long:
        HostPolicy("127.0.0.1").check_host("x" * 5000)
    assert len(long.value.message) < 600


@pytest.mark.parametrize("name", ["", "bad name", "host:8083", "http://host", "a/b", "-x-"])
def test_allowed_hosts_must_be_names(name: str) -> None:
    with pytest.raises(HostsError, match="--allowed-host"):
        HostPolicy("0.0.0.0", [name])


def test_origins() -> None:
    check = HostPolicy.check_origin
    check(None, "localhost:8083")
    check("http://localhost:8083", "localhost:8083")
    check("https://build-box.example", "build-box.example")
    check("HTTP://LOCALHOST:8083", "localhost:8083")
    for origin in (
        "http://attacker.example:8083",
        "http://localhost:8084",
        "http://localhost",
        "null",
        "file://",
        "ftp://localhost:8083",
        "",
    ):
        with pytest.raises(ApiError) as refused:
            check(origin, "localhost:8083")
        assert refused.value.status == 403, origin
        assert "Cross-site request refused" in refused.value.message


def _scope(headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        **extra,
    }


def test_check_on_a_scope() -> None:
    policy = HostPolicy("127.0.0.1")
    policy.check(_scope({"Host": "127.0.0.1:8083", "Origin": "http://127.0.0.1:8083"}))
    with pytest.raises(ApiError) as refused:
        policy.check(_scope({"Host": "127.0.0.1:8083", "Origin": "http://attacker.example"}))
    assert refused.value.status == 403
    with pytest.raises(ApiError) as refused:
        policy.check(_scope({"Host": "attacker.example:8083"}))
    assert refused.value.status == 421


@pytest.mark.parametrize("marker", ["Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest"])
def test_browser_requests_never_start_processes(marker: str) -> None:
    scope = _scope({"Host": "127.0.0.1:8083", marker: "http://127.0.0.1:8083"})
    with pytest.raises(ApiError) as refused:
        may_start_processes(scope)
    assert refused.value.status == 403 and refused.value.code == "AccessDeniedException"
    assert marker.lower() in refused.value.message


def test_with_keys_configured_only_signed_requests_start_processes() -> None:
    plain = _scope({"Host": "127.0.0.1:8083"})
    may_start_processes(plain)  # no keys configured: loopback clients are trusted
    keyed = HostPolicy("127.0.0.1", keys_configured=True)
    with pytest.raises(ApiError, match="signed"):
        may_start_processes({**plain, SCOPE_KEY: keyed})
    may_start_processes({**plain, SCOPE_KEY: keyed, "state": {"access_key_id": "WORKERS"}})


def test_refusals_take_the_shape_of_the_service() -> None:
    error = ApiError("AccessDeniedException", "no <way>", status=403)
    json_reply = refusal(_scope({"X-Amz-Target": "AWSStepFunctions.ListActivities"}), error)
    assert json_reply.status_code == 403
    assert isinstance(json_reply.body, bytes)
    assert json.loads(json_reply.body) == {
        "__type": "com.amazonaws.sfn#AccessDeniedException",
        "message": "no <way>",
    }
    s3 = refusal({**_scope({}), "method": "GET", "path": "/bucket/key"}, error)
    assert isinstance(s3.body, bytes)
    assert s3.body.startswith(b"<?xml") and b"<Code>AccessDenied</Code>" in s3.body
    assert b"no &lt;way&gt;" in s3.body
    form = _scope({"Content-Type": "application/x-www-form-urlencoded"})
    query = refusal(form, error)
    assert b"<ErrorResponse>" in query.body and b"<Type>Sender</Type>" in query.body
