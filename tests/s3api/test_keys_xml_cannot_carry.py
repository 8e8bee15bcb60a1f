"""Keys holding characters XML 1.0 cannot carry, through boto3 and a real server.

S3 takes any UTF-8 key, ``\\x01`` or U+FFFE included. Before, every answer that
named such a key (CreateMultipartUpload's, a listing without
``encoding-type=url``, DeleteObjects', an error that echoes the key) held the raw
character, which no XML parser reads (boto3: a bare 500 or a parse error), and
DeleteObjects, whose request boto3 sends with the raw character, was
``MalformedXML``: such an object could not be removed in bulk (``aws s3 rm
--recursive``). A key's CR came back as a LF. Now: exact keys where S3 URL-encodes
(the listings' ``encoding-type=url``, which boto3 asks for), U+FFFD in the other
answers (which only echo the request's key), a CR as ``&#13;``, and DeleteObjects
takes the characters raw or as references.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.handlers import set_list_objects_encoding_type_url

CONTROL = "in/a\x01b"
NONCHAR = "in/c\ufffed"
CR = "in/e\rf"
MB = 1 << 20


def test_listings_name_such_keys_exactly(s3: Any, bucket: str) -> None:
    for key in (CONTROL, NONCHAR, CR):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    expected = sorted([CONTROL, NONCHAR, CR])
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == expected
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == expected
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["Key"] for v in versions] == expected
    for key in expected:  # each listed name reads its object
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()


def test_a_listing_without_url_encoding_parses(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=CONTROL, Body=b"x")
    s3.put_object(Bucket=bucket, Key=CR, Body=b"x")
    event = "before-parameter-build.s3.ListObjectsV2"
    s3.meta.events.unregister(event, set_list_objects_encoding_type_url)
    try:
        listed = s3.list_objects_v2(Bucket=bucket)
    finally:
        s3.meta.events.register(event, set_list_objects_encoding_type_url)
    assert "EncodingType" not in listed
    assert [o["Key"] for o in listed["Contents"]] == ["in/a\ufffdb", CR]  # CR kept


def test_multipart_answers_parse_and_the_upload_completes(s3: Any, bucket: str) -> None:
    started = s3.create_multipart_upload(Bucket=bucket, Key=CONTROL)
    assert started["Key"] == "in/a\ufffdb"
    upload = started["UploadId"]
    assert s3.create_multipart_upload(Bucket=bucket, Key=CR)["Key"] == CR
    plain = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["Key"] for u in plain] == ["in/a\ufffdb", CR]
    encoded = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url")["Uploads"]
    assert [u["Key"] for u in encoded] == ["in/a%01b", "in/e%0Df"]
    assert s3.list_parts(Bucket=bucket, Key=CONTROL, UploadId=upload)["Key"] == "in/a\ufffdb"
    etag = s3.upload_part(
        Bucket=bucket, Key=CONTROL, UploadId=upload, PartNumber=1, Body=b"p" * 10
    )["ETag"]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=CONTROL,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert done["Key"] == "in/a\ufffdb" and done["Location"].endswith("/in/a%01b")
    assert s3.get_object(Bucket=bucket, Key=CONTROL)["Body"].read() == b"p" * 10
    copied = s3.copy_object(Bucket=bucket, Key=NONCHAR, CopySource=f"{bucket}/{CONTROL}")
    assert copied["CopyObjectResult"]["ETag"]


def test_an_error_naming_such_a_key_parses(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="no\x02such\ufffe")
    error: dict[str, Any] = dict(missing.value.response["Error"])
    assert (error["Code"], error["Key"]) == ("NoSuchKey", "no\ufffdsuch\ufffd")


def test_delete_objects_removes_such_keys(s3: Any, bucket: str) -> None:
    for key in (CONTROL, NONCHAR, CR, "in/keep"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    deleted = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": CONTROL}, {"Key": NONCHAR}, {"Key": CR}]}
    )
    assert "Errors" not in deleted and len(deleted["Deleted"]) == 3
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["in/keep"]


def test_delete_objects_takes_character_references(s3_server: Any, s3: Any, bucket: str) -> None:
    """As other SDKs send them (``&#x1;``); a NUL is refused as a key, not the body."""
    s3.put_object(Bucket=bucket, Key=CONTROL, Body=b"x")
    body = (
        b"<Delete><Object><Key>in/a&#x1;b</Key></Object>"
        b"<Object><Key>in/&#0;</Key></Object></Delete>"
    )
    request = urllib.request.Request(
        f"{s3_server.url}/{bucket}?delete",
        data=body,
        method="POST",
        headers={"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = ET.fromstring(response.read())
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    assert [k.text for k in answer.iterfind(f"{ns}Deleted/{ns}Key")] == ["in/a\ufffdb"]
    errors = [(e.findtext(f"{ns}Key"), e.findtext(f"{ns}Code")) for e in answer]
    assert errors[1:] == [("in/\ufffd", "InvalidKey")]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
