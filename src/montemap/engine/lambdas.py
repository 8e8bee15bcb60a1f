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
import os
import re
import select
import threading
import traceback
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from montemap.errors import RUNTIME, MontemapError, StatesError, yaml_error_line
from montemap.lambda_names import LATEST, FunctionNameError, FunctionRef, parse_function_name

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
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FunctionConfigError(f"cannot read functions file {p}: {exc.strerror}")
    except UnicodeDecodeError:
        raise FunctionConfigError(f"functions file {p} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text) if p.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        why = str(exc) if isinstance(exc, ValueError) else yaml_error_line(exc)
        raise FunctionConfigError(
            f"functions file {p} is not valid {p.suffix[1:] or 'JSON'}: {why}"
        ) from None
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
            "requestId": "",
            "stackTrace": _user_frames(exc),
        }
        return json.dumps(doc), type(exc).__name__


#: The most stack frames a function's error reports (its innermost), so a deep
#: recursion still fits a Cause.
MAX_TRACE_FRAMES = 50


def _user_frames(exc: BaseException) -> list[str]:
    """The traceback's frames of the function's own code, as Lambda's Python runtime
    lists them (``traceback.format_list``: no "Traceback" header, no closing
    "Error: message" line, none of the runner's own frames)."""
    here = os.path.abspath(__file__)
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(frame.filename) != here
        and not frame.filename.startswith("<frozen importlib")
    ]
    return traceback.format_list(frames[-MAX_TRACE_FRAMES:])


def _start_process(environment: dict[str, str], server_pid: int) -> None:
    """Runs in a pool process as it starts: the server's environment for its functions,
    and an end when the server's process ends without closing the pool (killed): the
    pool's processes would otherwise wait for work forever, and keep the forkserver."""
    os.environ.clear()
    os.environ.update(environment)
    try:
        server = os.pidfd_open(server_pid)
    except ProcessLookupError:  # gone already
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd here: the pool ends when it is closed
        return

    def watch() -> None:
        select.select([server], [], [])  # readable once the process has ended
        os._exit(1)

    threading.Thread(target=watch, name="montemap-server-watch", daemon=True).start()


def _preload(modules: tuple[str, ...]) -> int:
    """Runs in a pool process: import ``modules`` ahead of the first call; the process's id.

    A module that fails to import is left for that call to report.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # reported by the call that needs it, as without a warm-up
            pass
    return os.getpid()


class UserFunctions(Protocol):
    """Functions created through the Lambda API (:class:`montemap.lambda_api.LambdaService`)."""

    async def invoke_for_states(self, function: str, event: Any) -> tuple[Any, str | None, str]:
        """(payload, function error type or None, executed version); raises StatesError."""
        ...

    def resolve(self, ref: FunctionRef) -> object:
        """The version ``ref`` names; raises a refusal (a MontemapError whose ``code`` is
        Lambda's exception name: ``ResourceNotFoundException``...)."""
        ...

    def invoke_event(self, ref: FunctionRef, event: str) -> None:
        """Start an asynchronous invocation after checking the name (raises as resolve)."""
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
        self._lock = threading.Lock()
        self._closed = False
        self._warming: Future[int] | None = None
        self._events: set[asyncio.Task[tuple[Any, str | None]]] = set()
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
        with self._lock:
            return self._executor_locked()

    def _executor_locked(self) -> Executor:
        if self._executor is None:
            # forkserver: a forked child would inherit the server's listening socket and
            # its clients' connections, and keep them open after the server closes them.
            # The processes take this process's environment as it is now (as a fork would):
            # the forkserver may have been started before the server set its variables;
            # and they end with this process.
            self._executor = ProcessPoolExecutor(
                max_workers=2,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_process,
                initargs=(dict(os.environ), os.getpid()),
            )
        return self._executor

    def warm(self, modules: Iterable[str]) -> Future[int]:
        """Start the pool's first process now and import ``modules`` in it, off the caller's
        thread; the first call then finds a ready process. The future gives that process's
        id (it fails where the registry was closed first, or the process could not start).

        Without a warm-up the first call starts the process and imports its function's
        module itself; a server that never calls a function never starts one.
        """
        done: Future[int] = Future()
        names = tuple(modules)

        def start() -> None:
            try:
                with self._lock:
                    if self._closed:
                        raise FunctionConfigError("the function registry is closed")
                    executor = self._executor_locked()
                pid = executor.submit(_preload, names).result()
                # The pool counts the process idle just after it hands the result over: wait
                # for that, or a call made at once would start a second process.
                idle = getattr(executor, "_idle_worker_semaphore", None)
                if idle is not None:
                    idle.acquire()
                    idle.release()
                done.set_result(pid)
            except BaseException as exc:  # given to whoever waits on the future
                done.set_exception(exc)

        self._warming = done
        threading.Thread(target=start, name="montemap-functions-warm", daemon=True).start()
        return done

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None and self._own_executor:
            executor.shutdown(wait=False, cancel_futures=True)

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
        warming = self._warming
        if warming is not None and not warming.done():
            # the warm-up holds the pool while its process starts: wait for it here,
            # not inside the pool's submit, which would hold the event loop meanwhile
            warm = asyncio.wrap_future(warming)
            await asyncio.wait([warm])
            warm.exception()  # a failed warm-up: this call starts its process, as without one
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

    async def invoke_detached(
        self, name: str, event: Any, context: dict[str, Any], invocation_type: str
    ) -> None:
        """For a task's ``InvocationType`` ``Event`` (start the function, don't wait for it)
        or ``DryRun`` (run nothing): either checks the name first, as Lambda does.

        An ``Event`` goes to the Lambda API's durable queue when the server serves one
        (registered functions too: queued in the database, retried, run after a restart);
        an engine without it runs a registered function in memory only."""
        try:
            ref = parse_function_name(name)
        except FunctionNameError as exc:
            raise StatesError("Lambda.InvalidParameterValueException", str(exc)) from None
        if ref.name in self.functions and ref.qualifier in (None, LATEST):
            if invocation_type == "Event" and self.user_functions is not None:
                # the Lambda API's durable queue (retries, a restart) runs it
                self.user_functions.invoke_event(FunctionRef(ref.name), json.dumps(event))
            elif invocation_type == "Event":  # no Lambda API (an engine alone): in memory
                task = asyncio.ensure_future(self.invoke(ref.name, event, context))
                self._events.add(task)
                task.add_done_callback(self._event_done)
            return
        if self.user_functions is None:
            raise StatesError(
                "Lambda.ResourceNotFoundException",
                f"Function not found: {name} (register it in the functions file)",
            )
        try:
            if invocation_type == "Event":
                self.user_functions.invoke_event(ref, json.dumps(event))
            else:
                self.user_functions.resolve(ref)
        except MontemapError as exc:  # the Lambda API's refusal (the engine imports none)
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            raise StatesError(f"Lambda.{code}", str(exc)) from None

    def _event_done(self, task: asyncio.Task[tuple[Any, str | None]]) -> None:
        self._events.discard(task)
        if not task.cancelled():
            task.exception()  # an asynchronous invocation's failure is the function's own


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
        name = _qualified(args["FunctionName"], args.get("Qualifier"))
        context["function_name"] = function_name(name)
        metadata = {"RequestId": call.execution_arn.rsplit(":", 1)[-1]}
        invocation_type = args.get("InvocationType")
        if invocation_type in ("Event", "DryRun"):
            # Lambda's Invoke answers these with a status code only (202, 204).
            await self.registry.invoke_detached(name, event, context, invocation_type)
            status = 202 if invocation_type == "Event" else 204
            return {
                "Payload": "",
                "StatusCode": status,
                "SdkHttpMetadata": {"HttpStatusCode": status},
                "SdkResponseMetadata": metadata,
            }
        payload, error, version = await self.registry.invoke_task(name, event, context)
        if error is not None:
            raise StatesError(error, json.dumps(payload))
        return {
            "ExecutedVersion": version,
            "Payload": payload,
            "StatusCode": 200,
            "SdkHttpMetadata": {"HttpStatusCode": 200},
            "SdkResponseMetadata": metadata,
        }


def _qualified(name: str, qualifier: Any) -> str:
    """``FunctionName`` with the task's ``Qualifier`` parameter (a version or an alias)
    appended, as Lambda's Invoke reads the two together; a qualifier that is not a string,
    or that differs from one the name carries, fails the task as Lambda refuses it."""
    if qualifier is None:
        return name
    if not isinstance(qualifier, str):
        raise StatesError(
            "Lambda.InvalidParameterValueException", f"Invalid qualifier: {qualifier!r}"
        )
    try:
        parse_function_name(name, qualifier)  # refuses a mismatch with the name's own
        carried = parse_function_name(name).qualifier
    except FunctionNameError as exc:
        raise StatesError("Lambda.InvalidParameterValueException", str(exc)) from None
    return name if carried is not None else f"{name}:{qualifier}"
