"""Object stores: local directories (default) and S3."""

from montemap.storage.base import (
    ListPage,
    ObjectInfo,
    ObjectStore,
    ObjectStoreError,
    iter_objects,
)
from montemap.storage.local import LocalObjectStore

__all__ = [
    "ListPage",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "iter_objects",
]
