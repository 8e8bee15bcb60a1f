"""Server-side encryption as S3 names it: recorded and answered, never applied.

Since January 2023 S3 encrypts every new object with S3-managed keys (SSE-S3,
``AES256``) unless the request names another encryption, and says so in an
``x-amz-server-side-encryption`` response header on PutObject, CopyObject,
CreateMultipartUpload, GetObject and HeadObject. montemap's objects are files
under the data directory, encrypted by nothing here; the encryption a request
names is checked as S3 checks it, kept with the object and answered back, as
the storage class is (docs/s3.md). KMS is not served: a KMS key id is kept as
given, never looked up. Customer-provided keys (SSE-C) cannot be honoured
without encrypting (S3 answers nothing without the key): they are refused,
never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

from montemap.s3api.errors import S3Error
from montemap.s3api.response import S3Response

#: The header that names an object's encryption algorithm.
SSE = "x-amz-server-side-encryption"
KMS_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"
CONTEXT = "x-amz-server-side-encryption-context"
#: S3-managed keys: every object's encryption unless the request names another.
DEFAULT = "AES256"
ALGORITHMS = frozenset({DEFAULT, "aws:kms", "aws:kms:dsse"})
#: What is kept with an object put with a KMS algorithm, and answered on GET and HEAD.
RECORDED = (SSE, KMS_KEY_ID, BUCKET_KEY)
#: Headers of customer-provided keys (SSE-C), for the object or a copy's source.
_CUSTOMER = ("x-amz-server-side-encryption-customer-", "x-amz-copy-source-server-side-encryption-")


def names_encryption(name: str) -> bool:
    """Whether the (lowercased) header ``name`` is about server-side encryption."""
    return name.startswith(SSE) or name.startswith(_CUSTOMER[1])


def encryption_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What a write keeps of the encryption its ``headers`` name (nothing for SSE-S3).

    As S3: an algorithm other than ``AES256``, ``aws:kms`` and ``aws:kms:dsse``, or a
    KMS key id or encryption context without a KMS algorithm, is ``InvalidArgument``.
    Customer-provided keys are ``NotImplemented``.
    """
    customer = sorted(name for name in headers if name.startswith(_CUSTOMER))
    if customer:
        raise S3Error(
            "NotImplemented",
            "A header you provided implies functionality that montemap does not implement: "
            f"{customer[0]} (server-side encryption with customer-provided keys, SSE-C: "
            "objects here are not encrypted, so the key could not be required to read them)",
        )
    algorithm = headers.get(SSE)
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise S3Error(
            "InvalidArgument",
            f"The encryption method specified is not supported: {algorithm!r} (one of "
            f"{', '.join(sorted(ALGORITHMS))})",
            details={"ArgumentName": SSE, "ArgumentValue": algorithm},
        )
    if algorithm is None or algorithm == DEFAULT:
        extra = next((name for name in (KMS_KEY_ID, CONTEXT) if name in headers), None)
        if extra is not None:
            raise S3Error(
                "InvalidArgument",
                f"{extra} is only valid with {SSE}: aws:kms or aws:kms:dsse",
                details={"ArgumentName": extra},
            )
        return {}
    kept = {name: headers[name] for name in RECORDED if name in headers}
    if BUCKET_KEY in kept:
        kept[BUCKET_KEY] = kept[BUCKET_KEY].strip().lower()
    return kept


def answer_encryption(response: S3Response, kept: Mapping[str, str], *, all_kept: bool) -> None:
    """Say how the object is encrypted: ``kept`` (an object's stored headers, or what a
    write keeps), else S3-managed keys. ``all_kept``: also answer the kept headers (a
    write's response; a GET answers an object's stored headers itself)."""
    if SSE not in kept:
        response.header(SSE, DEFAULT)
    elif all_kept:
        for name in RECORDED:
            if name in kept:
                response.header(name, kept[name])
