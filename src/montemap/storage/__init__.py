"""Object stores: local directories (the default) and S3, behind one interface.

``open_store(spec)`` picks the backend from a data directory, a URL or a
config mapping; everything else talks to the :class:`ObjectStore` protocol.
"""

from montemap.storage.base import (
    MIN_PART_SIZE,
    BucketInfo,
    KeyPage,
    ListPage,
    ObjectInfo,
    ObjectMeta,
    ObjectStore,
    ObjectStoreError,
    PartInfo,
    iter_keys,
    iter_objects,
)
from montemap.storage.factory import BUCKETS_DIR, StoreConfigError, local_store, open_store
from montemap.storage.local import LocalObjectStore
from montemap.storage.names import (
    validate_bucket,
    validate_key,
    validate_new_bucket,
    validate_prefix,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from montemap.storage.s3 import S3ObjectStore


def __getattr__(name: str) -> object:
    # boto3 is imported only when the S3 backend is used.
    if name == "S3ObjectStore":
        from montemap.storage.s3 import S3ObjectStore

        return S3ObjectStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUCKETS_DIR",
    "MIN_PART_SIZE",
    "BucketInfo",
    "KeyPage",
    "ListPage",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectMeta",
    "ObjectStore",
    "ObjectStoreError",
    "PartInfo",
    "S3ObjectStore",
    "StoreConfigError",
    "iter_keys",
    "iter_objects",
    "local_store",
    "open_store",
    "validate_bucket",
    "validate_key",
    "validate_new_bucket",
    "validate_prefix",
]
