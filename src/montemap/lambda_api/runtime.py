"""Running one invocation: a fresh process per call, the function's environment, a timeout.

Each invocation starts its own process (the server's Python for ``python3.*``
runtimes, the host's ``node`` for ``nodejs*``) with an environment built
from nothing but Lambda's variables and the function's own
``Environment.Variables``: nothing of the server's or another function's
environment leaks in, and two functions may both have an ``index.py``. A
call that outlives its ``Timeout`` has its process group killed and reports
``Task timed out after N.NN seconds`` as Lambda does. A semaphore bounds
how many run at once; the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from montemap.lambda_api import bootstrap_node
from montemap.lambda_api.errors import LambdaError

#: Bytes of log returned with ``LogType: Tail`` (Lambda's 4 KB).
TAIL_BYTES = 4096
#: The largest result a synchronous invocation returns (Lambda's 6 MB quota, as it counts it).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
#: A result file larger than this holds a payload over the quota (JSON escapes a character
#: in 6 bytes at most), so it is refused unread.
_MAX_RESULT_FILE = 6 * MAX_RESPONSE_BYTES + 1024
#: How Lambda (a Go runtime interface) words a process killed by a signal.
_SIGNAL_WORDS = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup",
    signal.SIGABRT: "aborted",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGPIPE: "broken pipe",
    signal.SIGQUIT: "quit",
}
#: How many invocations may run in their callers' slots, per slot.
LENT_PER_SLOT = 8
_PYTHON_BOOTSTRAP = Path(__file__).with_name("bootstrap_python.py")
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class RoleSession(Protocol):
    """Temporary credentials of a function's execution role (what STS issued)."""

    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> str: ...
    @property
    def session_token(self) -> str: ...


#: A session of the role (its ARN) named after the function, valid for a call of the
#: timeout (seconds) given; ``None`` where none can be issued (the server's key serves).
RoleCredentials = Callable[[str, str, int], RoleSession | None]


@dataclass(frozen=True)
class ServerEnv:
    """What every function is told about the server it runs on."""

    endpoint: str
    region: str
    #: The key a function signs with when no role session is issued for it.
    access_key_id: str
    secret_access_key: str
    #: Issues the sessions of functions' execution roles (the server's STS; assembly.py).
    role_credentials: RoleCredentials | None = None


@dataclass(frozen=True)
class Invocation:
    """One call of one function version."""

    name: str
    version: str
    runtime: str
    handler: str
    timeout: int
    memory: int
    variables: dict[str, str]
    code_dir: Path
    invoked_arn: str
    request_id: str
    event: str  # JSON text
    #: Where it runs and imports from (the code generation it started with; else code_dir).
    work_dir: Path | None = None
    #: The caller's ``ClientContext`` (JSON text of an object; "" when none).
    client_context: str = ""
    #: The function's layers nothing stands for here (named when an import fails).
    unmapped_layers: tuple[str, ...] = ()
    #: The execution role's ARN (its session's credentials sign the function's calls).
    role: str = ""
    #: ``LoggingConfig.LogGroup`` when the function names one ("": ``/aws/lambda/NAME``).
    log_group: str = ""


@dataclass
class Outcome:
    """What the call gave: a payload, or Lambda's error document (``function_error`` set)."""

    payload: str
    function_error: str | None = None
    error_type: str | None = None
    log: str = field(default="", repr=False)
    #: The bytes a response-streaming handler wrote (any bytes, not only JSON), when it is one.
    raw: bytes | None = field(default=None, repr=False)
    #: The content type a response-streaming handler gave its stream.
    content_type: str = "application/json"

    @property
    def body(self) -> bytes:
        """The payload as Invoke answers it."""
        return self.raw if self.raw is not None else self.payload.encode("utf-8")

    @property
    def log_tail(self) -> str:
        data = self.log.encode("utf-8")[-TAIL_BYTES:]
        return base64.b64encode(data).decode("ascii")


def unsupported_runtime(runtime: str, why: str) -> LambdaError:
    return LambdaError(
        "InvalidRuntimeException",
        f"The runtime parameter of {runtime} is not supported here: {why}",
        status=502,
    )


class Runner:
    """Starts invocation processes; ``limit`` of them at once."""

    def __init__(self, server: ServerEnv, work_dir: Path, log_dir: Path, *, limit: int) -> None:
        self.server = server
        self.work_dir = work_dir
        self.log_dir = log_dir
        self.node = shutil.which("node")
        self._node_script: Path | None = None
        #: The AWS SDK for JavaScript clients Node.js functions find (``NODE_PATH``).
        self.node_modules = bootstrap_node.sdk_modules()
        self._slots = asyncio.Semaphore(limit)
        #: Invocations running in their callers' slots (see :meth:`run`), bounded too: a
        #: function that invokes itself must not start processes without end.
        self._lent = asyncio.Semaphore(limit * LENT_PER_SLOT)

    def command(self, runtime: str) -> list[str]:
        """The interpreter and bootstrap for ``runtime``; InvalidRuntimeException if none."""
        if runtime.startswith("python3."):
            return [sys.executable, str(_PYTHON_BOOTSTRAP)]
        if runtime.startswith("nodejs"):
            if self.node is None:
                raise unsupported_runtime(runtime, "node is not installed on this host")
            if self._node_script is None:
                self._node_script = bootstrap_node.write_script(self.work_dir / "runtime")
            return [self.node, str(self._node_script)]
        raise unsupported_runtime(runtime, "functions run with python3.* or nodejs*.x runtimes")

    def environment(self, call: Invocation, stream: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", _DEFAULT_PATH),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": self.server.endpoint,
            **(
                bootstrap_node.default_variables(self.node_modules)
                if call.runtime.startswith("nodejs")
                else {}
            ),
            **call.variables,
            "_HANDLER": call.handler,
            "LAMBDA_TASK_ROOT": str(call.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(self.command(call.runtime)[-1]).parent),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{call.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": call.name,
            "AWS_LAMBDA_FUNCTION_VERSION": call.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(call.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": call.log_group or f"/aws/lambda/{call.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": self.server.region,
            "AWS_DEFAULT_REGION": self.server.region,
            **self.credentials(call),
        }
        return env

    def credentials(self, call: Invocation) -> dict[str, str]:
        """The variables of the role's session as Lambda sets them; else the server's key."""
        provider = self.server.role_credentials
        session = None
        if provider is not None and call.role:
            session = provider(call.role, call.name, call.timeout)
        if session is None:
            key, secret = self.server.access_key_id, self.server.secret_access_key
            return {
                "AWS_ACCESS_KEY": key,
                "AWS_ACCESS_KEY_ID": key,
                "AWS_SECRET_ACCESS_KEY": secret,
            }
        return {
            "AWS_ACCESS_KEY": session.access_key_id,
            "AWS_ACCESS_KEY_ID": session.access_key_id,
            "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
            "AWS_SESSION_TOKEN": session.session_token,
        }

    async def run(self, call: Invocation, *, lent: bool = False) -> Outcome:
        """Run the call to its end (or its timeout); never raises for the function's failures.

        ``lent``: a running invocation waits for this one (a function's synchronous Invoke),
        so this one runs in the caller's slot rather than waiting for a free one: callers
        holding every slot would otherwise wait for their calls until they time out. (At
        most ``LENT_PER_SLOT`` times as many run so: a function invoking itself ends there.)
        """
        command = self.command(call.runtime)
        async with self._lent if lent else self._slots:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix="invoke-", dir=self.work_dir))
            try:
                return await self._run_in(scratch, command, call)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

    async def _run_in(self, scratch: Path, command: list[str], call: Invocation) -> Outcome:
        event_file, result_file, log_file = (scratch / n for n in ("event", "result", "log"))
        event_file.write_text(call.event, encoding="utf-8")
        started = time.time()
        deadline_ms = int((started + call.timeout) * 1000)
        stream = _stream_name(call)
        args = [str(event_file), str(result_file), call.request_id, str(deadline_ms)]
        with open(log_file, "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *command,
                *args,
                call.invoked_arn,
                call.client_context,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.environment(call, stream),
                cwd=str(call.work_dir or call.code_dir),
                start_new_session=True,  # the timeout kills the handler's children too
            )
            timed_out = False
            try:
                await asyncio.wait_for(proc.wait(), timeout=call.timeout)
            except TimeoutError:
                timed_out = True
            finally:
                if proc.returncode is None:
                    _kill_group(proc.pid)
                    await proc.wait()
        elapsed = time.time() - started
        outcome = self._outcome(call, result_file, timed_out, proc.returncode)
        outcome.log = await asyncio.to_thread(self._record, call, log_file, elapsed, outcome)
        return outcome

    def _outcome(
        self, call: Invocation, result_file: Path, timed_out: bool, code: int | None
    ) -> Outcome:
        if timed_out:
            message = f"RequestId: {call.request_id} Error: Task timed out after {call.timeout:.2f} seconds"
            return _failed({"errorType": "Sandbox.Timedout", "errorMessage": message})
        try:
            if result_file.stat().st_size > _MAX_RESULT_FILE:
                return _too_large()  # not read: no payload that fits writes so many bytes
            result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            message = f"RequestId: {call.request_id} Error: {_exit_words(code)}"
            return _failed({"errorType": "Runtime.ExitError", "errorMessage": message})
        if "error" in result:
            return _failed(_layer_hint(result["error"], call.unmapped_layers))
        if "payloadBase64" in result:  # what a response-streaming handler wrote
            raw = base64.b64decode(result["payloadBase64"])
            if len(raw) > MAX_RESPONSE_BYTES:
                return _too_large()
            text = raw.decode("utf-8", errors="replace")
            kind = str(result.get("contentType") or "application/octet-stream")
            return Outcome(payload=text, raw=raw, content_type=kind)
        payload = str(result["payload"])
        if len(payload.encode("utf-8")) > MAX_RESPONSE_BYTES:
            return _too_large()
        return Outcome(payload=payload)

    def _record(self, call: Invocation, log_file: Path, elapsed: float, outcome: Outcome) -> str:
        """Frame the invocation's log as Lambda does and append it to the function's log file
        (copied, never held in memory whole: a function may print gigabytes); the framed
        log's end, for ``LogType: Tail``."""
        rid = call.request_id
        head = f"START RequestId: {rid} Version: {call.version}\n".encode()
        end = (
            f"END RequestId: {rid}\n"
            f"REPORT RequestId: {rid}\tDuration: {elapsed * 1000:.2f} ms\t"
            f"Billed Duration: {math.ceil(elapsed * 1000)} ms\tMemory Size: {call.memory} MB\n"
        )
        if outcome.error_type == "Sandbox.Timedout":
            end += f"{json.loads(outcome.payload)['errorMessage']}\n"
        with open(log_file, "rb") as printed:
            size = printed.seek(0, os.SEEK_END)
            printed.seek(max(0, size - TAIL_BYTES))
            tail = (head if size <= TAIL_BYTES else b"") + printed.read() + end.encode()
            with contextlib.suppress(OSError):
                self.log_dir.mkdir(parents=True, exist_ok=True)
                with open(self.log_dir / f"{call.name}.log", "ab") as f:
                    f.write(head)
                    printed.seek(0)
                    shutil.copyfileobj(printed, f)
                    f.write(end.encode())
        return tail.decode("utf-8", errors="replace")


def _stream_name(call: Invocation) -> str:
    """The log stream: the date, the version and an id; in a custom group, which may be
    shared, the function's name before the version (Lambda's naming)."""
    owner = call.name if call.log_group else ""
    return f"{datetime.now(UTC):%Y/%m/%d}/{owner}[{call.version}]{call.request_id.replace('-', '')}"


def _layer_hint(document: dict[str, Any], layers: tuple[str, ...]) -> dict[str, Any]:
    """Lambda's import error, with a line naming the function's layers that are not fetched
    here (what it could not import is likely theirs) and where to map them."""
    if document.get("errorType") != "Runtime.ImportModuleError" or not layers:
        return document
    hint = (
        f"\n(This function's layers are not fetched here: {', '.join(layers)}. The server's "
        "mapping file may name host packages that stand for a layer: docs/lambda.md, "
        '"Layers and other runtimes".)'
    )
    return {**document, "errorMessage": f"{document.get('errorMessage', '')}{hint}"}


def _too_large() -> Outcome:
    return _failed(
        {
            "errorMessage": "Response payload size exceeded maximum allowed payload "
            f"size ({MAX_RESPONSE_BYTES} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    )


def _failed(document: dict[str, Any]) -> Outcome:
    return Outcome(
        payload=json.dumps(document),
        function_error="Unhandled",
        error_type=str(document.get("errorType") or "Error"),
    )


def _exit_words(code: int | None) -> str:
    """Lambda's words for a runtime process that ended without a result."""
    if code is None or code == 0:
        return "Runtime exited without providing a reason"
    if code > 0:
        return f"Runtime exited with error: exit status {code}"
    try:
        number = signal.Signals(-code)
    except ValueError:
        return f"Runtime exited with error: signal {-code}"
    words = _SIGNAL_WORDS.get(number, number.name.removeprefix("SIG").lower())
    return f"Runtime exited with error: signal: {words}"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
