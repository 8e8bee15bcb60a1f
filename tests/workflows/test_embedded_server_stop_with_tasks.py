"""The embedded server of ``montemap run`` and ``montemap deploy`` stopped while its worker
tasks hold activity tasks (a run whose drain timed out, a service a deployed template made).

As ``montemap server``'s: the tasks are stopped first, while HTTP still answers them, so a
worker reports the task in its hands and exits; before, HTTP closed first and the worker
retried its report against a server that was gone until its 30 s stop grace ended, and
the result was lost.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from montemap.workflows.client import Clients
from montemap.workflows.embedded import EmbeddedServer
from tests.ecs.test_server_stop_with_tasks import started, worker_service

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/r"


def _held_execution(server: EmbeddedServer) -> str:
    """An execution whose one activity task a worker task of a service holds (1 s)."""
    clients = Clients.for_endpoint(server.url, own_server=True)
    machine, _ = worker_service(server.url, clients.sfn, clients.ecs, "hold", 1.0)
    return started(clients.sfn, machine)


def test_the_embedded_server_lets_its_workers_report_before_http_closes(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = EmbeddedServer(data, cgroups=False)
    server.start()
    try:
        execution = _held_execution(server)
        began = time.monotonic()
        server.stop()  # before: 30 s (the tasks' stop grace), the result lost
        took = time.monotonic() - began
    finally:
        server.stop()
    log = (data / "logs").glob("*.log")
    assert took < 10, f"the stop took {took:.1f} s: " + " ".join(p.read_text() for p in log)
    with EmbeddedServer(data, cgroups=False) as again:
        sfn = Clients.for_endpoint(again.url, own_server=True).sfn
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
    # The worker's result was taken before the server stopped: nothing to redo.
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["value"] == 7 and output["shutting_down"] is True
