"""POST Object: uploads from an HTML form with a POST policy, as generate_presigned_post
makes them, on a server without keys and on one with keys (the policy's signature)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from montemap.testing import MontemapServer
from tests.s3api.conftest import s3_client

KEY_ID = "AKIDFORMUPLOADS"
SECRET = "form-upload-secret-0123"

Answer = tuple[int, dict[str, str], bytes]


def post_form(url: str, fields: dict[str, str], content: bytes, filename: str = "f.bin") -> Answer:
    """POST ``fields`` and then the file as ``multipart/form-data``, as a browser does."""
    boundary = "----montemap-form-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    target = urlsplit(url)
    connection = http.client.HTTPConnection(target.netloc, timeout=60)
    try:
        connection.request(
            "POST",
            target.path,
            body=b"".join(parts),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def code(answer: Answer) -> str:
    body = answer[2].decode()
    return body.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in body else ""


def test_a_presigned_post_stores_the_file_with_its_fields(s3: Any, bucket: str) -> None:
    content = b"\r\n--not-the-boundary\r\n" + os.urandom(1000) + b"\r\n"
    post = s3.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={"Content-Type": "image/png", "x-amz-meta-owner": "ana"},
        Conditions=[
            {"Content-Type": "image/png"},
            ["starts-with", "$x-amz-meta-owner", ""],
            ["content-length-range", 1, 4096],
        ],
        ExpiresIn=300,
    )
    status, headers, body = post_form(post["url"], post["fields"], content, "holiday 1.png")
    assert (status, body) == (204, b"")
    assert headers["etag"] == f'"{hashlib.md5(content).hexdigest()}"'
    assert headers["location"].endswith(f"/{bucket}/uploads/holiday%201.png")
    got = s3.get_object(Bucket=bucket, Key="uploads/holiday 1.png")
    assert got["Body"].read() == content
    assert (got["ContentType"], got["Metadata"]) == ("image/png", {"owner": "ana"})


def test_success_action_status_and_redirect(s3: Any, bucket: str) -> None:
    post = s3.generate_presigned_post(
        bucket,
        "made",
        Fields={"success_action_status": "201", "acl": "public-read"},
        Conditions=[{"success_action_status": "201"}, {"acl": "public-read"}],
    )
    status, _, body = post_form(post["url"], post["fields"], b"one")
    assert status == 201
    assert b"<Key>made</Key>" in body and b"<Bucket>" + bucket.encode() in body
    grants = s3.get_object_acl(Bucket=bucket, Key="made")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants)
    back = "https://app.example.com/done?step=2"
    post = s3.generate_presigned_post(
        bucket,
        "sent",
        Fields={"success_action_redirect": back},
        Conditions=[{"success_action_redirect": back}],
    )
    status, headers, _ = post_form(post["url"], post["fields"], b"two")
    assert status == 303
    location = urlsplit(headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == back.split("?")[0]
    query = parse_qs(location.query)
    assert (query["step"], query["bucket"], query["key"]) == (["2"], [bucket], ["sent"])
    assert query["etag"] == [f'"{hashlib.md5(b"two").hexdigest()}"']


def test_a_form_the_policy_does_not_allow_is_refused(s3: Any, bucket: str) -> None:
    post = s3.generate_presigned_post(
        bucket, "in/${filename}", Conditions=[["content-length-range", 2, 10]], ExpiresIn=300
    )
    fields = post["fields"]
    assert code(post_form(post["url"], fields, b"x" * 11)) == "EntityTooLarge"
    assert code(post_form(post["url"], fields, b"x")) == "EntityTooSmall"
    outside = {**fields, "key": "elsewhere/f"}
    answer = post_form(post["url"], outside, b"xyz")
    assert (answer[0], code(answer)) == (403, "AccessDenied")
    assert b"Policy Condition failed" in answer[2]
    extra = {**fields, "x-amz-meta-extra": "1"}
    answer = post_form(post["url"], extra, b"xyz")
    assert (code(answer), b"Extra input fields: x-amz-meta-extra" in answer[2]) == (
        "AccessDenied",
        True,
    )
    other_bucket = f"{post['url']}-other"
    s3.create_bucket(Bucket=f"{bucket}-other")
    assert code(post_form(other_bucket, fields, b"xyz")) == "AccessDenied"
    expired = s3.generate_presigned_post(bucket, "late", ExpiresIn=1)
    time.sleep(2)
    answer = post_form(expired["url"], expired["fields"], b"xyz")
    assert (code(answer), b"Policy expired" in answer[2]) == ("AccessDenied", True)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert "Contents" not in s3.list_objects_v2(Bucket=f"{bucket}-other")


def test_a_form_needs_a_key_and_a_file(s3_server: MontemapServer, bucket: str) -> None:
    policy = {"expiration": "2099-01-01T00:00:00Z", "conditions": [{"bucket": bucket}]}
    fields = {"policy": base64.b64encode(json.dumps(policy).encode()).decode()}
    answer = post_form(f"{s3_server.url}/{bucket}", fields, b"data")
    assert (code(answer), b"field named 'key'" in answer[2]) == ("InvalidArgument", True)


def test_a_file_over_the_memory_limit_is_stored_whole(s3: Any, bucket: str) -> None:
    content = os.urandom(17 * 1024 * 1024)  # spooled to a temporary file
    post = s3.generate_presigned_post(bucket, "big")
    status, headers, _ = post_form(post["url"], post["fields"], content)
    assert (status, headers["etag"]) == (204, f'"{hashlib.md5(content).hexdigest()}"')
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == content


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(
        tmp_path_factory.mktemp("form-keyed") / "data",
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET},
    )
    server.start()
    yield server
    server.close()


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_a_server_with_keys_checks_the_policy_signature(
    keyed: MontemapServer, signature_version: str
) -> None:
    signer = s3_client(keyed.url, key_id=KEY_ID, secret=SECRET, signature_version="s3v4")
    poster = s3_client(keyed.url, key_id=KEY_ID, secret=SECRET, signature_version=signature_version)
    bucket = f"signed-{signature_version.replace('3', 'three')}"
    signer.create_bucket(Bucket=bucket)
    post = poster.generate_presigned_post(bucket, "ok")
    assert post_form(post["url"], post["fields"], b"signed")[0] == 204
    assert signer.get_object(Bucket=bucket, Key="ok")["Body"].read() == b"signed"
    forger = s3_client(
        keyed.url,
        key_id=KEY_ID,
        secret="not-the-secret-of-this-key",
        signature_version=signature_version,
    )
    forged = forger.generate_presigned_post(bucket, "forged")
    assert code(post_form(forged["url"], forged["fields"], b"x")) == "SignatureDoesNotMatch"
    stranger = s3_client(
        keyed.url, key_id="AKIDNOBODYATALL", secret=SECRET, signature_version=signature_version
    )
    unknown = stranger.generate_presigned_post(bucket, "unknown")
    assert code(post_form(unknown["url"], unknown["fields"], b"x")) == "InvalidAccessKeyId"
    answer = post_form(post["url"], {"key": "anonymous"}, b"x")
    assert (answer[0], code(answer)) == (403, "AccessDenied")
    listed = signer.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["ok"]
    for client in (signer, poster, forger, stranger):
        client.close()


def test_a_form_content_type_lets_no_other_operation_skip_the_signature(
    keyed: MontemapServer,
) -> None:
    signer = s3_client(keyed.url, key_id=KEY_ID, secret=SECRET, signature_version="s3v4")
    signer.create_bucket(Bucket="guarded")
    signer.put_object(Bucket="guarded", Key="keep", Body=b"k")
    document = b"<Delete><Object><Key>keep</Key></Object></Delete>"
    target = urlsplit(keyed.url)
    connection = http.client.HTTPConnection(target.netloc, timeout=30)
    try:
        connection.request(
            "POST",
            "/guarded?delete",
            body=document,
            headers={
                "Content-Type": "multipart/form-data; boundary=x",
                "Content-MD5": base64.b64encode(hashlib.md5(document).digest()).decode(),
            },
        )
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()
    assert (status, b"<Code>AccessDenied</Code>" in body) == (403, True)
    assert signer.get_object(Bucket="guarded", Key="keep")["Body"].read() == b"k"
    signer.close()
