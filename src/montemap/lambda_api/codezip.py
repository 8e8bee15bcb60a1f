"""Deployment packages: check a zip before anything of it touches the disk, then unpack it.

Refused, with a message naming the entry: a file that is not a zip, more than
``MAX_ZIPPED`` bytes zipped or ``MAX_UNZIPPED`` unzipped (Lambda's quotas; a
zip bomb stops at the cap while it is being unpacked), more than
``MAX_ENTRIES`` entries, absolute names, ``..`` components, backslashes,
symbolic links and special files.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from montemap.lambda_api.errors import LambdaError, invalid, too_large

#: Largest zip accepted in a request (Lambda's direct-upload quota).
MAX_ZIPPED = 50 * 1024 * 1024
#: Largest unpacked size (Lambda's quota for a function and its layers).
MAX_UNZIPPED = 250 * 1024 * 1024
MAX_ENTRIES = 20_000
_CHUNK = 1 << 16


@dataclass(frozen=True)
class CodeInfo:
    """What the API reports about a package: its size and base64 SHA-256."""

    size: int
    sha256: str


def code_info(data: bytes) -> CodeInfo:
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    return CodeInfo(size=len(data), sha256=digest)


def _bad(message: str) -> LambdaError:
    return invalid(f"Could not unzip uploaded file: {message}")


def check_entries(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's entries, each checked; raises on the first bad one."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise _bad(f"the zip has {len(entries)} entries; at most {MAX_ENTRIES} are accepted")
    declared = 0
    for entry in entries:
        name = entry.filename
        kind = stat.S_IFMT(entry.external_attr >> 16)  # 0: the zip tool did not say
        path = PurePosixPath(name)
        if "\\" in name or path.is_absolute() or ".." in path.parts or ":" in path.parts[0:1]:
            raise _bad(f"entry '{name}' points outside the function's directory")
        if kind == stat.S_IFLNK:
            raise _bad(f"entry '{name}' is a symbolic link; links are not accepted")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _bad(f"entry '{name}' is not a regular file or directory")
        if entry.flag_bits & 0x1:
            raise _bad(f"entry '{name}' is encrypted")
        declared += entry.file_size
        if declared > MAX_UNZIPPED:
            raise _unzipped_too_large()
    return entries


def _unzipped_too_large() -> LambdaError:
    return invalid(
        f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes "
        "(the deployment package unpacks to more)"
    )


def open_zip(data: bytes) -> zipfile.ZipFile:
    if len(data) > MAX_ZIPPED:
        raise too_large(
            f"Request must be smaller than {MAX_ZIPPED} bytes for the CreateFunction operation"
        )
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _bad(f"the code is not a valid zip file ({exc})")


def validate(data: bytes) -> CodeInfo:
    """Check a package without unpacking it; its size and hash."""
    with open_zip(data) as archive:
        check_entries(archive)
    return code_info(data)


def unpack(data: bytes, target: Path) -> None:
    """Unpack a checked package into ``target`` (replaced whole, never half-written)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        with open_zip(data) as archive:
            written = 0
            for entry in check_entries(archive):
                written = _extract(archive, entry, staging, written)
        old = target.with_name(target.name + ".old")
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _extract(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, root: Path, written: int) -> int:
    dest = root.joinpath(*PurePosixPath(entry.filename).parts)
    try:
        if entry.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            return written
        dest.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(entry) as src, open(dest, "wb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > MAX_UNZIPPED:
                    raise _unzipped_too_large()
                out.write(chunk)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        # 'a' and 'a/b' (either order), 'a/' and 'a': the server's paths stay out of it
        raise _bad(f"entry '{entry.filename}' is both a file and a directory in the zip")
    except OSError as exc:
        raise _bad(f"entry '{entry.filename}' cannot be written ({exc.strerror or exc})")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise _bad(f"entry '{entry.filename}' cannot be read ({exc})")
    mode = entry.external_attr >> 16
    os.chmod(dest, 0o755 if mode & 0o111 else 0o644)
    return written
