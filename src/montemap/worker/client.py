"""The worker's calls to the Step Functions API.

:func:`make_client` makes a :class:`montemap.worker.sfn_http.SfnHttpClient`:
the four calls over kept-alive connections, SigV4-signed with the
credentials botocore's chain finds, at a fraction of a boto3 request's CPU.
The endpoint and region are found as boto3 finds them, so the same worker
runs against montemap (``--endpoint``, ``AWS_ENDPOINT_URL_SFN`` or
``AWS_ENDPOINT_URL``) and against AWS Step Functions (no endpoint, real
credentials). :class:`TaskApi` also takes a boto3 Step Functions client: both
raise botocore's exceptions.

Errors are sorted three ways:

* *gone* (``TaskDoesNotExist``, ``TaskTimedOut``, ``InvalidToken``): the
  service no longer waits for the task; logged, never retried;
* *transient* (connection failures, timeouts, throttling, 5xx): retried with
  exponential back-off and full jitter;
* anything else (``ActivityDoesNotExist``, ``AccessDeniedException``...):
  raised to the caller, which decides.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from montemap import signing_keys as keys
from montemap.worker import sfn_config
from montemap.worker.backoff import Backoff
from montemap.worker.context import task_id
from montemap.worker.errors import INVALID_TASK_OUTPUT, MAX_CAUSE_LENGTH, truncate
from montemap.worker.sfn_http import POLL_READ_TIMEOUT, SfnHttpClient

GONE_CODES = frozenset({"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"})
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        # More pollers than the activity's quota: the others' polls end, so poll again later.
        "ActivityWorkerLimitExceeded",
    }
)

log = logging.getLogger("montemap.worker")


class StepFunctionsCalls(Protocol):
    """The calls :class:`TaskApi` makes: an :class:`SfnHttpClient` or a boto3 client."""

    def get_activity_task(self, *, activityArn: str, workerName: str = ...) -> Any: ...

    def send_task_success(self, *, taskToken: str, output: str) -> Any: ...

    def send_task_failure(
        self,
        *,
        taskToken: str,
        error: str = ...,
        cause: str = ...,
    ) -> Any: ...

    def send_task_heartbeat(self, *, taskToken: str) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ActivityTask:
    """A task handed to this worker: its token and its input (JSON text)."""

    token: str
    input: str


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ``ClientError``, else None."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def is_gone(exc: BaseException) -> bool:
    """Whether the error says the service no longer waits for the task."""
    return error_code(exc) in GONE_CODES


def is_transient(exc: BaseException) -> bool:
    """Whether the call may succeed if simply tried again later."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in TRANSIENT_CODES or int(status) >= 500
    return isinstance(exc, (BotoConnectionError, HTTPClientError))


def describe_api_error(exc: BaseException, client: object = None) -> str:
    """A one-line description of a failed call, for logs and errors; a refused key or
    signature (with ``client``, the client that sent it) says which key and what to set."""
    code = error_code(exc)
    if code is not None and isinstance(exc, ClientError):
        signer = sfn_config.signer(credentials_of(client))
        explained = keys.refusal(code, signer, "the endpoint")
        if explained is not None:
            return f"{code}: {explained}"
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{code}: {_first_line(message)}" if message else code
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


def _first_line(text: str) -> str:
    """The first line of ``text`` (a server's message may go on with a canonical request)."""
    first, _, rest = text.strip().partition("\n")
    return first.rstrip() + (" ..." if rest.strip() else "")


def credentials_of(client: object) -> sfn_config.CredentialSource | None:
    """What ``client`` (the worker's own, or a boto3 client) signs with; None if unknown."""
    found = getattr(client, "credentials", None)  # SfnHttpClient
    if found is None:  # a boto3 client
        found = getattr(getattr(client, "_request_signer", None), "_credentials", None)
    return found if hasattr(found, "get_frozen_credentials") else None


def make_client(
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_connections: int = 10,
    connect_timeout: float = 10.0,
) -> StepFunctionsCalls:
    """The worker's Step Functions client: no retries of its own (the worker
    retries) and a read timeout longer than the 60 s long poll.

    Without ``endpoint_url`` the endpoint, and without ``region`` the region,
    come from the usual configuration; credentials always do (environment,
    shared files, SSO, container or instance roles). See
    :mod:`montemap.worker.sfn_config`. An endpoint behind an HTTP proxy
    (``HTTPS_PROXY``...) gets a boto3 client, which speaks to proxies.
    """
    resolved = sfn_config.resolve(endpoint_url=endpoint_url, region=region)
    if sfn_config.proxy_for(resolved.endpoint_url):
        return boto3_client(
            resolved, max_connections=max_connections, connect_timeout=connect_timeout
        )
    return SfnHttpClient(
        endpoint_url=resolved.endpoint_url,
        region=resolved.region,
        credentials=resolved.credentials,
        read_timeout=POLL_READ_TIMEOUT,
        connect_timeout=connect_timeout,
        max_connections=max_connections,
    )


def boto3_client(
    resolved: sfn_config.Resolved, *, max_connections: int, connect_timeout: float
) -> StepFunctionsCalls:
    """A boto3 Step Functions client with the worker's settings (imported only here)."""
    import boto3
    from botocore.config import Config

    config = Config(
        read_timeout=POLL_READ_TIMEOUT,
        connect_timeout=connect_timeout,
        retries={"max_attempts": 0, "mode": "standard"},
        max_pool_connections=max_connections,
        tcp_keepalive=True,
    )
    # Keys found without botocore's chain (the environment's, the built-in pair) are
    # handed over; else boto3's session finds the same ones again, and refreshes them.
    static = resolved.credentials
    frozen = static.frozen if isinstance(static, sfn_config.StaticCredentials) else None
    client: StepFunctionsCalls = boto3.session.Session().client(
        "stepfunctions",
        region_name=resolved.region,
        endpoint_url=resolved.endpoint_url,
        config=config,
        aws_access_key_id=frozen.access_key if frozen else None,
        aws_secret_access_key=frozen.secret_key if frozen else None,
        aws_session_token=frozen.token if frozen else None,
    )
    return client


class TaskApi:
    """The calls a worker makes, with its error policy.

    ``heartbeat`` returns False once the task is gone; ``succeed`` and
    ``fail`` retry transient errors for up to ``report_timeout`` seconds and
    return whether the service accepted the result.
    """

    def __init__(
        self,
        client: StepFunctionsCalls,
        *,
        report_timeout: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.report_timeout = report_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.log = logger or log

    def backoff(self) -> Backoff:
        return Backoff(base=self.backoff_base, cap=self.backoff_cap)

    # ------------------------------------------------------------------ polling
    def poll(self, activity_arn: str, worker_name: str) -> ActivityTask | None:
        """One GetActivityTask long poll; None when no task came. Raises on errors."""
        response = self.client.get_activity_task(activityArn=activity_arn, workerName=worker_name)
        token = response.get("taskToken")
        if not token:
            return None
        return ActivityTask(token=token, input=response.get("input", ""))

    # ------------------------------------------------------------------ task calls
    def heartbeat(self, token: str) -> bool:
        """SendTaskHeartbeat; False when the task is gone. Other errors are logged
        and count as alive: the next beat tries again."""
        try:
            self.client.send_task_heartbeat(taskToken=token)
        except (ClientError, BotoCoreError) as exc:
            if is_gone(exc):
                self.log.warning(
                    "heartbeat refused, the task is gone: %s",
                    describe_api_error(exc),
                    extra={"task_id": task_id(token)},
                )
                return False
            self.log.warning(
                "heartbeat failed: %s", describe_api_error(exc), extra={"task_id": task_id(token)}
            )
        return True

    def succeed(self, token: str, output: str) -> bool:
        """SendTaskSuccess; an output the service refuses fails the task instead."""
        try:
            return self._report(
                token, lambda: self.client.send_task_success(taskToken=token, output=output)
            )
        except ClientError as exc:
            if error_code(exc) != "InvalidOutput":
                raise
            cause = f"the service refused the handler's output: {describe_api_error(exc)}"
            return self.fail(token, INVALID_TASK_OUTPUT, cause)

    def fail(self, token: str, error: str, cause: str) -> bool:
        """SendTaskFailure with a structured error name and cause."""
        cause = truncate(cause, MAX_CAUSE_LENGTH)
        return self._report(
            token, lambda: self.client.send_task_failure(taskToken=token, error=error, cause=cause)
        )

    def _report(self, token: str, call: Any) -> bool:
        deadline = time.monotonic() + self.report_timeout
        backoff: Backoff | None = None  # made at the first failure (seeding costs ~15 us)
        while True:
            try:
                call()
                return True
            except (ClientError, BotoCoreError) as exc:
                if is_gone(exc):
                    self.log.warning(
                        "result dropped, the task is gone: %s",
                        describe_api_error(exc),
                        extra={"task_id": task_id(token)},
                    )
                    return False
                backoff = backoff or self.backoff()
                delay = backoff.next_delay()
                if not is_transient(exc) or time.monotonic() + delay > deadline:
                    raise
                self.log.warning(
                    "reporting the result failed (%s); retrying in %.2f s",
                    describe_api_error(exc),
                    delay,
                    extra={"task_id": task_id(token)},
                )
                time.sleep(delay)  # back-off between attempts, not a wait on a condition
