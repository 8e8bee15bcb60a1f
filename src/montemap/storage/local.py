"""Local directory backend: bucket ``B`` is ``<root>/B``, key ``k`` the file below it.

Writes are atomic (a temporary file in the target directory, then a rename),
so readers never see a half-written object. Nothing a key names, and no
symbolic link inside a bucket, can make a read or a write leave the bucket's
directory: every path is checked against the bucket's real path.

Differences from S3 that follow from using a file system: a bucket cannot
hold both an object ``a`` and objects under ``a/``; symbolic links to files
inside the bucket are objects, symbolic links to directories are not listed.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from montemap.storage.base import (
    BucketInfo,
    KeyPage,
    ListPage,
    ObjectInfo,
    ObjectMeta,
    ObjectStoreError,
    PartInfo,
)
from montemap.storage.local_keys import LONG, key_path
from montemap.storage.local_meta import (
    DEFERRED_RECORD,
    HashingWriter,
    encode_record,
    fallback_etag,
    read_part_sizes,
    read_record,
    store_part_sizes,
    store_record,
)
from montemap.storage.local_paths import (
    CREATE_FLAGS,
    READ_FLAGS,
    copy_unhashed,
    label_long,
    open_real,
    plain_dirs,
    remove_empty_tree,
    write_all,
)
from montemap.storage.local_uploads import LocalUploads
from montemap.storage.local_walk import (
    TMP_PREFIX,
    EscapesBucket,
    inside,
    object_stat,
    stale_tmp,
    walk_sorted,
)
from montemap.storage.names import (
    validate_bucket,
    validate_key,
    validate_listing,
    validate_object_key,
    validate_prefix,
)

__all__ = ["LocalObjectStore", "validate_bucket", "validate_key"]

#: Temporary names: the process id, a random part drawn once, and a counter (no
#: ``getrandom`` per write). ``O_EXCL`` still refuses a name that exists.
_tmp_names = itertools.count()
_tmp_random = secrets.token_hex(4)


def _tmp_name() -> str:
    return f"{TMP_PREFIX}{os.getpid():x}-{_tmp_random}-{next(_tmp_names):x}"


#: The system metadata that names an object's storage class (absent: STANDARD).
STORAGE_CLASS_HEADER = "x-amz-storage-class"

#: Permissions of written objects (rw-r--r--; mkstemp would leave rw-------).
_FILE_MODE = 0o644


class LocalObjectStore:
    """Buckets as directories under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.uploads = LocalUploads(self.root)
        self._real_root: str | None = None  # os.path.realpath(root), once it exists

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # ------------------------------------------------------------------ helpers
    def _bucket_dir(self, bucket: str, *, must_exist: bool = True) -> Path:
        validate_bucket(bucket)
        path = self.root / bucket
        if must_exist and not path.is_dir():
            raise ObjectStoreError(
                "NoSuchBucket", f"bucket {bucket!r} does not exist", bucket=bucket
            )
        return path

    def _path(self, bucket: str, key: str) -> tuple[Path, str]:
        """The object's path and the bucket's real path (symbolic links resolved)."""
        validate_object_key(key)
        bucket_dir = self._bucket_dir(bucket)
        return bucket_dir / key_path(key), os.path.realpath(bucket_dir)

    def _locate(self, bucket: str, key: str) -> tuple[str, str]:
        """The object's path and the bucket's real path, without pathlib on the common path.

        The root's real path is resolved once; a bucket directory that is a plain
        directory below it costs one ``lstat`` (a linked one: the general way).
        """
        validate_object_key(key)
        validate_bucket(bucket)
        real_root = self._real_root
        if real_root is None and self.root.is_dir():
            real_root = self._real_root = os.path.realpath(self.root)
        if real_root is not None:
            real_bucket = os.path.join(real_root, bucket)
            try:
                if stat.S_ISDIR(os.lstat(real_bucket).st_mode):
                    return os.path.join(real_bucket, key_path(key)), real_bucket
            except OSError:
                pass
        path, real_bucket = self._path(bucket, key)
        return str(path), real_bucket

    @staticmethod
    def _missing(bucket: str, key: str) -> ObjectStoreError:
        return ObjectStoreError(
            "NoSuchKey", f"no object s3://{bucket}/{key}", bucket=bucket, key=key
        )

    @staticmethod
    def _escapes(bucket: str, key: str) -> ObjectStoreError:
        return ObjectStoreError(
            "AccessDenied",
            f"s3://{bucket}/{key} resolves outside the bucket's directory (symbolic link)",
            bucket=bucket,
            key=key,
        )

    # ---------------------------------------------------------------- interface
    def create_bucket(self, bucket: str) -> None:
        self._bucket_dir(bucket, must_exist=False).mkdir(parents=True, exist_ok=True)

    def bucket_exists(self, bucket: str) -> bool:
        return self._bucket_dir(bucket, must_exist=False).is_dir()

    def list_buckets(self) -> list[BucketInfo]:
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        out = []
        for entry in entries:
            if entry.is_dir() and _valid_bucket(entry.name):
                out.append(BucketInfo(entry.name, entry.stat().st_mtime))
        return sorted(out, key=lambda b: b.name)

    def delete_bucket(self, bucket: str) -> None:
        base = self._bucket_dir(bucket)
        real_root = os.path.realpath(base)
        if next(walk_sorted(str(base), "", "", None, real_root), None) is not None:
            raise _not_empty(bucket, "it holds objects")
        if self.uploads.has_uploads(bucket):
            raise _not_empty(bucket, "it has multipart uploads in progress")
        try:  # only empty directories are left: remove them bottom-up, never an object
            for directory, _, files in os.walk(base, topdown=False):
                for name in files:  # the temporary file of a write killed midway
                    if not stale_tmp(name):
                        raise OSError(errno.ENOTEMPTY, name)
                    os.unlink(os.path.join(directory, name))
                os.rmdir(directory)
        except OSError:
            raise _not_empty(bucket, "it holds files that are not objects")
        self.uploads.remove_leftovers(bucket)

    def copy(
        self,
        src_bucket: str,
        src_key: str,
        bucket: str,
        key: str,
        *,
        meta: ObjectMeta | None = None,
    ) -> ObjectInfo:
        if meta is None:
            meta = _meta_of(self.head(src_bucket, src_key))
        with self.open(src_bucket, src_key) as source:
            self.put_stream(bucket, key, source, meta=meta)
        return self.head(bucket, key)

    def open(self, bucket: str, key: str) -> BinaryIO:
        fd, st = self._open_fd(bucket, key)
        # the buffer os.fdopen would choose, without asking whether a file is a terminal
        return os.fdopen(fd, "rb", buffering=st.st_blksize if st.st_blksize > 1 else -1)

    def _open_fd(self, bucket: str, key: str) -> tuple[int, os.stat_result]:
        """A read descriptor of the object and its stat; checked to be inside the bucket."""
        validate_object_key(key)
        validate_bucket(bucket)
        name = key_path(key)
        if self._real_root is not None and (found := open_real(self._real_root, bucket, name)):
            return found
        path, real_root = self._locate(bucket, key)
        try:
            fd = os.open(os.path.join(real_root, name), READ_FLAGS)
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # the last component is a link: the general way
                raise self._open_error(bucket, key, exc)
            return self._open_checked(path, real_root, bucket, key)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise self._missing(bucket, key)
            plain = "/" not in name or plain_dirs(real_root, name) is True
        except BaseException:
            os.close(fd)
            raise
        if plain:
            return fd, st
        os.close(fd)  # a linked directory on the way: check it the general way
        return self._open_checked(path, real_root, bucket, key)

    def _open_error(self, bucket: str, key: str, exc: OSError) -> ObjectStoreError:
        if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
            return self._missing(bucket, key)
        if exc.errno == errno.ENAMETOOLONG:  # a key no file can have: never written
            return self._missing(bucket, key)
        code = "AccessDenied" if isinstance(exc, PermissionError) else "InternalError"
        return ObjectStoreError(
            code, f"cannot read s3://{bucket}/{key}: {exc.strerror}", bucket=bucket, key=key
        )

    def _open_checked(
        self, path: str, real_root: str, bucket: str, key: str
    ) -> tuple[int, os.stat_result]:
        """Open following links, then check where the file really is."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise self._open_error(bucket, key, exc)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise self._missing(bucket, key)
            real = os.path.realpath(path)
            if not inside(real, real_root):
                raise self._escapes(bucket, key)
            if real != os.path.join(real_root, key_path(key)):
                # A symbolic link inside the bucket: make sure the file we hold
                # is the one the checked path names (no swap in between).
                again = os.stat(real)
                if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
                    raise self._escapes(bucket, key)
            return fd, st
        except BaseException:
            os.close(fd)
            raise

    def open_info(self, bucket: str, key: str) -> tuple[ObjectInfo, BinaryIO]:
        fd, st = self._open_fd(bucket, key)
        try:
            etag, meta = read_record(fd)
            stream = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        info = ObjectInfo(
            key,
            st.st_size,
            etag or fallback_etag(st),
            st.st_mtime,
            meta.headers.get(STORAGE_CLASS_HEADER, "STANDARD"),
            content_type=meta.content_type,
            metadata=meta.metadata,
            headers=meta.headers,
            tags=meta.tags,
            acl=meta.acl,
        )
        return info, stream

    def get(self, bucket: str, key: str) -> bytes:
        with self.open(bucket, key) as f:
            return f.read()

    def put(self, bucket: str, key: str, data: bytes, *, meta: ObjectMeta | None = None) -> str:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ObjectStoreError(
                "InvalidArgument", f"object data must be bytes, got {type(data).__name__}"
            )
        return self._write(bucket, key, None, meta, data=data)

    def put_no_etag(self, bucket: str, key: str, data: bytes) -> None:
        """As :meth:`put`, without the MD5: the ETag is computed when first asked for
        (HeadObject, GetObject, a listing) and kept (:mod:`montemap.storage.local_meta`)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ObjectStoreError(
                "InvalidArgument", f"object data must be bytes, got {type(data).__name__}"
            )
        self._write(bucket, key, None, None, data=data, defer_etag=True)

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, *, meta: ObjectMeta | None = None
    ) -> str:
        return self._write(bucket, key, lambda f: shutil.copyfileobj(stream, f, 1 << 20), meta)

    def put_stream_no_etag(self, bucket: str, key: str, stream: BinaryIO) -> None:
        """As :meth:`put_stream`, without the MD5 (see :meth:`put_no_etag`); a file is
        copied in the kernel."""
        self._write(bucket, key, None, None, stream=stream)

    def head(self, bucket: str, key: str) -> ObjectInfo:
        path, real_root = self._path(bucket, key)
        try:
            st = object_stat(path, real_root)
        except EscapesBucket:
            raise self._escapes(bucket, key)
        if st is None:
            raise self._missing(bucket, key)
        etag, meta = read_record(path)
        return ObjectInfo(
            key,
            st.st_size,
            etag or fallback_etag(st),
            st.st_mtime,
            meta.headers.get(STORAGE_CLASS_HEADER, "STANDARD"),
            content_type=meta.content_type,
            metadata=meta.metadata,
            headers=meta.headers,
            tags=meta.tags,
            acl=meta.acl,
        )

    # ------------------------------------------------------------- multipart
    def create_upload(self, bucket: str, key: str, *, meta: ObjectMeta | None = None) -> str:
        self._path(bucket, key)
        return self.uploads.create(bucket, key, meta or ObjectMeta())

    def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, stream: BinaryIO
    ) -> str:
        self._path(bucket, key)
        return self.uploads.put_part(bucket, key, upload_id, number, stream)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        self._path(bucket, key)
        return self.uploads.parts(bucket, key, upload_id)

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str:
        self._path(bucket, key)
        plan = self.uploads.plan(bucket, key, upload_id, parts)

        def fill(f: BinaryIO) -> None:
            for path in plan.paths:
                with open(path, "rb") as part:
                    shutil.copyfileobj(part, f, 1 << 20)

        sizes = [os.path.getsize(path) for path in plan.paths]
        self._write(bucket, key, fill, plan.meta, etag=plan.etag, part_sizes=sizes)
        self.uploads.discard(bucket, upload_id)
        return plan.etag

    def part_sizes(self, bucket: str, key: str) -> list[int] | None:
        """The part sizes of an object made by a multipart upload (``None``: not known)."""
        fd, _ = self._open_fd(bucket, key)
        try:
            return read_part_sizes(fd)
        finally:
            os.close(fd)

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._path(bucket, key)
        self.uploads.abort(bucket, key, upload_id)

    def delete(self, bucket: str, key: str) -> None:
        path, real_root = self._path(bucket, key)
        if not inside(os.path.realpath(path.parent), real_root):
            raise self._escapes(bucket, key)
        try:
            if path.is_dir() and not path.is_symlink():
                return  # a directory of other keys, not an object
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:  # a key no file can have: nothing to delete
                raise

    def list_page(
        self,
        bucket: str,
        prefix: str = "",
        *,
        token: str | None = None,
        max_keys: int = 1000,
        start_after: str | None = None,
    ) -> ListPage:
        validate_listing(prefix, token, max_keys)
        if start_after is not None and (token is None or validate_prefix(start_after) > token):
            token = start_after
        base = self._bucket_dir(bucket)
        real_root = os.path.realpath(base)
        out: list[ObjectInfo] = []
        for key, path, st in walk_sorted(str(base), "", prefix, token, real_root):
            if len(out) == max_keys:
                return ListPage(out, out[-1].key)
            out.append(_info(key, path, st if st is not None else os.lstat(path)))
        return ListPage(out, None)

    def list_keys_page(
        self, bucket: str, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> KeyPage:
        """As :meth:`list_page`, the keys alone: no ``stat`` of a plain file, no record
        read, no deferred ETag computed (see :meth:`put_no_etag`)."""
        validate_listing(prefix, token, max_keys)
        base = self._bucket_dir(bucket)
        keys: list[str] = []
        for key, _, _ in walk_sorted(str(base), "", prefix, token, os.path.realpath(base)):
            if len(keys) == max_keys:
                return KeyPage(keys, keys[-1])
            keys.append(key)
        return KeyPage(keys, None)

    # ------------------------------------------------------------------ writing
    def _write(
        self,
        bucket: str,
        key: str,
        fill: Callable[[BinaryIO], object] | None,
        meta: ObjectMeta | None,
        *,
        etag: str | None = None,
        data: bytes | bytearray | memoryview | None = None,
        defer_etag: bool = False,
        stream: BinaryIO | None = None,
        part_sizes: list[int] | None = None,
    ) -> str:
        """Publish an object atomically: ``data``, what ``fill`` writes, or ``stream``;
        its ETag (``""`` when deferred: ``data`` or ``stream`` is written unhashed)."""
        directory = self._directory_for(bucket, key)
        tmp = os.path.join(directory, _tmp_name())
        try:
            try:
                fd = os.open(tmp, CREATE_FLAGS, _FILE_MODE)
            except FileNotFoundError:
                # An empty directory removed meanwhile (a key put in its place,
                # _remove_empty_tree): make it again, once.
                directory = self._directory_for(bucket, key)
                fd = os.open(tmp, CREATE_FLAGS, _FILE_MODE)
        except OSError as exc:
            raise _write_failed(bucket, key, exc)
        try:
            try:
                os.fchmod(fd, _FILE_MODE)  # whatever the umask: objects are shared
                name = key_path(key)
                if LONG in name:
                    label_long(fd, directory, name, key)
                if data is not None:
                    write_all(fd, data)
                    if not defer_etag:
                        etag = etag or hashlib.md5(data, usedforsecurity=False).hexdigest()
                elif stream is not None:
                    copy_unhashed(stream, fd)
                else:
                    assert fill is not None
                    with os.fdopen(fd, "wb", closefd=False) as f:
                        writer = HashingWriter(f)
                        fill(cast(BinaryIO, writer))
                    etag = etag or writer.md5.hexdigest()
                if part_sizes:
                    store_part_sizes(fd, part_sizes)
                if etag is None:
                    store_record(fd, DEFERRED_RECORD)
                else:
                    store_record(fd, encode_record(etag, meta))
            finally:
                os.close(fd)
            target = os.path.join(directory, os.path.basename(key_path(key)))
            try:
                os.replace(tmp, target)
            except IsADirectoryError:
                # Directories left by keys since deleted hold no object: S3 would
                # take this key, so they go (never a directory holding a file).
                if not remove_empty_tree(target):
                    raise
                os.replace(tmp, target)
        except IsADirectoryError:
            _unlink_quietly(tmp)
            raise _conflict(bucket, key)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise _write_failed(bucket, key, exc)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return etag or ""

    def _directory_for(self, bucket: str, key: str) -> str:
        """The directory the object's file goes in, created if needed, checked to be inside."""
        path, real_root = self._locate(bucket, key)
        name = key_path(key)
        dirs = plain_dirs(real_root, name)
        if dirs is True:
            return os.path.dirname(os.path.join(real_root, name))
        parent = os.path.dirname(path)
        # Check before creating anything: an existing symbolic link among the
        # parents must not make mkdir or the write land outside the bucket.
        if dirs is None and not inside(os.path.realpath(parent), real_root):
            raise self._escapes(bucket, key)
        try:
            os.makedirs(parent, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _conflict(bucket, key)
        except OSError as exc:
            raise _write_failed(bucket, key, exc)
        return parent


def _conflict(bucket: str, key: str) -> ObjectStoreError:
    return ObjectStoreError(
        "InvalidKey",
        f"s3://{bucket}/{key} conflicts with an existing object or key prefix "
        "(a local bucket cannot hold both 'a' and 'a/...')",
        bucket=bucket,
        key=key,
    )


def _write_failed(bucket: str, key: str, exc: OSError) -> ObjectStoreError:
    if exc.errno == errno.ENAMETOOLONG:
        return ObjectStoreError(
            "KeyTooLongError",
            f"s3://{bucket}/{key}: a local bucket keeps each '/'-separated segment of a key "
            "as a file name, and this file system takes at most 255 bytes per name",
            bucket=bucket,
            key=key,
        )
    code = "AccessDenied" if isinstance(exc, PermissionError) else "InternalError"
    return ObjectStoreError(
        code, f"writing s3://{bucket}/{key} failed: {exc.strerror or exc}", bucket=bucket, key=key
    )


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _info(key: str, path: str, st: os.stat_result) -> ObjectInfo:
    etag, meta = read_record(path)
    storage_class = meta.headers.get(STORAGE_CLASS_HEADER, "STANDARD")
    return ObjectInfo(key, st.st_size, etag or fallback_etag(st), st.st_mtime, storage_class)


def _meta_of(info: ObjectInfo) -> ObjectMeta:
    return ObjectMeta(info.content_type, info.metadata, info.headers, info.tags, info.acl)


def _valid_bucket(name: str) -> bool:
    try:
        validate_bucket(name)
    except ObjectStoreError:
        return False
    return True


def _not_empty(bucket: str, why: str) -> ObjectStoreError:
    return ObjectStoreError(
        "BucketNotEmpty", f"bucket {bucket!r} cannot be deleted: {why}", bucket=bucket
    )
