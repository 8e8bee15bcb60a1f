"""ACLs through boto3: canned ACLs, grant headers and documents recorded and answered."""

from __future__ import annotations

from typing import Any

import pytest

from tests.s3api.test_tagging import code_of, error_code, raw

OWNER = {"ID": "montemap", "DisplayName": "montemap"}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


def grants(answer: dict[str, Any]) -> set[tuple[str, str, str]]:
    out = set()
    for grant in answer["Grants"]:
        grantee = grant["Grantee"]
        who = grantee.get("ID") or grantee.get("URI")
        out.add((grantee["Type"], who, grant["Permission"]))
    return out


OWNER_FULL = ("CanonicalUser", "montemap", "FULL_CONTROL")


def test_default_acls_are_the_owners_full_control(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    for answer in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert answer["Owner"] == OWNER
        assert grants(answer) == {OWNER_FULL}
        assert answer["Grants"][0]["Grantee"]["DisplayName"] == "montemap"


@pytest.mark.parametrize(
    ("canned", "extra"),
    [
        ("private", set()),
        ("public-read", {("Group", ALL_USERS, "READ")}),
        ("public-read-write", {("Group", ALL_USERS, "READ"), ("Group", ALL_USERS, "WRITE")}),
        (
            "log-delivery-write",
            {("Group", LOG_DELIVERY, "WRITE"), ("Group", LOG_DELIVERY, "READ_ACP")},
        ),
    ],
)
def test_canned_acls_are_recorded(s3: Any, bucket: str, canned: str, extra: set[Any]) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL=canned)
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == {OWNER_FULL} | extra
    s3.put_object(Bucket=bucket, Key="k", Body=b"", ACL=canned)
    assert grants(s3.get_object_acl(Bucket=bucket, Key="k")) == {OWNER_FULL} | extra
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert grants(s3.get_object_acl(Bucket=bucket, Key="k")) == {OWNER_FULL}


def test_acl_on_create_bucket_copy_and_multipart(s3: Any) -> None:
    s3.create_bucket(Bucket="acl-created", ACL="public-read")
    assert ("Group", ALL_USERS, "READ") in grants(s3.get_bucket_acl(Bucket="acl-created"))
    s3.put_object(Bucket="acl-created", Key="src", Body=b"x", ACL="public-read")
    s3.copy_object(Bucket="acl-created", Key="dst", CopySource="acl-created/src")
    assert grants(s3.get_object_acl(Bucket="acl-created", Key="dst")) == {OWNER_FULL}  # not copied
    upload = s3.create_multipart_upload(Bucket="acl-created", Key="mp", ACL="authenticated-read")
    part = s3.upload_part(
        Bucket="acl-created", Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p"
    )
    s3.complete_multipart_upload(
        Bucket="acl-created",
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    got = grants(s3.get_object_acl(Bucket="acl-created", Key="mp"))
    assert got == {
        OWNER_FULL,
        ("Group", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ"),
    }


def test_grant_headers_and_documents(s3: Any, bucket: str) -> None:
    s3.put_bucket_acl(Bucket=bucket, GrantRead=f'uri="{ALL_USERS}"', GrantWriteACP='id="someone"')
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == {
        OWNER_FULL,
        ("Group", ALL_USERS, "READ"),
        ("CanonicalUser", "someone", "WRITE_ACP"),
    }
    policy = s3.get_bucket_acl(Bucket=bucket)
    policy.pop("ResponseMetadata")
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=policy)  # round trip
    assert grants(s3.get_object_acl(Bucket=bucket, Key="k")) == grants(policy)


def test_acl_refusals(s3_server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    assert code_of(s3.put_bucket_acl, Bucket=bucket, ACL="everyone") == "InvalidArgument"
    assert code_of(s3.put_object, Bucket=bucket, Key="n", Body=b"", ACL="x") == "InvalidArgument"
    assert code_of(s3.head_object, Bucket=bucket, Key="n") == "404"
    both = {"ACL": "private", "GrantRead": f'uri="{ALL_USERS}"'}
    assert code_of(s3.put_bucket_acl, Bucket=bucket, **both) == "InvalidRequest"
    bad_group = 'uri="http://acs.amazonaws.com/groups/global/Nobody"'
    assert code_of(s3.put_bucket_acl, Bucket=bucket, GrantRead=bad_group) == "InvalidArgument"
    email = 'emailAddress="a@example.com"'
    assert code_of(s3.put_bucket_acl, Bucket=bucket, GrantRead=email) == (
        "UnresolvableGrantByEmailAddress"
    )
    assert code_of(s3.get_object_acl, Bucket=bucket, Key="absent") == "NoSuchKey"
    assert code_of(s3.put_object_acl, Bucket=bucket, Key="absent", ACL="private") == "NoSuchKey"
    assert code_of(s3.get_bucket_acl, Bucket="no-such-bucket-z") == "NoSuchBucket"
    for path in (f"/{bucket}?acl", f"/{bucket}/k?acl"):
        status, body = raw(s3_server.url, "PUT", path)
        assert (status, error_code(body)) == (400, "MissingSecurityHeader")
        bad = b"<AccessControlPolicy><AccessControlList><Grant><Permission>ALL</Permission></Grant></AccessControlList></AccessControlPolicy>"
        status, body = raw(s3_server.url, "PUT", path, bad)
        assert (status, error_code(body)) == (400, "MalformedACLError")
        status, body = raw(s3_server.url, "PUT", path, b"<AccessControlPolicy>")
        assert (status, error_code(body)) == (400, "MalformedACLError")
    policy = b"<AccessControlPolicy><AccessControlList/></AccessControlPolicy>"
    status, body = raw(s3_server.url, "PUT", f"/{bucket}?acl", policy, {"x-amz-acl": "private"})
    assert (status, error_code(body)) == (400, "UnexpectedContent")
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == {OWNER_FULL}  # nothing recorded


def test_create_bucket_again_in_us_east_1_resets_its_acl(s3: Any, bucket: str) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert len(s3.get_bucket_acl(Bucket=bucket)["Grants"]) == 2
    s3.create_bucket(Bucket=bucket)  # us-east-1: 200 OK, the ACL back to private
    assert len(s3.get_bucket_acl(Bucket=bucket)["Grants"]) == 1
    s3.create_bucket(Bucket=bucket, ACL="public-read")
    assert len(s3.get_bucket_acl(Bucket=bucket)["Grants"]) == 2
