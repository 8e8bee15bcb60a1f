"""S3's errors: a code, a message, an HTTP status, rendered as S3's ``<Error>`` XML."""

from __future__ import annotations

from montemap.errors import ApiError, MontemapError
from montemap.storage import ObjectStoreError

#: HTTP status of each S3 error code montemap sends.
STATUS: dict[str, int] = {
    "AccessDenied": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "BadDigest": 400,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooSmall": 400,
    "IllegalLocationConstraintException": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidKey": 400,
    "InvalidObjectState": 403,
    "InvalidLocationConstraint": 400,
    "InvalidPart": 400,
    "InvalidPartNumber": 416,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "KeyTooLongError": 400,
    "MalformedACLError": 400,
    "MalformedXML": 400,
    "MetadataTooLarge": 400,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchTagSet": 404,
    "NoSuchUpload": 404,
    "NotImplemented": 501,
    "PreconditionFailed": 412,
    "RequestTimeTooSkewed": 403,
    "SignatureDoesNotMatch": 403,
    "XAmzContentSHA256Mismatch": 400,
}

#: The S3 code for each SigV4 refusal of :mod:`montemap.api.sigv4`.
_AUTH_CODES = {
    "MissingAuthenticationTokenException": "AccessDenied",
    "IncompleteSignatureException": "AuthorizationHeaderMalformed",
    "UnrecognizedClientException": "InvalidAccessKeyId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
}


class S3Error(MontemapError):
    """A refused S3 request; ``bucket``/``key`` name the resource in the error body."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        bucket: str = "",
        key: str = "",
        details: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS.get(code, 400)
        self.bucket = bucket
        self.key = key
        self.details = details or {}  # more elements of the <Error> document
        self.headers = headers or {}  # more response headers


#: S3's own messages for the errors clients most often match on.
_MESSAGES = {
    "NoSuchKey": "The specified key does not exist.",
    "NoSuchBucket": "The specified bucket does not exist",
    "NoSuchUpload": "The specified upload does not exist. The upload ID may be invalid, "
    "or the upload may have been aborted or completed.",
}


def from_store_error(exc: ObjectStoreError) -> S3Error:
    """The S3 error for an object store failure (the store's codes are S3's)."""
    code = exc.code if exc.code in STATUS else "InternalError"
    if exc.code == "InvalidKey" and "bytes long" in str(exc):
        code = "KeyTooLongError"
    return S3Error(code, _MESSAGES.get(code, str(exc)), bucket=exc.bucket, key=exc.key)


def from_auth_error(exc: ApiError) -> S3Error:
    """The S3 error for a SigV4 refusal."""
    code = _AUTH_CODES.get(exc.code, "AccessDenied")
    if code == "SignatureDoesNotMatch" and exc.message.startswith("Signature "):
        code = "RequestTimeTooSkewed" if "expired" in exc.message else "AccessDenied"
    return S3Error(code, exc.message)


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", bucket=bucket)


def not_implemented(what: str) -> S3Error:
    return S3Error(
        "NotImplemented",
        f"A header or query you provided implies functionality that montemap does not "
        f"implement: {what} (docs/s3.md lists what is served)",
    )
