"""``montemap server``: the engine and the Step Functions API in one process.

Serves with uvicorn (httptools, with the read deadlines and per-client cap of
:mod:`montemap.api.httpserver`) on loopback unless ``--allow-remote`` is
given; requests must name the server in ``Host`` (:mod:`montemap.api.hosts`).
SIGTERM or SIGINT stops it gracefully: its worker tasks first, while it still
answers them, then HTTP (in-flight requests get ``--shutdown-timeout`` seconds),
then the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType

import uvicorn

from montemap import option_types
from montemap.api.credentials import add_arguments as add_credentials_arguments
from montemap.api.credentials import build_authenticator
from montemap.api.hosts import HostPolicy, HostsError
from montemap.api.hosts import is_loopback as is_loopback  # re-exported (one rule)
from montemap.api.httpserver import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    HttpLimits,
    HttpLimitsError,
    server_config,
)
from montemap.arns import DEFAULT_ACCOUNT, DEFAULT_REGION
from montemap.ecs.capacity import MAX_CPU_UNITS, MAX_MEMORY_MIB, MAX_TASKS, Capacity
from montemap.errors import MontemapError

DESCRIPTION = (
    "Run executions and serve, on one port, the Step Functions, ECS, S3, Lambda, CloudFormation"
    " and IAM APIs (boto3, the AWS CLI) and the console."
)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")


class ServerConfigError(MontemapError):
    """A ``montemap server`` option that cannot be used."""


class _Server(uvicorn.Server):
    """uvicorn's server, but a stop signal ends :meth:`run` normally, after the server's
    own worker tasks.

    uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which would
    kill the process before the command closes the database; here the
    shutdown completes and the command exits with status 0.

    The shutdown first stops the worker tasks (``stop_tasks``) while the API still
    answers them, so that a task reports the work in its hands and exits, instead of
    retrying against a server that is gone until its stop grace ends; a second stop
    signal cuts that grace short (``hurry``). Then the engine's long polls end and
    HTTP stops.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        on_shutdown: Callable[[], None],
        stop_tasks: Callable[[], Awaitable[None]],
        hurry: Callable[[], None],
    ) -> None:
        super().__init__(config)
        self.on_shutdown = on_shutdown
        self.stop_tasks = stop_tasks
        self.hurry = hurry
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        again = self.should_exit
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()
        if again and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                self._loop.call_soon_threadsafe(self.hurry)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """The worker tasks stop; then the engine's long polls end, without a task (else
        each would hold the shutdown until ``--shutdown-timeout`` and then be cut off with
        a 500); then HTTP stops."""
        if self.force_exit:
            self.hurry()
        await self.stop_tasks()
        self.on_shutdown()
        await super().shutdown(sockets)


def check_options(args: argparse.Namespace) -> None:
    """Refuse options the server must not start with, saying which and why."""
    if not is_loopback(args.host) and not args.allow_remote:
        raise ServerConfigError(
            f"--host {args.host} is not a loopback address; binding it to other machines "
            "needs --allow-remote (and credentials: --credentials FILE)"
        )
    if not 0 <= args.port <= 65535:
        raise ServerConfigError(f"--port {args.port} is not a TCP port (0-65535)")
    if not _REGION_RE.match(args.region):
        raise ServerConfigError(f"--region {args.region!r} is not a region name like us-east-1")
    if not _ACCOUNT_RE.match(args.account_id):
        raise ServerConfigError(f"--account-id {args.account_id!r} must be 12 digits")
    if args.shutdown_timeout < 0:
        raise ServerConfigError("--shutdown-timeout must not be negative")
    worker_capacity(args)
    data_dir = Path(args.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise ServerConfigError(f"--data-dir {data_dir} exists and is not a directory")
    try:
        HostPolicy(args.host, allowed_hosts(args))
        http_limits(args)
    except (HostsError, HttpLimitsError) as exc:
        raise ServerConfigError(str(exc)) from None


def allowed_hosts(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``--allowed-host`` names (none where the namespace has no such option)."""
    return tuple(getattr(args, "allowed_host", None) or ())


def worker_capacity(args: argparse.Namespace) -> Capacity:
    """The host capacity for worker tasks the options ask for (the machine's by default)."""
    if args.worker_stop_grace < 0:
        raise ServerConfigError("--worker-stop-grace must not be negative")
    for option, value, most, what in (
        ("--capacity-cpu", args.capacity_cpu, MAX_CPU_UNITS, "the CPU units of 8,192 cores"),
        ("--capacity-memory", args.capacity_memory, MAX_MEMORY_MIB, "1 PiB in MiB"),
        ("--max-tasks", args.max_tasks, MAX_TASKS, "Linux's most processes"),
    ):
        if value is not None and not 1 <= value <= most:
            raise ServerConfigError(f"{option} must be from 1 to {most:,} ({what}), got {value}")
    return Capacity.of_machine(
        cpu_units=args.capacity_cpu, memory_mib=args.capacity_memory, max_tasks=args.max_tasks
    )


def http_limits(args: argparse.Namespace) -> HttpLimits:
    """The HTTP read deadlines and per-client connection cap the options ask for."""
    return HttpLimits(
        header_timeout=getattr(args, "header_timeout", DEFAULT_HEADER_TIMEOUT),
        body_timeout=getattr(args, "body_timeout", DEFAULT_BODY_TIMEOUT),
        max_connections_per_client=getattr(
            args, "max_connections_per_client", DEFAULT_MAX_CONNECTIONS_PER_CLIENT
        ),
    )


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT; the exit code."""
    check_options(args)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from montemap.assembly import Montemap, Settings

    authenticator = build_authenticator(args)
    functions_file = Path(args.functions) if args.functions else None
    if functions_file is not None and not functions_file.is_file():
        raise ServerConfigError(f"--functions {functions_file} is not a file")
    mapping_file = Path(args.mapping) if args.mapping else None
    if mapping_file is not None and not mapping_file.is_file():
        raise ServerConfigError(f"--mapping {mapping_file} is not a file")
    montemap = Montemap(
        Settings(
            data_dir=Path(args.data_dir),
            host=args.host,
            port=args.port,
            region=args.region,
            account=args.account_id,
            authenticator=authenticator,
            functions_file=functions_file,
            mapping_file=mapping_file,
            cgroups=not args.no_cgroups,
            worker_stop_grace=args.worker_stop_grace,
            capacity=worker_capacity(args),
            allowed_hosts=allowed_hosts(args),
        )
    )
    try:
        config = server_config(
            montemap.app,
            host=args.host,
            port=args.port,
            limits=http_limits(args),
            log_level=args.log_level,
            access_log=args.access_log,
            shutdown_timeout=args.shutdown_timeout,
        )
        server = _Server(
            config,
            on_shutdown=montemap.engine.activities.end_polls,
            stop_tasks=montemap.services.close,
            hurry=montemap.services.hurry,
        )
        server.run()
        return 0 if server.started else 1
    finally:
        montemap.close()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "server",
        help="run the engine and serve the AWS APIs (Step Functions, ECS, S3, Lambda, ...)",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    parser.set_defaults(func=serve)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``server`` options, by concern (the order is the help text's)."""
    _add_address_arguments(parser)
    add_credentials_arguments(parser)
    _add_resource_arguments(parser)
    _add_worker_arguments(parser)
    _add_http_arguments(parser)
    _add_logging_arguments(parser)


def _add_address_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the server listens, what it stores, and who may reach it."""
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=option_types.integer,
        default=DEFAULT_PORT,
        help="TCP port (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        default="montemap-data",
        help="directory for montemap.db and buckets/ (default: %(default)s)",
    )
    parser.add_argument(
        "--region", default=DEFAULT_REGION, help="region in ARNs (default: %(default)s)"
    )
    parser.add_argument(
        "--account-id", default=DEFAULT_ACCOUNT, help="account id in ARNs (default: %(default)s)"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (requires credentials)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a DNS name (or address) clients use to reach the server, besides loopback names "
        "and the bound address; repeatable (requests naming any other Host are refused)",
    )


def _add_resource_arguments(parser: argparse.ArgumentParser) -> None:
    """The Lambda functions and the ARN mapping the server starts with."""
    parser.add_argument(
        "--functions",
        metavar="FILE",
        help="JSON or YAML file mapping Lambda function names to module:function",
    )
    parser.add_argument(
        "--mapping",
        metavar="FILE",
        help="bind the ARNs of definitions written for AWS to local resources when they are "
        "created or updated (YAML/JSON mapping, as for `montemap aws bind`)",
    )


def _add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """How ECS worker tasks are run: cgroups, stop grace, capacity."""
    parser.add_argument(
        "--no-cgroups",
        action="store_true",
        help="do not put worker processes in cgroups (no CPU/memory limits)",
    )
    parser.add_argument(
        "--worker-stop-grace",
        type=option_types.number,
        default=30.0,
        metavar="SECONDS",
        help="seconds a worker task gets between SIGTERM and SIGKILL when it is stopped or the "
        "server shuts down (default: %(default)s, as ECS)",
    )
    parser.add_argument(
        "--capacity-cpu",
        type=option_types.integer,
        metavar="UNITS",
        help="CPU units (1024 per vCPU) worker tasks may reserve together, 1 to 8,388,608; "
        "tasks past it wait as PROVISIONING (default: 1024 per core of this machine)",
    )
    parser.add_argument(
        "--capacity-memory",
        type=option_types.integer,
        metavar="MIB",
        help="MiB of memory worker tasks may reserve together, 1 to 1,073,741,824 (1 PiB) "
        "(default: this machine's memory)",
    )
    parser.add_argument(
        "--max-tasks",
        type=option_types.integer,
        metavar="N",
        help="most worker task processes at once, 1 to 4,194,304 (default: 32 per core, "
        "64 MiB of memory each)",
    )


def _add_http_arguments(parser: argparse.ArgumentParser) -> None:
    """HTTP deadlines and limits, shutdown included."""
    parser.add_argument(
        "--shutdown-timeout",
        type=option_types.integer,
        default=5,
        help="seconds in-flight requests (e.g. activity long polls) get on shutdown "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--header-timeout",
        type=option_types.number,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help="close a connection whose request line and headers are not complete in this "
        "time (default: %(default)s)",
    )
    parser.add_argument(
        "--body-timeout",
        type=option_types.number,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="close a connection whose request body makes no progress for this long "
        "(default: %(default)s; responses such as long polls are not limited)",
    )
    parser.add_argument(
        "--max-connections-per-client",
        type=option_types.integer,
        default=DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        metavar="N",
        help="open connections one client address may hold; more are answered 503 and "
        "closed (default: %(default)s)",
    )


def _add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    """Logging."""
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default: %(default)s)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")


def main(argv: list[str] | None = None) -> int:
    """``python -m montemap.api.cli``: the server alone, without the other commands."""
    parser = argparse.ArgumentParser(prog="montemap server", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(args)
    except MontemapError as exc:
        print(f"montemap: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
