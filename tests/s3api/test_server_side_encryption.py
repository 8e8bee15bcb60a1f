"""Server-side encryption headers: S3-managed keys answered by default, a KMS encryption
kept and answered, SSE-C refused (objects here are not encrypted)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

SSE = "ServerSideEncryption"


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_every_object_is_answered_as_encrypted_with_s3_managed_keys(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="plain", Body=b"data")
    assert put[SSE] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="plain")[SSE] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="plain")
    assert (got[SSE], got["Body"].read()) == ("AES256", b"data")
    named = s3.put_object(Bucket=bucket, Key="named", Body=b"data", ServerSideEncryption="AES256")
    assert named[SSE] == "AES256"
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/plain")
    assert copied[SSE] == "AES256"
    started = s3.create_multipart_upload(Bucket=bucket, Key="parts")
    assert started[SSE] == "AES256"
    s3.abort_multipart_upload(Bucket=bucket, Key="parts", UploadId=started["UploadId"])


def test_a_kms_encryption_is_kept_and_answered(s3: Any, bucket: str) -> None:
    key_id = "arn:aws:kms:us-east-1:123456789012:key/0f4e1a52-7b67-4c3b-9e0e-2b1d0c9e5a11"
    put = s3.put_object(
        Bucket=bucket,
        Key="kms",
        Body=b"data",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key_id,
        BucketKeyEnabled=True,
    )
    assert (put[SSE], put["SSEKMSKeyId"], put["BucketKeyEnabled"]) == ("aws:kms", key_id, True)
    got = s3.get_object(Bucket=bucket, Key="kms")
    assert got["Body"].read() == b"data"
    for answer in (s3.head_object(Bucket=bucket, Key="kms"), got):
        assert (answer[SSE], answer["SSEKMSKeyId"], answer["BucketKeyEnabled"]) == (
            "aws:kms",
            key_id,
            True,
        )
    # a copy takes the encryption its request names, else S3-managed keys: never its source's
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/kms")
    head = s3.head_object(Bucket=bucket, Key="copy")
    assert (head[SSE], "SSEKMSKeyId" in head) == ("AES256", False)
    s3.copy_object(
        Bucket=bucket, Key="kms", CopySource=f"{bucket}/kms", ServerSideEncryption="AES256"
    )
    assert s3.head_object(Bucket=bucket, Key="kms")[SSE] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="kms")["Body"].read() == b"data"


def test_a_multipart_upload_keeps_the_encryption_it_was_started_with(
    s3: Any, bucket: str, tmp_path: Any
) -> None:
    source = tmp_path / "big"
    source.write_bytes(os.urandom(6 * 1024 * 1024))
    s3.upload_file(
        str(source),
        bucket,
        "big",
        ExtraArgs={"ServerSideEncryption": "aws:kms"},
        Config=TransferConfig(
            multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
        ),
    )
    head = s3.head_object(Bucket=bucket, Key="big")
    assert (head["ETag"].endswith('-2"'), head[SSE]) == (True, "aws:kms")


@pytest.mark.parametrize(
    "params",
    [
        {"ServerSideEncryption": "AES512"},
        {"SSEKMSKeyId": "alias/mine"},  # a KMS key without a KMS encryption
        {"ServerSideEncryption": "AES256", "SSEKMSKeyId": "alias/mine"},
    ],
)
def test_an_encryption_s3_refuses_is_refused(s3: Any, bucket: str, params: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", **params)
    assert error_code(exc) == "InvalidArgument"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_customer_provided_keys_are_refused_not_ignored(s3: Any, bucket: str) -> None:
    customer = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(32)}
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="secret", Body=b"data", **customer)
    assert error_code(exc) == "NotImplemented"
    assert "SSE-C" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="secret", **customer)
    assert error_code(exc) == "NotImplemented"
    s3.put_object(Bucket=bucket, Key="plain", Body=b"data")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="secret", CopySource=f"{bucket}/plain", **customer)
    assert error_code(exc) == "NotImplemented"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="secret")


def test_a_bucket_answers_s3_managed_keys_as_its_default_encryption(s3: Any, bucket: str) -> None:
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }
    ]
    s3_managed = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=s3_managed)
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=kms)
    assert error_code(exc) == "NotImplemented"
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_encryption(Bucket=f"{bucket}-missing")
    assert error_code(exc) == "NoSuchBucket"
