"""The POST policy of a form upload (POST Object): its signature, expiry and conditions.

A policy is a base64 JSON document, ``{"expiration": <ISO 8601>, "conditions": [...]}``,
signed with SigV4 (``x-amz-signature``: the hex HMAC-SHA256 of the base64 text under
the signing key of ``x-amz-credential``'s scope) or version 2 (``signature``: the base64
HMAC-SHA1 under the secret key of ``AWSAccessKeyId``). Conditions, as S3 checks them:

- ``{"name": "value"}`` and ``["eq", "$name", "value"]``: the field is exactly that;
- ``["starts-with", "$name", "prefix"]``: the field starts with it (``""``: anything);
- ``["content-length-range", min, max]``: the file's size, in bytes, inclusive.

``bucket`` is matched against the bucket posted to. Every field of the form but the
policy, the signatures, the file, ``AWSAccessKeyId`` and ``x-ignore-*`` fields must
be named by a condition. Field names match case-insensitively.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from montemap.api import sigv4
from montemap.s3api.errors import S3Error

#: Form fields that no condition needs to name.
EXEMPT = frozenset({"policy", "x-amz-signature", "signature", "file", "awsaccesskeyid"})
_ALGORITHM = "AWS4-HMAC-SHA256"


def _denied(why: str) -> S3Error:
    return S3Error("AccessDenied", f"Invalid according to Policy: {why}")


def _invalid(why: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {why}")


def check_signature(
    fields: Mapping[str, str], secret_for: Callable[[str], str | None], region: str
) -> None:
    """Accept the policy's signature (SigV4 or version 2) by one of the server's keys."""
    policy = fields.get("policy")
    if policy is None:
        raise S3Error(
            "AccessDenied",
            "Access Denied: this server requires a form upload to carry a policy signed by "
            "one of its access keys",
        )
    if "x-amz-signature" in fields:
        algorithm = fields.get("x-amz-algorithm", "")
        if algorithm != _ALGORITHM:
            raise S3Error(
                "InvalidArgument", f"x-amz-algorithm must be {_ALGORITHM}, not {algorithm!r}"
            )
        scope = fields.get("x-amz-credential", "").split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise S3Error(
                "InvalidArgument",
                "x-amz-credential must be <key id>/<yyyymmdd>/<region>/s3/aws4_request",
            )
        key_id, date, scope_region, service = scope[:4]
        if scope_region != region or service != "s3":
            raise S3Error(
                "AuthorizationHeaderMalformed",
                f"the credential's scope names {scope_region}/{service}; this server is "
                f"{region}/s3",
            )
        key = sigv4.signing_key(_secret(secret_for, key_id), date, region, service)
        expected = sigv4.sign(key, policy)
        given = fields["x-amz-signature"]
    elif "signature" in fields and "awsaccesskeyid" in fields:
        secret = _secret(secret_for, fields["awsaccesskeyid"])
        digest = hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()
        expected, given = base64.b64encode(digest).decode(), fields["signature"]
    else:
        raise S3Error(
            "AccessDenied",
            "Access Denied: the form names no signature (x-amz-signature, or signature and "
            "AWSAccessKeyId)",
        )
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise S3Error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )


def _secret(secret_for: Callable[[str], str | None], key_id: str) -> str:
    secret = secret_for(key_id)
    if secret is None:
        raise S3Error(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    return secret


def check_policy(fields: Mapping[str, str], bucket: str, size: int, now: datetime) -> None:
    """Hold the form (``fields``, names lowercased; the file's ``size``) to its policy."""
    policy = fields.get("policy")
    if policy is None:
        return  # an unsigned upload without a policy: nothing to hold it to
    document = _document(policy)
    _check_expiration(document.get("expiration"), now)
    conditions = document.get("conditions")
    if not isinstance(conditions, list):
        raise _invalid("Policy missing conditions.")
    named = set()
    values = {**fields, "bucket": bucket}
    for condition in conditions:
        name = _check_condition(condition, values, size)
        if name is not None:
            named.add(name)
    for name in fields:
        if name not in named and name not in EXEMPT and not name.startswith("x-ignore-"):
            raise _denied(f"Extra input fields: {name}")


def _document(policy: str) -> dict[str, Any]:
    try:
        document = json.loads(base64.b64decode(policy, validate=True))
    except (binascii.Error, ValueError):
        raise _invalid("the policy is not base64-encoded JSON") from None
    if not isinstance(document, dict):
        raise _invalid("the policy is not a JSON object")
    return document


def _check_expiration(value: object, now: datetime) -> None:
    if not isinstance(value, str):
        raise _invalid("Policy missing expiration.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if now > moment:
        raise _denied("Policy expired.")


def _check_condition(condition: object, values: Mapping[str, str], size: int) -> str | None:
    """Check one condition; the (lowercased) field it names (``None``: the file's size)."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((raw_name, expected),) = condition.items()
        op, name = "eq", str(raw_name).lower()
    elif isinstance(condition, list) and len(condition) == 3:
        op = str(condition[0]).lower()
        if op == "content-length-range":
            _check_length(condition, size)
            return None
        if op not in ("eq", "starts-with") or not str(condition[1]).startswith("$"):
            raise _invalid(f"Invalid condition: {json.dumps(condition)}")
        name, expected = str(condition[1])[1:].lower(), condition[2]
    else:
        raise _invalid(f"Invalid condition: {json.dumps(condition)}")
    if not isinstance(expected, str):
        raise _invalid(f"Invalid condition: {json.dumps(condition)}")
    value = values.get(name, "")
    held = value == expected if op == "eq" else value.startswith(expected)
    if not held:
        shown = json.dumps(condition if isinstance(condition, list) else [op, f"${name}", expected])
        raise _denied(f"Policy Condition failed: {shown}")
    return name


def _check_length(condition: list[Any], size: int) -> None:
    low, high = condition[1], condition[2]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (low, high)):
        raise _invalid(f"Invalid content-length-range: {json.dumps(condition)}")
    if size < low:
        raise S3Error(
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            details={"ProposedSize": str(size), "MinSizeAllowed": str(low)},
        )
    if size > high:
        raise S3Error(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            details={"ProposedSize": str(size), "MaxSizeAllowed": str(high)},
        )
