"""A bucket's default encryption (``?encryption``): S3-managed keys, the one default here.

Since January 2023 every S3 bucket has a default encryption, SSE-S3 (``AES256``)
unless set otherwise; GetBucketEncryption answers it. montemap's buckets have
that default and no other (objects are not encrypted here, ``encryption.py``):
GetBucketEncryption answers it, PutBucketEncryption of SSE-S3 is taken (it is
the state already), DeleteBucketEncryption returns a bucket to it; a default of
SSE-KMS or DSSE-KMS would have to be applied to every later write and is
refused (``NotImplemented``) rather than accepted and not applied.
"""

from __future__ import annotations

from montemap.s3api.context import S3Context
from montemap.s3api.encryption import ALGORITHMS, DEFAULT
from montemap.s3api.errors import S3Error, no_such_bucket, not_implemented
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.s3api.xmlio import document, el, parse

_DEFAULT_RULE = (
    "<Rule><ApplyServerSideEncryptionByDefault>"
    + el("SSEAlgorithm", DEFAULT)
    + "</ApplyServerSideEncryptionByDefault>"
    + el("BucketKeyEnabled", False)
    + "</Rule>"
)


async def serve(ctx: S3Context, req: S3Request, body: bytes | None) -> S3Response:
    """GET, PUT or DELETE ``?encryption`` on a bucket."""
    if req.key:
        raise S3Error("InvalidRequest", "?encryption is a bucket sub-resource, not an object's")
    if not await ctx.call(ctx.store.bucket_exists, req.bucket):
        raise no_such_bucket(req.bucket)
    if req.method == "GET":
        return xml_response(document("ServerSideEncryptionConfiguration", _DEFAULT_RULE))
    if req.method == "PUT":
        _check_default(body)
        return S3Response(200)
    if req.method == "DELETE":
        return S3Response(204)
    raise S3Error(
        "MethodNotAllowed",
        f"The specified method ({req.method}) is not allowed against ?encryption.",
    )


def _check_default(body: bytes | None) -> None:
    """Take a ``ServerSideEncryptionConfiguration`` of SSE-S3; refuse another default."""
    root = parse(body or b"")
    rules = root.findall("Rule")
    if root.tag != "ServerSideEncryptionConfiguration" or not rules:
        raise S3Error(
            "MalformedXML", "expected <ServerSideEncryptionConfiguration><Rule>...</Rule>"
        )
    for rule in rules:
        default = rule.find("ApplyServerSideEncryptionByDefault")
        if default is None:
            default = rule.makeelement("ApplyServerSideEncryptionByDefault", {})
        algorithm = default.find("SSEAlgorithm")
        value = (algorithm.text or "").strip() if algorithm is not None else ""
        if value not in ALGORITHMS:
            raise S3Error(
                "MalformedXML",
                "each <Rule> needs <ApplyServerSideEncryptionByDefault><SSEAlgorithm> of "
                f"{', '.join(sorted(ALGORITHMS))}",
            )
        if value != DEFAULT or default.find("KMSMasterKeyID") is not None:
            raise not_implemented(
                f"a bucket default encryption of {value} (only S3-managed keys, AES256, are "
                "a bucket's default here; name a KMS encryption on each write instead)"
            )
