"""The worker image's entry point: ``montemap worker`` configured from the environment.

=============================  ==============================================================
``MONTEMAP_ACTIVITY_ARN``      required: the activity to serve
``MONTEMAP_HANDLER``           default ``montemap.credit.batch:handle_batch``
``MONTEMAP_STORE``             where the handler reads and writes (``s3://`` on AWS);
                               or ``MONTEMAP_DATA_DIR``, a local data directory
``AWS_REGION``                 the Step Functions region (default: the activity ARN's)
``MONTEMAP_CONCURRENCY``       tasks in hand at once (default 1)
``MONTEMAP_HEARTBEAT_INTERVAL``  seconds between heartbeats (default 10)
``MONTEMAP_SHUTDOWN_GRACE``    seconds tasks get after SIGTERM (default 30)
``MONTEMAP_WORKER_NAME``       name in ActivityStarted events (default ``<host>-<pid>``)
``MONTEMAP_LOG_FORMAT``        ``json`` (default) or ``text``
=============================  ==============================================================

There is no endpoint option: boto3 finds Step Functions and S3 as usual
(``AWS_ENDPOINT_URL_SFN``, ``AWS_ENDPOINT_URL_S3``, else AWS), and the
credentials from the task role. Nothing is installed or built at start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from montemap.arns import Arn
from montemap.ecs.taskdefs import DEFAULT_HANDLER
from montemap.errors import MontemapError
from montemap.worker import cli as command

#: Optional variables and the ``montemap worker`` option each one sets.
OPTIONS = {
    "MONTEMAP_CONCURRENCY": "--concurrency",
    "MONTEMAP_HEARTBEAT_INTERVAL": "--heartbeat-interval",
    "MONTEMAP_SHUTDOWN_GRACE": "--shutdown-grace",
    "MONTEMAP_WORKER_NAME": "--worker-name",
}


class ContainerConfigError(MontemapError, ValueError):
    """The container's environment cannot start a worker; says which variable and why."""


def worker_arguments(env: Mapping[str, str]) -> list[str]:
    """The ``montemap worker`` arguments the environment asks for."""
    activity = env.get("MONTEMAP_ACTIVITY_ARN", "").strip()
    if not activity:
        raise ContainerConfigError("MONTEMAP_ACTIVITY_ARN is not set: the activity to serve")
    parsed = Arn.parse(activity)
    if parsed is None or parsed.kind != "activity":
        raise ContainerConfigError(
            f"MONTEMAP_ACTIVITY_ARN {activity!r} is not an activity ARN "
            "(arn:aws:states:<region>:<account>:activity:<name>)"
        )
    if not env.get("MONTEMAP_STORE") and not env.get("MONTEMAP_DATA_DIR"):
        raise ContainerConfigError(
            "MONTEMAP_STORE is not set: where batches are read and written (s3:// on AWS)"
        )
    log_format = env.get("MONTEMAP_LOG_FORMAT", "json")
    if log_format not in ("json", "text"):
        raise ContainerConfigError(f"MONTEMAP_LOG_FORMAT {log_format!r} must be json or text")
    args = [
        "--activity-arn",
        activity,
        "--handler",
        env.get("MONTEMAP_HANDLER") or DEFAULT_HANDLER,
        "--log-format",
        log_format,
    ]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        args += ["--region", region]
    for variable, option in OPTIONS.items():
        value = env.get(variable, "").strip()
        if value:
            _check_number(variable, value)
            args += [option, value]
    return args


def _check_number(variable: str, value: str) -> None:
    if variable == "MONTEMAP_WORKER_NAME":
        return
    whole = variable == "MONTEMAP_CONCURRENCY"
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        number = -1
    if not (number >= (1 if whole else 0)) or number == float("inf"):
        kind = "a whole number >= 1" if whole else "a number of seconds >= 0"
        raise ContainerConfigError(f"{variable} {value!r} must be {kind}")


def main(env: Mapping[str, str] | None = None) -> int:
    """Start the worker; its exit code (2 when the environment is wrong)."""
    try:
        args = worker_arguments(os.environ if env is None else env)
    except ContainerConfigError as exc:
        print(f"montemap container: error: {exc}", file=sys.stderr)
        return 2
    return command.main(args)


if __name__ == "__main__":
    sys.exit(main())
