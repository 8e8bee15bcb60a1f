"""One S3 request as the handlers see it: bucket, key, query and headers.

Path-style addressing (``/bucket/key``) always works; a ``Host`` of the form
``bucket.localhost[:port]`` (virtual-hosted style, as a browser or an SDK
configured for it sends) names the bucket too, and the whole path is the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from starlette.types import Receive, Scope

from montemap.s3api.errors import S3Error


@dataclass
class S3Request:
    """What a handler needs from the ASGI scope; ``path`` and ``raw_query`` are as sent.

    ``headers`` maps lowercased names to values (repeated headers joined with
    commas); ``raw_headers`` are the scope's, for the signature check.
    """

    method: str
    path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_headers: list[tuple[bytes, bytes]]
    bucket: str
    key: str
    receive: Receive
    #: The client's address (event notifications name it).
    client_ip: str = ""
    #: The ``x-amz-request-id`` the answer carries (an event message names it too).
    request_id: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    @property
    def header_list(self) -> list[tuple[str, str]]:
        """Every header as sent, in order (names lowercased)."""
        return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in self.raw_headers]

    def object_url(self, key: str) -> str:
        """An object's URL on this server, as S3 names it in a ``Location`` (its host, the
        bucket in the path unless the host names it)."""
        host = self.headers.get("host", "localhost")
        path = quote(key, safe="/~")
        if host.startswith(f"{self.bucket}."):
            return f"http://{host}/{path}"
        return f"http://{host}/{quote(self.bucket)}/{path}"

    @property
    def resource(self) -> str:
        """The resource as error bodies name it (``/bucket/key``)."""
        if not self.bucket:
            return "/"
        return f"/{self.bucket}/{self.key}" if self.key else f"/{self.bucket}"


def parse_request(scope: Scope, receive: Receive) -> S3Request:
    """The request in ``scope``; S3's ``InvalidURI``-like errors for a path it cannot hold."""
    raw_headers = scope["headers"]
    # ASGI servers lowercase header names (the ASGI spec requires it); one dict
    # comprehension serves the common case of no repeated header (a boto3
    # request has about twelve).
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers}
    if len(headers) != len(raw_headers):
        headers = _joined(raw_headers)
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    path = path.split("?", 1)[0]
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query = dict(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
    try:
        decoded = unquote(path, errors="strict") if "%" in path else path
    except UnicodeDecodeError:
        raise S3Error("InvalidArgument", "the request path is not valid UTF-8 once decoded")
    bucket, key = _virtual_bucket(headers.get("host", ""), decoded)
    return S3Request(
        method=scope["method"],
        path=path,
        raw_query=raw_query,
        query=query,
        headers=headers,
        raw_headers=raw_headers,
        bucket=bucket,
        key=key,
        receive=receive,
        client_ip=str((scope.get("client") or ("",))[0]),
    )


def _joined(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers by lowercased name, repeated ones joined with commas (as HTTP allows)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def _virtual_bucket(host: str, decoded_path: str) -> tuple[str, str]:
    """``(bucket, key)`` from the Host (``bucket.localhost``) or else the path."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name.endswith(".localhost") and len(name) > len(".localhost"):
        return name[: -len(".localhost")], decoded_path[1:]
    bucket, _, key = decoded_path[1:].partition("/")
    return bucket, key
