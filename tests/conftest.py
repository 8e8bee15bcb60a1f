"""Shared fixtures: a real ``montemap server`` subprocess and boto3 clients for it.

The harness is shipped with montemap (:mod:`montemap.testing`), so users' own
tests can use it too; this file makes its fixtures available to every test and
re-exports the names older tests import from here.
"""

from __future__ import annotations

from montemap.testing import (
    DUMMY_AWS_ENV,
    DUMMY_CREDENTIALS,
    REGION,
    MontemapServer,
    ServerError,
    eventually,
    free_port,
)
from montemap.testing.fixtures import (
    montemap_server,
    server_factory,
    sfn_client,
    shared_montemap_server,
    shared_sfn_client,
)

__all__ = [
    "DUMMY_AWS_ENV",
    "DUMMY_CREDENTIALS",
    "REGION",
    "MontemapServer",
    "ServerError",
    "eventually",
    "free_port",
    "montemap_server",
    "server_factory",
    "sfn_client",
    "shared_montemap_server",
    "shared_sfn_client",
]
