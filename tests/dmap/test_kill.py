"""Killed workers and a killed server: every item in the results exactly once.

The state machine is the shipped data-processing Distributed Map (see
``bench/bench_dmap.py``) with a short HeartbeatSeconds and Retry interval;
the workers are boto3 processes that write one output object per batch,
keyed by the batch's item keys.
"""

from __future__ import annotations

import json
import select
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from bench.bench_dmap import (
    check_results,
    dmap_input,
    processing_dmap,
    worker_command,
    write_inventory,
)
from botocore.exceptions import BotoCoreError

from montemap.testing import MontemapServer, eventually, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"


@contextmanager
def workers(*commands: list[str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE) for c in commands]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for proc in procs:
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()


def _setup(
    server: MontemapServer, n_keys: int, batch: int, name: str, **variant: Any
) -> tuple[Any, str, str, Path]:
    buckets = server.data_dir / "buckets"
    manifest = write_inventory(buckets, "portfolio", n_keys, rows_per_file=max(1, n_keys // 3))
    (buckets / "results").mkdir(exist_ok=True)
    client = server.client()
    activity = client.create_activity(name=f"{name}-work")["activityArn"]
    machine = client.create_state_machine(
        name=name,
        definition=json.dumps(processing_dmap(activity, **variant)),
        roleArn=ROLE,
    )["stateMachineArn"]
    payload = dmap_input(
        bucket="portfolio",
        manifest_key=manifest,
        results_bucket="results",
        run_name=name,
        batch_size=batch,
    )
    arn = client.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
    return client, activity, arn, buckets


def _finished(client: Any, arn: str, timeout: float) -> dict[str, Any]:
    """The execution once ended, through connection errors while the server restarts."""
    return wait_for_execution(client, arn, timeout=timeout, retry_on=(BotoCoreError,))


def _batch_files(buckets: Path, run: str) -> set[str]:
    folder = buckets / "results" / "runs" / run / "batches"
    return {p.stem for p in folder.glob("*.json")} if folder.exists() else set()


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the worker printed nothing"
    return proc.stdout.readline().decode().strip()


def test_worker_killed_holding_a_batch(montemap_server: MontemapServer) -> None:
    client, activity, arn, buckets = _setup(
        montemap_server,
        60,
        5,
        "wkill",
        heartbeat=2,
        timeout=60,
        retry_interval=1,
        max_concurrency=4,
    )
    url = montemap_server.url
    with workers(worker_command(url, activity, buckets, hold_first=True)) as (holder,):
        line = _read_line(holder, 20)
        assert line.startswith("HOLD ")
        held = line.split()[1]
        with workers(worker_command(url, activity, buckets)):
            # every other batch is done while the holder's lease is live: nobody got its batch
            eventually(
                lambda: len(_batch_files(buckets, "wkill")) == 11, timeout=30, what="11 batches"
            )
            assert held not in _batch_files(buckets, "wkill")
            holder.kill()  # SIGKILL: no failure is reported; the heartbeat lapses
            described = _finished(client, arn, 60)
    assert described["status"] == "SUCCEEDED", described
    checked = check_results(buckets, "results", "wkill", json.loads(described["output"]), 60)
    assert checked == {"children": 12, "items": 60}
    assert held in _batch_files(buckets, "wkill")
    run_arn = client.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
    retried = []
    for child in client.list_executions(mapRunArn=run_arn)["executions"]:
        events = client.get_execution_history(executionArn=child["executionArn"])["events"]
        types = [e["type"] for e in events]
        if "ActivityTimedOut" in types:
            retried.append(types)
    assert len(retried) == 1, "exactly the held batch timed out"
    assert retried[0].count("ActivityScheduled") == 2
    assert retried[0][-1] == "ExecutionSucceeded"
    client.close()


@pytest.mark.parametrize("execution_type", ["STANDARD", "EXPRESS"])
def test_server_killed_mid_map(montemap_server: MontemapServer, execution_type: str) -> None:
    name = f"skill-{execution_type.lower()}"
    client, activity, arn, buckets = _setup(
        montemap_server,
        90,
        3,
        name,
        heartbeat=3,
        timeout=60,
        retry_interval=1,
        max_concurrency=4,
        execution_type=execution_type,
    )
    url = montemap_server.url
    commands = [worker_command(url, activity, buckets, delay=0.1) for _ in range(2)]
    with workers(*commands):
        eventually(lambda: len(_batch_files(buckets, name)) >= 6, timeout=30, what="6 batches")
        montemap_server.kill()  # SIGKILL mid-map
        before = len(_batch_files(buckets, name))
        assert before < 30
        montemap_server.start()
        client.close()
        client = montemap_server.client()
        described = _finished(client, arn, 90)
    assert described["status"] == "SUCCEEDED", described
    checked = check_results(buckets, "results", name, json.loads(described["output"]), 90)
    assert checked == {"children": 30, "items": 90}
    run_arn = client.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
    counts = client.describe_map_run(mapRunArn=run_arn)["itemCounts"]
    assert counts["succeeded"] == 90 and counts["total"] == 90
    client.close()
