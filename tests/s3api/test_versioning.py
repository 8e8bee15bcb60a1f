"""Bucket versioning state, the refusal of Enabled, and the objects' ``null`` versions."""

from __future__ import annotations

from typing import Any

from tests.s3api.test_tagging import code_of, error_code, raw


def test_versioning_state(s3: Any, bucket: str) -> None:
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in answer and "MFADelete" not in answer
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    refused = code_of(
        s3.put_bucket_versioning, Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    assert refused == "NotImplemented"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert code_of(s3.get_bucket_versioning, Bucket="no-such-bucket-v") == "NoSuchBucket"


def test_enabled_is_refused_with_a_reason(s3_server: Any, bucket: str) -> None:
    body = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
    status, answer = raw(s3_server.url, "PUT", f"/{bucket}?versioning", body)
    assert status == 501
    assert error_code(answer) == "NotImplemented"
    assert b"versioned storage is not available" in answer


def test_malformed_versioning(s3_server: Any, bucket: str) -> None:
    for body in (
        b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>",
        b"<VersioningConfiguration/>",
        b"<Versioning><Status>Suspended</Status></Versioning>",
        b"",
    ):
        status, answer = raw(s3_server.url, "PUT", f"/{bucket}?versioning", body)
        assert (status, error_code(answer)) == (400, "MalformedXML"), body


def test_null_versions(s3: Any, bucket: str) -> None:
    for key in ("a", "dir/b", "dir/c", "z"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [
        (k, "null", True) for k in ("a", "dir/b", "dir/c", "z")
    ]
    assert listed["Versions"][0]["ETag"] == s3.head_object(Bucket=bucket, Key="a")["ETag"]
    grouped = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in grouped["Versions"]] == ["a", "z"]
    assert grouped["CommonPrefixes"] == [{"Prefix": "dir/"}]
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert page["IsTruncated"] and page["NextKeyMarker"] == "dir/b"
    rest = s3.list_object_versions(
        Bucket=bucket, KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"]
    )
    assert [v["Key"] for v in rest["Versions"]] == ["dir/c", "z"]
    got = s3.get_object(Bucket=bucket, Key="a", VersionId="null")
    assert got["Body"].read() == b"a" and got["VersionId"] == "null"
    assert s3.head_object(Bucket=bucket, Key="a", VersionId="null")["ContentLength"] == 1
    assert code_of(s3.get_object, Bucket=bucket, Key="a", VersionId="v1") == "InvalidArgument"
    s3.delete_object(Bucket=bucket, Key="a", VersionId="null")
    assert code_of(s3.head_object, Bucket=bucket, Key="a") == "404"
    # the usual way to empty a bucket before deleting it works
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]},
    )
    s3.delete_bucket(Bucket=bucket)


def test_delete_objects_with_a_version_id_deletes_only_the_null_version(
    s3: Any, bucket: str
) -> None:
    """A version other than ``null`` is not the object: it is reported, never deleted."""
    s3.put_object(Bucket=bucket, Key="kept", Body=b"k")
    s3.put_object(Bucket=bucket, Key="gone", Body=b"g")
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "kept", "VersionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"},
                {"Key": "gone", "VersionId": "null"},
            ]
        },
    )
    assert [e["Key"] for e in result.get("Errors", [])] == ["kept"]
    assert result["Errors"][0]["Code"] in ("NoSuchVersion", "InvalidArgument")
    assert result["Deleted"] == [{"Key": "gone", "VersionId": "null"}]
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"k"


def test_copy_of_another_version_is_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"s")
    refused = code_of(
        s3.copy_object,
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src", "VersionId": "3HL4kqtJlcpXroDTDmJ"},
    )
    assert refused in ("NoSuchVersion", "InvalidArgument")
    assert code_of(s3.head_object, Bucket=bucket, Key="dst") == "404"
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "null"}
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"s"
