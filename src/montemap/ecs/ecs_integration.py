"""The ``arn:aws:states:::aws-sdk:ecs:<action>`` Task resources, on the local ECS.

A Task state such as the original workflow's "Scale Out Workers"::

    "Resource": "arn:aws:states:::aws-sdk:ecs:updateService",
    "Parameters": {"Cluster": "default", "Service": "workers", "DesiredCount": 8}

calls :meth:`EcsApi.handle_ecs` as AWS SDK integrations call a service:
request members in PascalCase, the response returned in PascalCase with
timestamps as ISO-8601 strings, and a refusal raised as the ASL error
``Ecs.<Code>`` (``Ecs.ServiceNotFoundException``...) whose cause ends with
``(Service: Ecs, Status Code: 400, Request ID: ...)``. The call returns at
once (request-response): the service scales in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from montemap.api.sdk_shapes import error_name as sdk_error_name
from montemap.api.sdk_shapes import pascal, to_request, to_result
from montemap.ecs.ecs_api import ACTIONS, EcsApi, service_model
from montemap.ecs.service import CLOSING_CODE, stopped_by_server
from montemap.engine.entry_keys import entry_key
from montemap.engine.tasks import report_submitted
from montemap.errors import RUNTIME, ApiError, StatesError

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun
    from montemap.engine.store import FrameRow
    from montemap.engine.tasks import TaskCall

PREFIX = "arn:aws:states:::aws-sdk:ecs:"
SERVICE_NAME = "Ecs"


def error_name(code: str) -> str:
    """``Ecs.<Code>``, with the ``Exception`` suffix Step Functions always uses."""
    return sdk_error_name(SERVICE_NAME, code)


class EcsIntegration:
    """The engine integration for :data:`PREFIX`; register it with ``engine.integrations``."""

    prefix = PREFIX

    def __init__(self, api: EcsApi) -> None:
        self.api = api

    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        if call.resource == f"{PREFIX}runTask":
            return await run_task_once(self, call.arguments, entry_key(run, frame).hex())
        return await self.call(call.resource, call.arguments)

    async def call(self, resource: str, arguments: Any) -> Any:
        """Run ``resource`` with SDK-style ``arguments``; the PascalCase response."""
        if not resource.startswith(PREFIX):
            raise StatesError(RUNTIME, f"The resource '{resource}' is not an ECS SDK integration.")
        api_action = resource[len(PREFIX) :]
        if "." in api_action:
            raise StatesError(
                RUNTIME,
                f"The resource '{resource}' uses an integration pattern that ecs:"
                f"{api_action.split('.')[0]} does not support here (only request-response).",
            )
        action = pascal(api_action)
        if action not in ACTIONS:
            raise StatesError(
                RUNTIME,
                f"The resource '{resource}' is not supported by this server (ECS actions:"
                f" {', '.join(a[:1].lower() + a[1:] for a in ACTIONS)}).",
            )
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise StatesError(
                RUNTIME,
                f"The parameters of '{resource}' must be a JSON object, got"
                f" {type(arguments).__name__}.",
            )
        operation = service_model().operation_model(action)
        assert operation.input_shape is not None
        params = to_request(operation.input_shape, arguments, "")
        try:
            result = await self.api.handle_ecs(action, params)
        except ApiError as exc:
            if exc.code == CLOSING_CODE and self.api.manager.closing:
                # The server stops: the engine's close cancels this call and the next
                # server runs the state again, as for any call in flight at a stop.
                await asyncio.Future()
            raise StatesError(
                error_name(exc.code),
                f"{exc.message} (Service: {SERVICE_NAME}, Status Code: {exc.status},"
                f" Request ID: {uuid.uuid4()})",
            )
        return to_result(operation.output_shape, result)


#: How many tasks stopped by a server shutting down or restarting a state entry may go
#: through before its next run gives up finding them and starts another anyway.
_MAX_SERVER_STOPS = 100


async def run_task_once(sdk: EcsIntegration, arguments: Any, token: str | None) -> Any:
    """RunTask for a state entry, with ``token`` as its ``ClientToken`` (unless
    ``arguments`` has one): a state run again after a restart gets the task it started
    before (:mod:`montemap.ecs.run_tokens`) instead of a second one. A task that the
    server stopped (shutting down, or restarting after a crash) did not finish its work:
    then a new task is started, under a token derived from the stopped one, so each
    further restart finds that one in turn."""
    if (
        token is None
        or not isinstance(arguments, dict)
        or "ClientToken" in arguments
        or "clientToken" in arguments  # the caller's own, in the spelling it also takes
    ):
        return await sdk.call(f"{PREFIX}runTask", arguments)
    for _ in range(_MAX_SERVER_STOPS):
        started = await _run_for_entry(sdk, arguments, token)
        stopped = [
            t["TaskArn"]
            for t in started.get("Tasks") or []
            if (task := sdk.api.store.get_task(t["TaskArn"].rsplit("/", 1)[-1])) is not None
            and stopped_by_server(task)
        ]
        if not stopped:
            return started
        token = hashlib.sha256(f"{token}|{stopped[0]}".encode()).hexdigest()
    return await sdk.call(f"{PREFIX}runTask", arguments)


async def _run_for_entry(sdk: EcsIntegration, arguments: dict[str, Any], token: str) -> Any:
    """RunTask under a state entry's ``token``. A conflict means that the entry's first
    run evaluated its parameters to other values (``States.UUID()``, a timestamp, a task
    token): the task that run started is the entry's, so its answer stands."""
    try:
        return await sdk.call(f"{PREFIX}runTask", {**arguments, "ClientToken": token})
    except StatesError as exc:
        if exc.error != error_name("ConflictException"):
            raise
        cluster = arguments.get("Cluster", arguments.get("cluster"))
        original = sdk.api.first_run_task_answer(cluster, token)
        if original is None:
            raise
        return to_result(service_model().operation_model("RunTask").output_shape, original)


#: The optimized ECS integration: ``ecs:runTask`` (request-response), ``.sync`` (run the
#: task and wait until it stops) and ``.waitForTaskToken`` (run it, then wait for a callback).
RUN_TASK_PREFIX = "arn:aws:states:::ecs:runTask"
_RUN_TASK_PATTERNS = ("", ".sync", ".waitForTaskToken")
#: Why a task that a ``.sync`` state gives up on (timeout, execution stopped) is stopped.
STOPPED_BY_STEP_FUNCTIONS = "Task stopped by Step Functions (its state ended)"


class EcsRunTaskIntegration:
    """``arn:aws:states:::ecs:runTask[.sync|.waitForTaskToken]``; register it with
    ``engine.integrations``.

    Request-response returns RunTask's response. ``.sync`` returns the task as
    DescribeTasks reports it once it has stopped, and fails the state with
    ``States.TaskFailed`` (the task as its cause) unless its container exited with 0,
    as Step Functions does. A ``.sync`` state that ends first (its TimeoutSeconds,
    the execution stopped) stops the task.
    """

    prefix = RUN_TASK_PREFIX

    def __init__(self, api: EcsApi) -> None:
        self.api = api
        self.sdk = EcsIntegration(api)

    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        return await self.call(
            call.resource,
            call.arguments,
            client_token=entry_key(run, frame).hex(),
            closing=lambda: run.engine.closing,
            submitted=lambda started: report_submitted(run, frame, call, started),
        )

    async def call(
        self,
        resource: str,
        arguments: Any,
        *,
        client_token: str | None = None,
        closing: Callable[[], bool] = lambda: False,
        submitted: Callable[[Any], None] = lambda started: None,
    ) -> Any:
        """Run the task; ``client_token`` (when ``arguments`` has no ``ClientToken``)
        makes a second call for the same state entry find the task the first started;
        ``closing()`` true means the server is shutting down (the task is left to it);
        ``submitted`` gets RunTask's response before a ``.sync`` state waits (its history's
        ``TaskSubmitted``)."""
        pattern = resource[len(RUN_TASK_PREFIX) :]
        if not resource.startswith(RUN_TASK_PREFIX) or pattern not in _RUN_TASK_PATTERNS:
            raise StatesError(
                RUNTIME,
                f"The resource '{resource}' is not supported (ECS: {RUN_TASK_PREFIX},"
                f" {RUN_TASK_PREFIX}.sync, {RUN_TASK_PREFIX}.waitForTaskToken).",
            )
        started = await run_task_once(self.sdk, arguments, client_token)
        if pattern != ".sync":
            return started
        tasks = started.get("Tasks") or []
        if len(tasks) != 1:
            raise StatesError(
                "States.TaskFailed",
                json.dumps(started, separators=(",", ":")),
            )
        submitted(started)
        arn = tasks[0]["TaskArn"]
        cluster = arn.rsplit("/", 2)[-2]
        task_id = arn.rsplit("/", 1)[-1]
        store = self.api.store

        def stopped() -> bool:
            task = store.get_task(task_id)
            return task is None or task.last_status == "STOPPED"

        try:
            await self.api.manager.wait_until(stopped, _FOREVER)
        except asyncio.CancelledError:
            if closing():  # a server shutting down stops its tasks itself
                raise
            with contextlib.suppress(ApiError):
                await self.api.handle_ecs(
                    "StopTask",
                    {"cluster": cluster, "task": arn, "reason": STOPPED_BY_STEP_FUNCTIONS},
                )
            raise
        described = await self.sdk.call(
            f"{PREFIX}describeTasks", {"Cluster": cluster, "Tasks": [arn]}
        )
        found = described.get("Tasks") or []
        if not found:
            raise StatesError("States.TaskFailed", json.dumps(described, separators=(",", ":")))
        task = found[0]
        codes = [c.get("ExitCode") for c in task.get("Containers") or []]
        if task.get("StopCode") != "EssentialContainerExited" or any(c != 0 for c in codes):
            raise StatesError("States.TaskFailed", json.dumps(task, separators=(",", ":")))
        return task


#: ``wait_until``'s limit for a ``.sync`` task: the state's TimeoutSeconds bounds it.
_FOREVER = 100 * 365 * 24 * 3600.0
