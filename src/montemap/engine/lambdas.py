"""Local "Lambda" functions: ``lambda:invoke`` runs a registered Python function.

A function name maps to ``module:function``; names come from a functions file
(JSON or YAML: ``{"PartitionInventory": "montemap.workflows.functions:partition"}``)
or from :meth:`FunctionRegistry.register`. Functions run in a process pool,
never in the server's event loop, and receive ``(event, context)`` like a
Lambda handler. The response is shaped like Lambda's (``Payload``,
``StatusCode``, ``FunctionError``, ``ExecutedVersion``); a function that
raises fails the task with its exception's type name as the error and
Lambda's JSON error document as the cause.

Names given to a task may be plain names, ARNs, and qualified (``:$LATEST``,
a version, an alias). A registered name always wins; any other name goes to
the functions created through the Lambda API (:meth:`FunctionRegistry.attach`,
:mod:`montemap.lambda_api`), which run in processes of their own.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import multiprocessing
import re
import traceback
from collections.abc import Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from montemap.errors import RUNTIME, MontemapError, StatesError
from montemap.lambda_names import LATEST, FunctionNameError, parse_function_name

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun
    from montemap.engine.store import FrameRow
    from montemap.engine.tasks import TaskCall

_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)(:[\w$-]+)?$"
)


class FunctionConfigError(MontemapError):
    """A functions file that cannot be used; says which entry and why."""


def function_name(name_or_arn: str) -> str:
    """``MyFn`` from ``MyFn``, ``arn:...:function:MyFn`` or ``arn:...:function:MyFn:alias``."""
    m = _ARN_RE.match(name_or_arn)
    return m.group(1) if m else name_or_arn


def load_functions_file(path: str | Path) -> dict[str, str]:
    """Read and validate a functions file: a mapping of names to ``module:function``."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise FunctionConfigError(f"cannot read functions file {p}: {exc.strerror}")
    try:
        data = yaml.safe_load(text) if p.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise FunctionConfigError(
            f"functions file {p} is not valid {p.suffix[1:] or 'JSON'}: {exc}"
        )
    if not isinstance(data, dict):
        raise FunctionConfigError(
            f"functions file {p} must hold an object of name: 'module:function'"
        )
    out: dict[str, str] = {}
    for name, target in data.items():
        if not isinstance(target, str) or not _TARGET_RE.match(target):
            raise FunctionConfigError(
                f"functions file {p}: entry {name!r} must be 'module:function', got {target!r}"
            )
        out[str(name)] = target
    return out


def _call(target: str, event_json: str, context: dict[str, Any]) -> tuple[str, str | None]:
    """Runs in a worker process: (payload JSON, error type or None)."""
    module_name, func_name = target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(json.loads(event_json), context)
        return json.dumps(result), None
    except Exception as exc:  # the function's failure is data, reported like Lambda
        doc = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc)[-5:],
        }
        return json.dumps(doc), type(exc).__name__


class UserFunctions(Protocol):
    """Functions created through the Lambda API (:class:`montemap.lambda_api.LambdaService`)."""

    async def invoke_for_states(self, function: str, event: Any) -> tuple[Any, str | None, str]:
        """(payload, function error type or None, executed version); raises StatesError."""
        ...


class FunctionRegistry:
    """Function names, their targets, and the pool they run in.

    These functions (builtin, or from a functions file) come first: a name
    here is never looked up among the functions created through the Lambda
    API, which :meth:`attach` adds for every other name.
    """

    def __init__(
        self, functions: Mapping[str, str] | None = None, *, executor: Executor | None = None
    ) -> None:
        self.functions: dict[str, str] = dict(functions or {})
        self._executor = executor
        self._own_executor = executor is None
        self.user_functions: UserFunctions | None = None

    def attach(self, user_functions: UserFunctions) -> None:
        """Resolve names not registered here among ``user_functions``."""
        self.user_functions = user_functions

    def register(self, name: str, target: str) -> None:
        if not _TARGET_RE.match(target):
            raise FunctionConfigError(
                f"function {name!r}: target must be 'module:function', got {target!r}"
            )
        self.functions[name] = target

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            # forkserver: a forked child would inherit the server's listening socket and
            # its clients' connections, and keep them open after the server closes them.
            self._executor = ProcessPoolExecutor(
                max_workers=2, mp_context=multiprocessing.get_context("forkserver")
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None and self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def invoke(
        self, name: str, event: Any, context: dict[str, Any]
    ) -> tuple[Any, str | None]:
        """Run the function; (payload, function error type or None)."""
        target = self.functions.get(function_name(name))
        if target is None:
            raise StatesError(
                "Lambda.ResourceNotFoundException",
                f"Function not found: {name} (register it in the functions file)",
            )
        loop = asyncio.get_running_loop()
        payload, error = await loop.run_in_executor(
            self.executor, _call, target, json.dumps(event), context
        )
        return json.loads(payload), error

    async def invoke_task(
        self, name: str, event: Any, context: dict[str, Any]
    ) -> tuple[Any, str | None, str]:
        """For a task: a registered function, else a created one; (payload, error, version).

        ``name`` may be a name or ARN, qualified (``:$LATEST``, a version, an alias).
        """
        try:
            ref = parse_function_name(name)
        except FunctionNameError as exc:  # a malformed name
            raise StatesError("Lambda.InvalidParameterValueException", str(exc)) from None
        if ref.name in self.functions and ref.qualifier in (None, LATEST):
            payload, error = await self.invoke(ref.name, event, context)
            return payload, error, LATEST
        if self.user_functions is not None:
            return await self.user_functions.invoke_for_states(name, event)
        raise StatesError(
            "Lambda.ResourceNotFoundException",
            f"Function not found: {name} (register it in the functions file)",
        )


class LambdaInvoke:
    """``arn:aws:states:::lambda:invoke`` (optimized integration) and legacy function ARNs."""

    def __init__(self, registry: FunctionRegistry) -> None:
        self.registry = registry

    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        context = {
            "function_name": "",
            "execution_arn": call.execution_arn,
            "state_name": call.state_name,
        }
        if call.resource.startswith("arn:aws:lambda:"):
            payload, error, _ = await self.registry.invoke_task(
                call.resource, call.arguments, context
            )
            if error is not None:
                raise StatesError(error, json.dumps(payload))
            return payload
        args = call.arguments
        if not isinstance(args, dict) or not isinstance(args.get("FunctionName"), str):
            raise StatesError(
                RUNTIME, "lambda:invoke needs a FunctionName string in its Parameters"
            )
        event = args.get("Payload", {})
        if isinstance(event, str):
            try:
                event = json.loads(event)
            except ValueError:
                pass
        context["function_name"] = function_name(args["FunctionName"])
        payload, error, version = await self.registry.invoke_task(
            args["FunctionName"], event, context
        )
        if error is not None:
            raise StatesError(error, json.dumps(payload))
        return {
            "ExecutedVersion": version,
            "Payload": payload,
            "StatusCode": 200,
            "SdkHttpMetadata": {"HttpStatusCode": 200},
            "SdkResponseMetadata": {"RequestId": call.execution_arn.rsplit(":", 1)[-1]},
        }
