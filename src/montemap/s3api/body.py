"""Request bodies: read once, small ones in memory, large ones spooled to disk.

:class:`Payload` is what a request sent; :func:`decode_payload` turns it into
the object's bytes: it undoes ``Content-Encoding: aws-chunked`` (the SDKs'
streaming uploads, signed chunk by chunk or unsigned with checksum trailers),
checks ``x-amz-content-sha256`` when it is a hash, ``Content-MD5`` and the
``x-amz-checksum-*`` value (header or trailer) of the algorithms Python
computes (CRC32, SHA-1, SHA-256; CRC32C and CRC64NVME are accepted unchecked,
if well formed). The checksum sent is kept in :attr:`Payload.checksums`, to be
stored with the object.
A signed stream's chunks are checked by a :class:`ChunkCheck`, and so is its
trailer when ``x-amz-content-sha256`` announces a signed one
(``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``: ``x-amz-trailer-signature``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from starlette.types import Receive

from montemap.s3api.errors import S3Error

#: Bodies up to this size stay in memory; larger ones go to a temporary file.
MEMORY_LIMIT = 16 * 1024 * 1024
STREAMING_PREFIX = "STREAMING-"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: The ``x-amz-content-sha256`` of a stream whose chunks and trailer are signed.
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
TRAILER_SIGNATURE = "x-amz-trailer-signature"


class ChunkCheck(Protocol):
    """The signature chain of a signed stream (each check raises :class:`S3Error`)."""

    def chunk(self, signature: str, chunk_hash: str) -> None:
        """One chunk: the signature sent and the SHA-256 hex of the chunk's data."""

    def trailer(self, canonical: str, signature: str) -> None:
        """The trailer: its headers as ``name:value\\n`` lines (sorted), and its signature."""


@dataclass
class Payload:
    """A body: ``data`` when it is in memory, else ``file`` (positioned anywhere)."""

    data: bytes | None
    file: BinaryIO | None
    size: int
    #: The ``x-amz-checksum-<algorithm>`` value sent (header or trailer), checked.
    checksums: dict[str, str] = field(default_factory=dict)

    def stream(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.file is not None
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def read_payload(receive: Receive) -> Payload:
    """The whole request body (in memory up to :data:`MEMORY_LIMIT`)."""
    chunks: list[bytes] = []
    size = 0
    spool: BinaryIO | None = None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise S3Error("IncompleteBody", "the client closed the connection mid-request")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if spool is not None:
            spool.write(chunk)
        elif size > MEMORY_LIMIT:
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Payload.close
            for held in chunks:
                spool.write(held)
            spool.write(chunk)
            chunks.clear()
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if spool is not None:
        return Payload(None, spool, size)
    return Payload(chunks[0] if len(chunks) == 1 else b"".join(chunks), None, size)


def decode_payload(
    payload: Payload,
    headers: dict[str, str],
    chunk_check: ChunkCheck | None,
    *,
    body_checksums: bool = True,
) -> Payload:
    """The object's bytes from the body as sent, with every integrity check passed.

    ``body_checksums=False``: the request's ``x-amz-checksum-*`` headers are not the
    body's (CompleteMultipartUpload's name the object's) and are left alone.
    """
    content_sha = headers.get("x-amz-content-sha256", "")
    trailers: dict[str, str] = {}
    if len(content_sha) == 64 and content_sha.lower() != _sha256(payload):
        raise S3Error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    if content_sha.startswith(STREAMING_PREFIX) or _is_aws_chunked(headers):
        payload, trailers = _decode_chunked(payload, chunk_check)
        if chunk_check is not None and content_sha == SIGNED_TRAILER:
            _check_trailer(trailers, chunk_check)
        declared = headers.get("x-amz-decoded-content-length")
        if declared is not None and declared.isdigit() and int(declared) != payload.size:
            raise S3Error(
                "IncompleteBody",
                f"the chunks hold {payload.size} bytes; x-amz-decoded-content-length "
                f"says {declared}",
            )
    _check_md5(payload, headers.get("content-md5"))
    if body_checksums:
        fields = {**headers, **trailers} if trailers else headers
        payload.checksums = _check_checksums(payload, fields)
    return payload


def _is_aws_chunked(headers: dict[str, str]) -> bool:
    encoding = headers.get("content-encoding", "")
    return "aws-chunked" in (part.strip() for part in encoding.split(","))


def _decode_chunked(
    payload: Payload, chunk_check: ChunkCheck | None
) -> tuple[Payload, dict[str, str]]:
    source = payload.stream()
    in_memory = payload.data is not None
    out: BinaryIO = io.BytesIO() if in_memory else tempfile.TemporaryFile()  # noqa: SIM115
    size = 0
    try:
        while True:
            line = source.readline(4096)
            if not line.endswith(b"\r\n"):
                raise _malformed("a chunk header line is not terminated by CRLF")
            header = line[:-2].decode("latin-1")
            size_text, _, extension = header.partition(";")
            try:
                length = int(size_text, 16)
            except ValueError:
                raise _malformed(f"chunk size {size_text!r} is not hexadecimal")
            data = source.read(length)
            if len(data) != length:
                raise S3Error("IncompleteBody", "the body ended inside a chunk")
            if chunk_check is not None:
                signature = extension.partition("chunk-signature=")[2]
                chunk_check.chunk(signature, hashlib.sha256(data).hexdigest())
            if length == 0:
                return Payload(
                    out.getvalue() if isinstance(out, io.BytesIO) else None,
                    None if in_memory else out,
                    size,
                ), _trailers(source)
            out.write(data)
            size += length
            if source.read(2) != b"\r\n":
                raise _malformed("a chunk's data is not followed by CRLF")
    except BaseException:
        if not in_memory:
            out.close()
        raise


def _trailers(source: BinaryIO) -> dict[str, str]:
    trailers: dict[str, str] = {}
    while True:
        line = source.readline(8192)
        text = line.decode("latin-1").strip()
        if not text:
            return trailers
        name, _, value = text.partition(":")
        trailers[name.strip().lower()] = value.strip()


def _check_trailer(trailers: dict[str, str], chunk_check: ChunkCheck) -> None:
    """The trailer's own signature (``x-amz-trailer-signature``), over its other headers."""
    signature = trailers.pop(TRAILER_SIGNATURE, None)
    if signature is None:
        raise S3Error(
            "SignatureDoesNotMatch",
            f"the body's trailer has no {TRAILER_SIGNATURE}, which {SIGNED_TRAILER} requires",
        )
    canonical = "".join(f"{name}:{value}\n" for name, value in sorted(trailers.items()))
    chunk_check.trailer(canonical, signature)


def _malformed(why: str) -> S3Error:
    return S3Error("InvalidRequest", f"malformed aws-chunked body: {why}")


def _digest(payload: Payload, make: Callable[[], hashlib._Hash]) -> bytes:
    if payload.data is not None:
        digest = make()
        digest.update(payload.data)
        return digest.digest()
    digest = make()
    stream = payload.stream()
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest.digest()


def _sha256(payload: Payload) -> str:
    return _digest(payload, hashlib.sha256).hex()


def _crc32(payload: Payload) -> bytes:
    if payload.data is not None:
        value = zlib.crc32(payload.data)
    else:
        value = 0
        stream = payload.stream()
        while chunk := stream.read(1 << 20):
            value = zlib.crc32(chunk, value)
    return value.to_bytes(4, "big")


def _check_md5(payload: Payload, content_md5: str | None) -> None:
    if content_md5 is None:
        return
    try:
        expected = base64.b64decode(content_md5, validate=True)
    except ValueError:
        raise S3Error("InvalidDigest", "The Content-MD5 you specified was not valid base64.")
    if len(expected) != 16:
        raise S3Error("InvalidDigest", "The Content-MD5 you specified is not 16 bytes.")
    if _digest(payload, lambda: hashlib.md5(usedforsecurity=False)) != expected:
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")


_COMPUTED: dict[str, Callable[[Payload], bytes]] = {
    "crc32": _crc32,
    "sha1": lambda p: _digest(p, lambda: hashlib.sha1(usedforsecurity=False)),
    "sha256": lambda p: _digest(p, hashlib.sha256),
}


#: S3's checksum algorithms and the size of each one's value, in bytes.
CHECKSUM_SIZES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}


def _check_checksums(payload: Payload, fields: dict[str, str]) -> dict[str, str]:
    """The checksum sent, as ``{"x-amz-checksum-<algorithm>": value}``, once checked.

    As S3: one algorithm at most (``InvalidRequest``), its value the base64 of a
    value of the algorithm's size (``InvalidRequest``), equal to the one computed
    (``BadDigest``) where Python computes it.
    """
    sent = {
        name: fields[name]
        for name in (f"x-amz-checksum-{algorithm}" for algorithm in CHECKSUM_SIZES)
        if name in fields
    }
    if not sent:
        return sent
    if len(sent) > 1:
        raise S3Error(
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    ((name, value),) = sent.items()
    algorithm = name[len("x-amz-checksum-") :]
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != CHECKSUM_SIZES[algorithm]:
        raise S3Error("InvalidRequest", f"Value for {name} header is invalid.")
    compute = _COMPUTED.get(algorithm)
    if compute is not None and compute(payload) != raw:
        raise S3Error(
            "BadDigest",
            f"The {algorithm.upper()} you specified did not match the calculated checksum.",
        )
    return sent
