"""Putting the Lambda service into a server: one call from :mod:`montemap.assembly`."""

from __future__ import annotations

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
    server_key: tuple[str, str] | None = None,
) -> LambdaService:
    """Serve the Lambda API on ``app`` and let ``lambda:invoke`` reach created functions.

    Functions get temporary credentials of their execution role from
    ``role_credentials`` (the server's STS); where it issues none, ``server_key``, the
    (access key id, secret) the server's own clients sign with (none: a placeholder
    that only a server without keys accepts).
    """
    key_id, secret = server_key or ("montemap", "montemap-local-secret")
    server = ServerEnv(
        endpoint=endpoint,
        region=region,
        access_key_id=key_id,
        secret_access_key=secret,
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
