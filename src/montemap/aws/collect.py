"""``montemap aws collect``: a finished execution's record, for ``montemap compare``.

Reads what an execution of the data-processing workflow did - its status and
duration from Step Functions, the worker tasks that ran meanwhile from ECS
(their size and lifetime, priced as Fargate Spot bills them), the summary
from the results bucket - and writes ``<data-dir>/runs/<name>/run.json`` in
the layout ``montemap run`` writes, so that two runs on AWS (or one on AWS
and one here) compare with ``montemap compare``. ECS forgets stopped tasks
after about an hour: collect within the hour after a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from montemap.aws.options import AwsError
from montemap.storage import ObjectStore
from montemap.workflows import pricing

#: Opens the store that holds ``s3://`` outputs (on AWS: ``open_store("s3://")``).
StoreOpener = Callable[[], ObjectStore]


def task_usage(
    ecs: Any, cluster: str, service: str, start: datetime, stop: datetime
) -> tuple[list[pricing.TaskUsage], list[dict[str, Any]]]:
    """The service's tasks that started during the execution, and their usage."""
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        pages = ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, serviceName=service, desiredStatus=status
        )
        for page in pages:
            arns += page["taskArns"]
    tasks: list[dict[str, Any]] = []
    for lo in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[lo : lo + 100])["tasks"]
    usage, used = [], []
    for task in tasks:
        started = task.get("startedAt") or task.get("createdAt")
        if started is None or not start.timestamp() - 1 <= started.timestamp() <= stop.timestamp():
            continue
        ended = task.get("stoppedAt") or datetime.now(UTC)
        usage.append(
            pricing.TaskUsage(
                int(task.get("cpu") or 0),
                int(task.get("memory") or 0),
                max(0.0, (ended - started).total_seconds()),
            )
        )
        used.append(task)
    return usage, used


def read_summary(output_dir: str | None, open_s3: StoreOpener) -> dict[str, Any] | None:
    """``summary.json`` of the run's output folder (``s3://bucket/runs/x/`` or a local path)."""
    if not output_dir:
        return None
    if output_dir.startswith("s3://"):
        parts = urlsplit(output_dir)
        store = open_s3()
        try:
            body = store.get(parts.netloc, parts.path.strip("/") + "/summary.json")
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()
        summary: dict[str, Any] = json.loads(body)
        return summary
    path = Path(output_dir) / "summary.json"
    return dict(json.loads(path.read_text())) if path.is_file() else None


def collect_run(
    sfn: Any,
    ecs: Any,
    execution_arn: str,
    *,
    cluster: str,
    service: str,
    open_s3: StoreOpener,
    vcpu_hour: float = pricing.SPOT_VCPU_HOUR,
    gb_hour: float = pricing.SPOT_GB_HOUR,
    server: str = "aws",
) -> dict[str, Any]:
    """The run record of one finished execution (the fields ``montemap compare`` reads)."""
    described = sfn.describe_execution(executionArn=execution_arn)
    if described["status"] == "RUNNING":
        raise AwsError(f"{execution_arn} is still running: collect it when it has finished")
    start, stop = described["startDate"], described["stopDate"]
    usage, tasks = task_usage(ecs, cluster, service, start, stop)
    cost = pricing.estimate(usage, vcpu_hour=vcpu_hour, gb_hour=gb_hour)
    output = json.loads(described["output"]) if described.get("output") else {}
    summary = read_summary(output.get("output_dir"), open_s3)
    families = sorted({t["taskDefinitionArn"].rsplit("/", 1)[-1].split(":")[0] for t in tasks})
    first = usage[0] if usage else pricing.TaskUsage(0, 0, 0.0)
    parameters = json.loads(described.get("input") or "{}")
    return {
        "name": described["name"],
        "execution_arn": execution_arn,
        "status": described["status"],
        "error": described.get("error"),
        "cause": described.get("cause"),
        "duration_seconds": round((stop - start).total_seconds(), 3),
        "server": server,
        "task_definition": "+".join(families) or "none",
        "cpu_units": first.cpu_units,
        "memory_mib": first.memory_mib,
        "workers": len(tasks),
        "loans": (summary or {}).get("loans", 0),
        **{
            k: parameters[k]
            for k in ("paths", "shocks_bp", "seed", "as_of", "batch_size")
            if k in parameters
        },
        "cost": cost.as_dict(),
        "summary": summary,
    }


def write_run(record: dict[str, Any], data_dir: Path) -> Path:
    """Write ``run.json`` (and ``summary.json``) under ``<data_dir>/runs/<name>/``."""
    folder = data_dir / "runs" / str(record["name"])
    folder.mkdir(parents=True, exist_ok=True)
    if record.get("summary") is not None and not (folder / "summary.json").exists():
        (folder / "summary.json").write_text(json.dumps(record["summary"], indent=1) + "\n")
    path = folder / "run.json"
    path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    return path
