"""The assembled server: engine, API, object store, functions and worker service.

``montemap server`` and ``montemap run`` both build a :class:`Montemap` from
:class:`Settings` and serve its ``app``; tests build one the same way.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from montemap.api.app import ApiApp, Authenticator, create_app
from montemap.api.credentials import AccessKey, SigV4Authenticator, server_key
from montemap.api.hosts import HostPolicy, is_local_request
from montemap.api.registry import Registry
from montemap.api.sdk_integration import SERVICES as SDK_SERVICES
from montemap.api.sdk_integration import SdkIntegration
from montemap.api.start_execution_integration import PREFIX as START_EXECUTION_PREFIX
from montemap.api.start_execution_integration import StartExecutionIntegration
from montemap.arns import DEFAULT_ACCOUNT, DEFAULT_REGION, ArnFactory
from montemap.asl import jsonata_runner
from montemap.console import console_routes
from montemap.datadir_lock import LOCK_FILE, DataDirLock
from montemap.ecs.capacity import Capacity
from montemap.ecs.cgroups import CgroupManager
from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.ecs_http import TARGET_PREFIX, handle_ecs_request
from montemap.ecs.ecs_integration import PREFIX as ECS_PREFIX
from montemap.ecs.ecs_integration import RUN_TASK_PREFIX, EcsIntegration, EcsRunTaskIntegration
from montemap.ecs.service import ServiceManager
from montemap.ecs.taskdefs import DEFAULT_HANDLER, EcsArns, EcsStore
from montemap.engine.db import Database, committed
from montemap.engine.engine import Engine
from montemap.engine.lambdas import FunctionRegistry, load_functions_file
from montemap.environment import check_environment
from montemap.errors import MontemapError
from montemap.lambda_api.wiring import install as install_lambda_api
from montemap.lambda_names import parse_function_name
from montemap.s3api import S3App, S3Auth
from montemap.s3api.notifications import Notifier
from montemap.storage import LocalObjectStore
from montemap.storage.local_leftovers import sweep_in_background
from montemap.sts.actions import Sts
from montemap.sts.http import StsApp
from montemap.sts.roles import RoleSessions
from montemap.sts.sessions import SessionStore, with_sessions

if TYPE_CHECKING:
    from montemap.aws.mapping import ResourceMapping

#: The activity the credit workers serve.
CREDIT_ACTIVITY = "montemap-credit"
#: Functions the shipped workflows call, always registered.
BUILTIN_FUNCTIONS = {
    "PartitionInventory": "montemap.workflows.functions:partition_inventory",
    "ReduceAndReport": "montemap.workflows.functions:reduce_and_report",
    "SeedPortfolio": "montemap.workflows.functions:seed_portfolio",
    "GenerateLoans": "montemap.workflows.functions:generate_loans",
    "BuildInventory": "montemap.workflows.functions:build_inventory",
    "WriteManifest": "montemap.workflows.functions:write_manifest",
}


@dataclass(kw_only=True)
class Settings:
    """Everything a server is configured with."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8083
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT
    authenticator: Authenticator | None = None
    functions_file: Path | None = None
    worker_handler: str = DEFAULT_HANDLER
    cgroups: bool = True
    worker_stop_grace: float = 30.0
    #: What the host offers worker tasks (None: the machine's cores and memory).
    capacity: Capacity | None = None
    extra_functions: dict[str, str] = field(default_factory=dict)
    #: The data directory's lock, already taken by the caller (``montemap run`` takes it
    #: before it generates a portfolio there); None: the server takes it. The server
    #: releases it when it closes.
    data_dir_lock: DataDirLock | None = None
    #: A resource mapping file: definitions written for AWS get their ARNs bound to
    #: local resources when they are created or updated (docs/aws.md).
    mapping_file: Path | None = None
    #: Host names (besides loopback names and the bound address) the server answers to.
    allowed_hosts: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def _accepting(authenticator: Authenticator | None, key: AccessKey) -> Authenticator | None:
    """``authenticator`` that also accepts ``key``, the server's own (a server without keys
    accepts any; an authenticator of another kind is left as it is)."""
    if type(authenticator) is SigV4Authenticator:
        return authenticator.with_key(key)
    return authenticator


def _open_data(data_dir: Path, held: DataDirLock | None) -> tuple[DataDirLock, Database]:
    """The data directory's lock (one server per directory; ``held`` if the caller has
    taken it), then its database."""
    if held is not None and held.path != data_dir / LOCK_FILE:
        raise ValueError(f"the lock given is {held.path}, not {data_dir / LOCK_FILE}")
    lock = held if held is not None else DataDirLock(data_dir)
    try:
        return lock, Database(data_dir / "montemap.db")
    except BaseException:
        lock.release()
        raise


class Montemap:
    """One server's parts, wired together; ``app`` is the ASGI application."""

    def __init__(self, settings: Settings) -> None:
        check_environment()  # before anything is created: bad MONTEMAP_* values, all named
        self.settings = settings = self._with_own_keys(settings)
        data_dir = settings.data_dir.resolve()
        (data_dir / "buckets").mkdir(parents=True, exist_ok=True)
        self.lock, self.db = _open_data(data_dir, settings.data_dir_lock)
        # Local functions and worker processes find the data through this variable.
        os.environ["MONTEMAP_DATA_DIR"] = str(data_dir)
        self.arns = ArnFactory(region=settings.region, account=settings.account)
        self.store = LocalObjectStore(data_dir / "buckets")
        functions = dict(BUILTIN_FUNCTIONS)
        if settings.functions_file is not None:
            functions.update(load_functions_file(settings.functions_file))
        functions.update(settings.extra_functions)
        self.functions = FunctionRegistry(functions)
        self.engine = Engine(self.db, arns=self.arns, store=self.store, functions=self.functions)
        self.registry = Registry(self.db, arns=self.arns)
        self.credit_activity_arn = self.arns.activity(CREDIT_ACTIVITY)
        self.ecs_store = EcsStore(
            self.db, EcsArns(region=settings.region, account=settings.account)
        )
        self.ecs_store.register_predefined()
        self.mapping = self._load_mapping()
        host_mapping = self.mapping.host if self.mapping is not None else None
        self.services = ServiceManager(
            self.ecs_store,
            cgroups=CgroupManager(enabled=settings.cgroups),
            variables={
                "python": sys.executable,
                "endpoint": settings.endpoint,
                "activity_arn": self.credit_activity_arn,
                "handler": settings.worker_handler,
                "region": settings.region,
                "data_dir": str(data_dir),
                # Workers sign their calls with the server's own key, whatever keys
                # (if any) the server's clients must sign with.
                "aws_access_key_id": self.server_key.access_key_id,
                "aws_secret_access_key": self.server_key.secret_access_key,
            },
            log_dir=data_dir / "logs",
            stop_grace=settings.worker_stop_grace,
            capacity=settings.capacity,
            host_mapping=host_mapping,
        )
        self.ecs = EcsApi(self.services)
        self.engine.integrations.register(ECS_PREFIX, EcsIntegration(self.ecs))
        self.engine.integrations.register(RUN_TASK_PREFIX, EcsRunTaskIntegration(self.ecs))
        self.app = self._build_app()
        # The Lambda API on the same endpoint; lambda:invoke reaches its functions too.
        self.lambdas = install_lambda_api(
            self.app,
            db=self.db,
            objects=self.store,
            functions=self.functions,
            authenticator=settings.authenticator,
            data_dir=data_dir,
            endpoint=settings.endpoint,
            region=settings.region,
            account=settings.account,
            host_mapping=host_mapping,
            role_credentials=RoleSessions(self.sessions),  # functions run as their roles
            server_key=(self.server_key.access_key_id, self.server_key.secret_access_key),
        )
        # CloudFormation and IAM on the same endpoint (docs/bring-your-own.md).
        from montemap.cloudformation.wiring import install as install_cloudformation

        assert isinstance(self.app, ApiApp)
        self.stacks = install_cloudformation(
            self.app,
            db=self.db,
            objects=self.store,
            states=self.app.dispatcher.ctx,
            lambdas=self.lambdas,
            ecs=self.ecs,
            authenticator=settings.authenticator,
            endpoint=settings.endpoint,
            region=settings.region,
            account=settings.account,
        )

    def _s3_app(self) -> S3App:
        """S3 over the server's object store; its event notifications invoke the Lambda
        API's functions (``self.lambdas``, installed after the app is built)."""
        notifier = Notifier(
            self.store,
            region=self.settings.region,
            deliver=lambda arn, event: self.lambdas.invoke_event(parse_function_name(arn), event),
            function_exists=self._function_exists,
            committed=committed,  # an S3 write that queued an event is answered once it is
        )
        return S3App(
            self.store,
            region=self.settings.region,
            auth=S3Auth.from_authenticator(self.settings.authenticator, self.settings.region),
            notifier=notifier,
            account=self.settings.account,
        )

    def _function_exists(self, arn: str) -> bool:
        """Whether the Lambda function ``arn`` names exists (S3 notifications' check)."""
        try:
            self.lambdas.resolve(parse_function_name(arn))
        except MontemapError:
            return False
        return True

    def _with_own_keys(self, settings: Settings) -> Settings:
        """``settings`` whose authenticator also accepts the server's own key and STS's
        temporary credentials (``self.sessions``), so every service is handed that one
        (docs/bring-your-own.md, docs/security.md).

        ``self.server_key`` is the key the server's own clients sign with (its worker
        tasks, Lambda functions and AWS SDK integrations): drawn at each start, accepted
        by this server only, never logged."""
        self.server_key = server_key()
        self.sessions = SessionStore()
        authenticator = _accepting(settings.authenticator, self.server_key)
        return replace(settings, authenticator=with_sessions(authenticator, self.sessions))

    async def _start_background(self) -> None:
        """Executions, ECS services, and the asynchronous invocations a kill left queued."""
        await self.engine.start()
        await self.services.start()
        await self.lambdas.queue.start()

    def _build_app(self) -> Starlette:
        async def ecs_endpoint(request: Request, body: bytes) -> Response:
            return await handle_ecs_request(self.ecs, request, body)

        app = create_app(
            engine=self.engine,
            registry=self.registry,
            authenticator=self.settings.authenticator,
            services={TARGET_PREFIX: ecs_endpoint},
            bind_definition=self._definition_binder(),
            manage_engine=False,
            hosts=HostPolicy(
                self.settings.host,
                self.settings.allowed_hosts,
                keys_configured=self.settings.authenticator is not None,
            ),
        )
        # Nested workflows start executions as the API's StartExecution does.
        assert isinstance(app, ApiApp)
        start = StartExecutionIntegration(app.dispatcher.ctx)
        self.engine.integrations.register(START_EXECUTION_PREFIX, start)
        # aws-sdk:sfn/lambda/cloudformation/iam/sts: through this endpoint, as AWS calls them.
        sdk_threads = ThreadPoolExecutor(max_workers=16, thread_name_prefix="aws-sdk")
        for service in SDK_SERVICES:
            sdk = SdkIntegration(
                service,
                endpoint=self.settings.endpoint,
                region=self.settings.region,
                access_key=self.server_key.access_key_id,
                secret_key=self.server_key.secret_access_key,
                executor=sdk_threads,
            )
            self.engine.integrations.register(service.prefix, sdk)

        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            sweep_in_background(self.store.root)  # what writes killed with a server left
            await self._start_background()
            try:
                yield
            finally:
                await self.stacks.close()
                await self.lambdas.close()
                await self.services.close()
                await self.engine.close()
                sdk_threads.shutdown(wait=False, cancel_futures=True)
                await asyncio.to_thread(jsonata_runner.shutdown)

        async def metrics(request: Request) -> Response:
            # Not an API action (nothing signs it), so with keys configured it is for
            # this machine only, like the console: remote callers are refused.
            if self.settings.authenticator is not None and not is_local_request(request.scope):
                return JSONResponse(
                    {
                        "message": "/metrics is served to local clients only (loopback, "
                        "not through a proxy) on a server that requires credentials"
                    },
                    status_code=403,
                )
            return JSONResponse(
                {
                    "counters": dict(self.engine.metrics),
                    "executions_running": len(self.engine.runs),
                    "activity_polls_waiting": self.engine.activities.waiting_polls(),
                    "workers": self.services.status(),
                }
            )

        app.router.routes.append(Route("/metrics", metrics, methods=["GET"]))
        app.router.lifespan_context = lifespan
        app.router.routes.extend(console_routes(self))
        # S3 on the same endpoint, over the store the engine reads (docs/s3.md).
        assert isinstance(app, ApiApp)
        app.add_service("s3", self._s3_app())
        # STS on the same endpoint: who calls, and temporary credentials (docs/bring-your-own.md).
        keyed = self.settings.authenticator is not None
        sts = Sts(self.sessions, self.settings.account, keys_configured=keyed)
        app.add_service("sts", StsApp(sts, self.settings.authenticator), query=True)
        return app

    def _load_mapping(self) -> ResourceMapping | None:
        if self.settings.mapping_file is None:
            return None
        from montemap.aws.mapping import ResourceMapping

        return ResourceMapping.load(self.settings.mapping_file)

    def _definition_binder(self) -> Callable[[str], str] | None:
        mapping = self.mapping
        if mapping is None or not mapping.rules:
            return None
        region, account = self.settings.region, self.settings.account

        def bind(text: str) -> str:
            try:
                return mapping.apply(text, region=region, account=account).definition
            except MontemapError:  # not JSON: the validator says what is wrong with it
                return text

        return bind

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            self.lock.release()
