"""A small Step Functions client for the worker's four calls (AWS JSON 1.0 over HTTP/1.1).

Each call is ``POST /`` with ``X-Amz-Target: AWSStepFunctions.<Action>``,
``Content-Type: application/x-amz-json-1.0`` and a SigV4 signature for the
service ``states`` (:mod:`montemap.worker.sfn_signing`), over kept-alive
HTTP/1.1 connections (:mod:`montemap.worker.http11`; a few, for the worker's
threads). It costs a fraction of a boto3 request's CPU and is called the way
boto3's client is (``get_activity_task(activityArn=..., workerName=...)``...),
so :class:`montemap.worker.client.TaskApi` takes either.

Failures are raised as botocore raises them, so that the worker's error
policy sorts them the same way:

* an error response: ``ClientError`` with ``Error.Code`` from the JSON body's
  ``__type`` (``"namespace#Code"`` or ``"Code"``, anything after ``:``
  dropped), else its ``code``, else the ``X-Amzn-ErrorType`` header, else the
  HTTP status; ``Error.Message`` from ``message`` (or ``Message``), and
  ``ResponseMetadata.HTTPStatusCode``;
* no connection: ``EndpointConnectionError``, ``ConnectTimeoutError`` or
  ``SSLError``; no answer in time: ``ReadTimeoutError``; a connection closed
  before a whole response: ``ConnectionClosedError``; no credentials:
  ``NoCredentialsError``.

A kept-alive connection the server has closed meanwhile is replaced, and a
request that found it closed (no byte of an answer) is sent once more on a
new connection.
"""

from __future__ import annotations

import json
import select
import threading
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)

from montemap.worker.errors import WorkerError
from montemap.worker.http11 import Connection, Response
from montemap.worker.sfn_config import CredentialSource, ca_bundle
from montemap.worker.sfn_signing import FrozenCredentials, signed_headers

if TYPE_CHECKING:
    import ssl

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AWSStepFunctions."
USER_AGENT = "montemap-worker"
#: GetActivityTask holds a request up to 60 s; the client must wait longer.
POLL_READ_TIMEOUT = 70.0


class SfnResponseError(WorkerError):
    """A success response whose body is not a JSON object."""


class EndpointError(WorkerError):
    """An endpoint URL the client cannot use."""


class Endpoint:
    """Where requests go: scheme, address, the ``Host`` header and the path."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EndpointError(f"endpoint {url!r} is not an http:// or https:// URL")
        try:
            port = parts.port
        except ValueError:
            raise EndpointError(f"endpoint {url!r} has an invalid port")
        self.url = url
        self.https = parts.scheme == "https"
        self.hostname = parts.hostname
        default_port = 443 if self.https else 80
        self.port = port or default_port
        name = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        self.host_header = name if self.port == default_port else f"{name}:{self.port}"
        self.path = parts.path.rstrip("/") + "/"
        self.request_url = f"{parts.scheme}://{parts.netloc}{self.path}"


def _ssl_context() -> ssl.SSLContext:
    """Certificates from :func:`~montemap.worker.sfn_config.ca_bundle` (botocore's order),
    else certifi's, else the system's."""
    import ssl

    cafile = ca_bundle()
    if cafile is None:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:
            cafile = None
    return ssl.create_default_context(cafile=cafile)


def _dropped(conn: Connection) -> bool:
    """Whether an idle kept-alive connection was closed (readable: EOF or stray bytes)."""
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _close_all(connections: list[Connection]) -> None:
    for conn in list(connections):
        conn.close()


class ConnectionPool:
    """Kept-alive connections to one endpoint, reused last-in first-out."""

    def __init__(
        self, endpoint: Endpoint, *, connect_timeout: float, read_timeout: float, size: int
    ) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.size = size
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        # a client dropped without close() (a Worker's own) still closes its sockets
        weakref.finalize(self, _close_all, self._idle)

    def take(self) -> tuple[Connection, bool]:
        """An open connection and whether it was used before."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect(), False
            if not _dropped(conn):
                return conn, True
            conn.close()

    def give_back(self, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        _close_all(idle)

    def _connect(self) -> Connection:
        endpoint = self.endpoint
        if endpoint.https and self._context is None:
            self._context = _ssl_context()
        try:
            return Connection(
                endpoint.hostname,
                endpoint.port,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                tls=self._context if endpoint.https else None,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(endpoint_url=endpoint.request_url, error=exc) from exc
        except OSError as exc:
            if endpoint.https and _is_ssl_error(exc):
                raise SSLError(endpoint_url=endpoint.request_url, error=exc) from exc
            raise EndpointConnectionError(endpoint_url=endpoint.request_url, error=exc) from exc


def _is_ssl_error(exc: OSError) -> bool:
    import ssl

    return isinstance(exc, ssl.SSLError)


class SfnHttpClient:
    """The worker's Step Functions calls, boto3-shaped (see the module's docstring)."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        region: str,
        credentials: CredentialSource | None,
        read_timeout: float = POLL_READ_TIMEOUT,
        connect_timeout: float = 10.0,
        max_connections: int = 10,
    ) -> None:
        self.endpoint = Endpoint(endpoint_url)
        self.region = region
        self.credentials = credentials
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.pool = ConnectionPool(
            self.endpoint,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            size=max_connections,
        )
        self._polls: set[Connection] = set()  # connections of GetActivityTask calls in flight
        self._polls_lock = threading.Lock()
        self._polls_ended = False

    @property
    def endpoint_url(self) -> str:
        return self.endpoint.url

    # ------------------------------------------------------------------ the four calls
    def get_activity_task(
        self, *, activityArn: str, workerName: str | None = None
    ) -> dict[str, Any]:
        params = {"activityArn": activityArn}
        if workerName is not None:
            params["workerName"] = workerName
        return self.call("GetActivityTask", params)

    def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        return self.call("SendTaskSuccess", {"taskToken": taskToken, "output": output})

    def send_task_failure(
        self,
        *,
        taskToken: str,
        error: str | None = None,
        cause: str | None = None,
    ) -> dict[str, Any]:
        params = {"taskToken": taskToken}
        if error is not None:
            params["error"] = error
        if cause is not None:
            params["cause"] = cause
        return self.call("SendTaskFailure", params)

    def send_task_heartbeat(self, *, taskToken: str) -> dict[str, Any]:
        return self.call("SendTaskHeartbeat", {"taskToken": taskToken})

    def close(self) -> None:
        self.pool.close()

    def end_polls(self) -> None:
        """End the long polls in flight and refuse later ones (a stopping worker's).

        Their connections are closed, as the process's exit would close them: the
        server cancels such a poll, so the task it would have handed over waits for
        another worker. A poll then raises ``ConnectionClosedError``; the other
        calls (a task's result, its heartbeats) go on.
        """
        with self._polls_lock:
            self._polls_ended = True
            polls = list(self._polls)
        for conn in polls:
            conn.abort()

    # ------------------------------------------------------------------ one request
    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``operation`` with ``params``; its parsed result or a botocore error."""
        body = json.dumps(params).encode()
        headers = signed_headers(
            self._frozen_credentials(),
            region=self.region,
            host=self.endpoint.host_header,
            path=self.endpoint.path,
            target=TARGET_PREFIX + operation,
            content_type=CONTENT_TYPE,
            body=body,
            amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        )
        headers["user-agent"] = USER_AGENT
        response = self._send(headers, body, poll=operation == "GetActivityTask")
        return parse_response(operation, response.status, response.headers, response.body)

    def _frozen_credentials(self) -> FrozenCredentials:
        frozen = self.credentials.get_frozen_credentials() if self.credentials else None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise NoCredentialsError()
        if isinstance(frozen, FrozenCredentials):
            return frozen
        return FrozenCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _poll_starts(self, conn: Connection) -> bool:
        """Register a poll's connection (for :meth:`end_polls`); False once polls ended."""
        with self._polls_lock:
            if self._polls_ended:
                return False
            self._polls.add(conn)
            return True

    def _send(self, headers: dict[str, str], body: bytes, *, poll: bool = False) -> Response:
        url = self.endpoint.request_url
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = f"POST {self.endpoint.path} HTTP/1.1\r\n{lines}content-length: {len(body)}\r\n\r\n"
        request = head.encode("latin-1")
        while True:
            conn, reused = self.pool.take()
            if poll and not self._poll_starts(conn):
                self.pool.give_back(conn)
                raise ConnectionClosedError(endpoint_url=url)
            try:
                response = conn.exchange(request, body)
            except TimeoutError as exc:
                conn.close()
                raise ReadTimeoutError(endpoint_url=url, error=exc) from exc
            except (ConnectionResetError, BrokenPipeError) as exc:
                # ClosedBeforeResponse included: no byte of an answer came
                conn.close()
                if reused and not (poll and self._polls_ended):
                    continue  # a kept-alive connection closed under us: once more, on a new one
                raise ConnectionClosedError(endpoint_url=url) from exc
            except OSError as exc:
                conn.close()
                raise ConnectionClosedError(endpoint_url=url) from exc
            finally:
                if poll:
                    with self._polls_lock:
                        self._polls.discard(conn)
            if response.keep_alive:
                self.pool.give_back(conn)
            else:
                conn.close()
            return response


def json_error_code(status: int, headers: Mapping[str, str], body: Mapping[str, Any]) -> str:
    """The error code of a JSON 1.0 error response (see the module's docstring)."""
    raw = body.get("__type") or body.get("code") or headers.get("x-amzn-errortype") or str(status)
    code = str(raw).split(":", 1)[0]
    return code.rsplit("#", 1)[-1]


def parse_response(
    operation: str, status: int, headers: list[tuple[str, str]], data: bytes
) -> dict[str, Any]:
    """A success body as a dict (with boto3's ``ResponseMetadata``), or ``ClientError``.

    ``headers`` have lower-case names."""
    header_map = dict(headers)
    metadata = {
        "RequestId": header_map.get("x-amzn-requestid", ""),
        "HTTPStatusCode": status,
        "HTTPHeaders": header_map,
        "RetryAttempts": 0,
    }
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        parsed = None
    if status < 300:
        if not isinstance(parsed, dict):
            raise SfnResponseError(
                f"{operation}: the service answered HTTP {status} with a body that is not "
                f"a JSON object: {data[:200]!r}"
            )
        parsed["ResponseMetadata"] = metadata
        return parsed
    if not isinstance(parsed, dict):  # as botocore: the text itself is the message
        parsed = {"message": data.decode("utf-8", "replace")}
    message = parsed.get("message", parsed.get("Message", ""))
    error = {"Code": json_error_code(status, header_map, parsed), "Message": str(message or "")}
    response: Any = {"Error": error, "ResponseMetadata": metadata}
    raise ClientError(response, operation)
