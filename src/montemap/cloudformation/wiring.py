"""Putting CloudFormation and IAM into a server: one call from :mod:`montemap.assembly`."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette

from montemap import option_types
from montemap.api.actions import Context as StatesContext
from montemap.api.app import ApiApp, Authenticator
from montemap.cloudformation import changesets as _changesets  # noqa: F401  (registers handlers)
from montemap.cloudformation import iam
from montemap.cloudformation.actions import Actions
from montemap.cloudformation.engine import StackEngine
from montemap.cloudformation.errors import TemplateError
from montemap.cloudformation.http import QueryApp
from montemap.cloudformation.nested import NestedStacks
from montemap.cloudformation.providers import Services
from montemap.cloudformation.providers.base import DEFAULT_CUSTOM_RESOURCE_TIMEOUT
from montemap.cloudformation.providers.nested import NESTED_STACKS
from montemap.cloudformation.responses import Responses
from montemap.cloudformation.store import StackStore
from montemap.ecs.ecs_api import EcsApi
from montemap.engine.db import Database
from montemap.lambda_api.service import LambdaService
from montemap.storage.base import ObjectStore

#: Environment variable: seconds a custom resource may take to answer (default 300).
TIMEOUT_VARIABLE = "MONTEMAP_CUSTOM_RESOURCE_TIMEOUT"


def custom_resource_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds a custom resource may take (:data:`TIMEOUT_VARIABLE` in ``env``, the
    process environment by default); checked with the others at start
    (:mod:`montemap.environment`)."""
    text = (os.environ if env is None else env).get(TIMEOUT_VARIABLE)
    if not text:
        return DEFAULT_CUSTOM_RESOURCE_TIMEOUT
    if not option_types.is_decimal_text(text.strip()):  # ``float`` also reads ``١``, ``nan``
        raise TemplateError(
            f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds (ASCII digits 0-9)"
        )
    value = float(text)
    if not 0 < value < math.inf:
        raise TemplateError(f"{TIMEOUT_VARIABLE} must be positive, not {text}")
    return value


def install(
    app: Starlette,
    *,
    db: Database,
    objects: ObjectStore,
    states: StatesContext,
    lambdas: LambdaService,
    ecs: EcsApi,
    authenticator: Authenticator | None,
    endpoint: str,
    region: str,
    account: str,
) -> StackEngine:
    """Serve CloudFormation and IAM on ``app``; the engine (close it on shutdown)."""
    if not isinstance(app, ApiApp):
        raise TypeError("CloudFormation needs the server's ApiApp to route requests to it")
    iam_store = iam.IamStore(db, account)
    responses = Responses(endpoint, region)
    services = Services(
        objects=objects,
        states=states,
        lambdas=lambdas,
        ecs=ecs,
        region=region,
        account=account,
        endpoint=endpoint,
        iam=iam_store,
        responses=responses,
        custom_resource_timeout=custom_resource_timeout(),
    )
    engine = StackEngine(StackStore(db), services)
    engine.recover()
    actions = Actions(engine)
    services.extra[NESTED_STACKS] = NestedStacks(actions)

    async def iam_call(action: str, params: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return iam.handle(iam_store, action, params)

    app.add_service(
        "cloudformation",
        QueryApp("cloudformation", actions.call, authenticator, responses),
        query=True,
    )
    app.add_service("iam", QueryApp("iam", iam_call, authenticator), query=True)
    return engine
