"""``montemap worker``: serve an activity with a handler function.

    montemap worker --activity-arn ARN --handler package.module:function
                    [--endpoint URL] [--concurrency N] [--heartbeat-interval S]
                    [--shutdown-grace S] [--log-format json]

Without ``--endpoint`` the endpoint is found as boto3 finds it
(``AWS_ENDPOINT_URL_SFN``, ``AWS_ENDPOINT_URL``, the AWS config file, else AWS
itself), so the same command serves montemap or AWS Step Functions.

Every ECS task runs this command at a fraction of a core, so it loads little
before its handler: ``montemap worker`` imports only this package's ``cli``
(see :data:`montemap.cli.COMMANDS`), and neither boto3 nor the server nor the
numeric stack (``tests/workflows/test_command_imports.py``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, cast

from montemap import option_types
from montemap.worker import logs, poll_ahead
from montemap.worker.errors import WorkerError
from montemap.worker.execution import Handler
from montemap.worker.worker import (
    DEFAULT_POLL_AHEAD_S,
    MAX_CONCURRENCY,
    MAX_WORKER_NAME,
    Worker,
)


def load_handler(spec: str) -> Handler:
    """The callable named by ``module:attribute`` (the attribute may be dotted)."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise WorkerError(f"--handler {spec!r} must look like package.module:function")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise WorkerError(f"--handler {spec!r}: cannot import {module_name!r}: {exc}")
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise WorkerError(f"--handler {spec!r}: {module_name!r} has no attribute {attr_path!r}")
    if not callable(target):
        raise WorkerError(f"--handler {spec!r} is a {type(target).__name__}, not a function")
    return cast(Handler, target)


def _seconds(text: str) -> float:
    if not option_types.is_decimal_text(text):  # ``float`` also reads ``inf``, ``1_0``, ``١``
        raise argparse.ArgumentTypeError(
            f"{option_types.shown(text)} is not a number of seconds (ASCII digits 0-9)"
        )
    try:
        return poll_ahead.seconds_value(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def _count(text: str) -> int:
    value = option_types.integer(text)
    if not 1 <= value <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(
            f"{option_types.shown(text)} must be from 1 to {MAX_CONCURRENCY} "
            "(the pollers one activity takes)"
        )
    return value


def _default_poll_ahead() -> float:
    setting = poll_ahead.poll_ahead_setting()
    return DEFAULT_POLL_AHEAD_S if setting is None else setting


def run_worker(args: argparse.Namespace) -> int:
    """Build the worker from the options and run it until SIGTERM; its exit code."""
    logs.configure(args.log_format, args.log_level)
    app_dir = os.path.abspath(args.app_dir)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    handler = load_handler(args.handler)
    heartbeat = args.heartbeat_interval if args.heartbeat_interval > 0 else None
    worker = Worker(
        handler,
        activity_arn=args.activity_arn,
        endpoint_url=args.endpoint,
        region=args.region,
        worker_name=args.worker_name,
        concurrency=args.concurrency,
        heartbeat_interval=heartbeat,
        shutdown_grace=args.shutdown_grace,
        poll_ahead=_default_poll_ahead() if args.poll_ahead is None else args.poll_ahead,
    )
    return worker.run()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="serve an activity: poll, run a handler, heartbeat, report",
        description=(
            "Poll an activity with GetActivityTask, run HANDLER(input, context) on each task, "
            "heartbeat in the background and report SendTaskSuccess/SendTaskFailure. SIGTERM "
            "stops polling and gives tasks in hand --shutdown-grace seconds, then fails them "
            "with the retryable error montemap.WorkerShutdown."
        ),
    )
    parser.add_argument("--activity-arn", required=True, help="the activity to serve")
    parser.add_argument("--handler", required=True, help="the handler, as package.module:function")
    parser.add_argument(
        "--endpoint",
        default=None,
        help="Step Functions endpoint URL, e.g. http://127.0.0.1:8083 (default: as boto3: "
        "AWS_ENDPOINT_URL_SFN, AWS_ENDPOINT_URL, the AWS config file, else AWS)",
    )
    parser.add_argument(
        "--region", default=None, help="AWS region (default: the activity ARN's region)"
    )
    parser.add_argument(
        "--concurrency",
        type=_count,
        default=1,
        help="tasks running at once, one thread each (default: %(default)s)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=_seconds,
        default=10.0,
        help="seconds between heartbeats; set it well below the state's HeartbeatSeconds, "
        "e.g. a third of it; 0 sends none (default: %(default)s)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=_seconds,
        default=30.0,
        help="seconds tasks in hand get to finish after SIGTERM (default: %(default)s)",
    )
    parser.add_argument(
        "--poll-ahead",
        type=_seconds,
        default=None,
        metavar="S",
        help="while a slot's last task ran within S seconds, poll for its next task as the "
        "current one starts, so the two round trips between tasks are not waited for "
        f"(the task waits in hand, heartbeated); 0 never (default: ${poll_ahead.VARIABLE}, "
        f"else {DEFAULT_POLL_AHEAD_S:g}: never)",
    )
    parser.add_argument(
        "--worker-name",
        default=None,
        help=f"name in ActivityStarted events, at most {MAX_WORKER_NAME} characters "
        "(default: <host>-<pid>)",
    )
    parser.add_argument(
        "--app-dir",
        default=".",
        help="directory put first on sys.path to import the handler (default: %(default)s)",
    )
    parser.add_argument(
        "--log-format", choices=logs.FORMATS, default="text", help="text or JSON lines"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default: %(default)s)",
    )
    parser.set_defaults(func=run_worker)


def main(argv: list[str] | None = None) -> int:
    """Run ``montemap worker`` on its own (``argv`` without the ``worker`` word)."""
    parser = argparse.ArgumentParser(prog="montemap")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["worker", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except WorkerError as exc:
        print(f"montemap worker: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
