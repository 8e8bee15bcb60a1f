"""SigV4 signatures for the worker's Step Functions requests (JSON 1.0 POSTs).

The same process as botocore's ``SigV4Auth`` (``botocore.auth``), for the
one request shape the worker sends: ``POST <path>`` with no query string and
the headers ``Host``, ``X-Amz-Date``, ``X-Amz-Target``, ``Content-Type`` and,
with temporary credentials, ``X-Amz-Security-Token``, all of them signed.
``tests/worker/test_sfn_signing.py`` checks that both give the same
``Authorization`` header. Done here because botocore's signer needs
botocore's request objects and costs far more CPU per request than the
hashing itself; the signing key is derived once per key, day and region.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
#: The SigV4 service name of Step Functions.
SERVICE = "states"


class FrozenCredentials(NamedTuple):
    """One consistent set of keys (botocore's ``ReadOnlyCredentials`` has the same fields)."""

    access_key: str
    secret_key: str
    token: str | None = None


@lru_cache(maxsize=16)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The derived key of ``secret_key`` for one day (``YYYYMMDD``), region and service."""
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_path(path: str) -> str:
    """The canonical URI of a request path, as SigV4 wants it (each byte encoded once)."""
    return quote(path or "/", safe="/~")


def signed_headers(
    credentials: FrozenCredentials,
    *,
    region: str,
    host: str,
    path: str,
    target: str,
    content_type: str,
    body: bytes,
    amz_date: str,
    service: str = SERVICE,
) -> dict[str, str]:
    """The request's headers, ``Authorization`` included, for a POST of ``body``.

    ``amz_date`` is the request time as ``YYYYMMDDTHHMMSSZ`` (UTC).
    """
    headers = {
        "content-type": content_type,
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-target": target,
    }
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    names = sorted(headers)
    canonical = "\n".join(
        (
            "POST",
            canonical_path(path),
            "",
            "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        )
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/{TERMINATOR}"
    to_sign = "\n".join(
        (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = signing_key(credentials.secret_key, date, region, service)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers
