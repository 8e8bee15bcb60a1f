"""Choose an object store from a URL, a data directory or a config mapping.

==============================================  =====================================
``/var/lib/montemap`` or ``file:///var/...``    ``LocalObjectStore(<dir>/buckets)``
``s3://``                                       S3 with the AWS environment's settings
``s3://?endpoint_url=http://h:9000&region=r``   S3 at that endpoint, in that region
``http://127.0.0.1:9000`` (or ``https://``)     S3 at that endpoint
``{"type": "local", "data_dir": ...}``          as the directory form
``{"type": "s3", "endpoint_url": .., "region": ..}``  as the ``s3://`` form
==============================================  =====================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from montemap.errors import MontemapError
from montemap.storage.base import ObjectStore
from montemap.storage.local import LocalObjectStore

if TYPE_CHECKING:
    from montemap.storage.s3 import S3ObjectStore

#: Sub-directory of a data directory that holds the buckets.
BUCKETS_DIR = "buckets"

_S3_QUERY_KEYS = frozenset({"endpoint_url", "region"})


class StoreConfigError(MontemapError, ValueError):
    """An object store specification that cannot be used; says what and where."""


def open_store(spec: str | os.PathLike[str] | Mapping[str, Any]) -> ObjectStore:
    """The object store ``spec`` names (see the module docstring for the forms)."""
    if isinstance(spec, Mapping):
        return _from_mapping(spec)
    if isinstance(spec, os.PathLike):
        return local_store(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise StoreConfigError(f"object store: expected a directory, URL or mapping, got {spec!r}")
    parts = urlsplit(spec)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        if parts.netloc or parts.path not in ("", "/"):
            raise StoreConfigError(
                f"object store URL {spec!r}: give no bucket or path after 's3://' "
                "(the store serves every bucket); options go in the query, "
                "e.g. s3://?endpoint_url=http://127.0.0.1:9000&region=us-east-1"
            )
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
        unknown = sorted(set(query) - _S3_QUERY_KEYS)
        if unknown:
            raise StoreConfigError(
                f"object store URL {spec!r}: unknown option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(_S3_QUERY_KEYS))}"
            )
        endpoint = _single(query, "endpoint_url", spec)
        if endpoint is not None:
            _check_endpoint(endpoint, spec)
        return _s3(endpoint, _single(query, "region", spec))
    if scheme in ("http", "https"):
        _check_endpoint(spec, spec)
        return _s3(spec, None)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StoreConfigError(f"object store URL {spec!r}: only local file URLs are supported")
        return local_store(unquote(parts.path))
    if scheme and len(scheme) > 1:  # not a Windows drive letter
        raise StoreConfigError(
            f"object store {spec!r}: unknown scheme {parts.scheme!r} (use a directory, "
            "file://, s3:// or an http(s) endpoint)"
        )
    return local_store(spec)


def local_store(data_dir: str | os.PathLike[str]) -> LocalObjectStore:
    """The local store of a data directory: its buckets live in ``<data_dir>/buckets``."""
    root = Path(data_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise StoreConfigError(f"object store: data directory {str(root)!r} is not a directory")
    return LocalObjectStore(root / BUCKETS_DIR)


def _from_mapping(config: Mapping[str, Any]) -> ObjectStore:
    kind = config.get("type")
    if kind == "local":
        _only(config, {"type", "data_dir"})
        data_dir = config.get("data_dir")
        if not isinstance(data_dir, str | os.PathLike) or not str(data_dir):
            raise StoreConfigError("object store config: 'data_dir' must be a directory path")
        return local_store(data_dir)
    if kind == "s3":
        _only(config, {"type", "endpoint_url", "region"})
        endpoint = config.get("endpoint_url")
        region = config.get("region")
        for name, value in (("endpoint_url", endpoint), ("region", region)):
            if value is not None and (not isinstance(value, str) or not value):
                raise StoreConfigError(f"object store config: {name!r} must be a non-empty string")
        if endpoint is not None:
            _check_endpoint(endpoint, "config")
        return _s3(endpoint, region)
    raise StoreConfigError(f"object store config: 'type' must be 'local' or 's3', got {kind!r}")


def _s3(endpoint_url: str | None, region: str | None) -> S3ObjectStore:
    from montemap.storage.s3 import S3ObjectStore  # boto3 only when S3 is used

    return S3ObjectStore(endpoint_url=endpoint_url, region_name=region)


def _only(config: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in set(config) - allowed)
    if unknown:
        raise StoreConfigError(
            f"object store config: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _single(query: dict[str, list[str]], name: str, spec: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) != 1 or not values[0]:
        raise StoreConfigError(f"object store URL {spec!r}: give {name} once, with a value")
    return values[0]


def _check_endpoint(endpoint: str, where: str) -> None:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreConfigError(
            f"object store {where!r}: endpoint {endpoint!r} must be an http:// or https:// URL"
        )
