"""Putting the Lambda service into a server: one call from :mod:`montemap.assembly`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from montemap.api.app import ApiApp, Authenticator
from montemap.engine.db import Database
from montemap.engine.lambdas import FunctionRegistry
from montemap.lambda_api.http import LambdaApp
from montemap.lambda_api.runtime import RoleCredentials, ServerEnv
from montemap.lambda_api.service import LambdaService
from montemap.storage.base import ObjectStore

if TYPE_CHECKING:
    from montemap.aws.mapping import HostMapping


def install(
    app: Starlette,
    *,
    db: Database,
    objects: ObjectStore,
    functions: FunctionRegistry,
    authenticator: Authenticator | None,
    data_dir: Path,
    endpoint: str,
    region: str,
    account: str,
    host_mapping: HostMapping | None = None,
    role_credentials: RoleCredentials | None = None,
) -> LambdaService:
    """Serve the Lambda API on ``app`` and let ``lambda:invoke`` reach created functions.

    Functions get temporary credentials of their execution role from
    ``role_credentials`` (the server's STS); where it issues none, the key the
    server's workers sign with (``MONTEMAP_ACCESS_KEY_ID``/``MONTEMAP_SECRET_ACCESS_KEY``,
    else a placeholder a loopback server accepts).
    """
    server = ServerEnv(
        endpoint=endpoint,
        region=region,
        access_key_id=os.environ.get("MONTEMAP_ACCESS_KEY_ID") or "montemap",
        secret_access_key=os.environ.get("MONTEMAP_SECRET_ACCESS_KEY") or "montemap-local-secret",
        role_credentials=role_credentials,
    )
    service = LambdaService(
        db,
        objects,
        functions,
        data_dir=data_dir,
        server=server,
        account=account,
        host_mapping=host_mapping,
    )
    functions.attach(service)
    if not isinstance(app, ApiApp):
        raise TypeError("the Lambda API needs the server's ApiApp to route requests to it")
    app.add_service("lambda", LambdaApp(service, authenticator))
    return service
