"""S3 REST on the server's port, over the same object store the engine reads.

:class:`S3App` is the ASGI application; :class:`S3Auth` checks SigV4 as S3
uses it. What is served and what is not: ``docs/s3.md``.
"""

from montemap.s3api.app import S3App
from montemap.s3api.auth import S3Auth

__all__ = ["S3App", "S3Auth"]
