"""Finding 5: JSONata runs off the event loop, under hard time and memory limits.

A real server with a 3 s limit runs the two reproductions from the issue; while
they run, ListExecutions and SendTaskHeartbeat keep being answered promptly,
and each execution fails with ``States.QueryEvaluationError`` soon after the
limit instead of holding the server.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer, eventually

pytestmark = pytest.mark.timeout(120)

LIMIT_S = 3
ROLE = "arn:aws:iam::123456789012:role/test"
RANGE = "{% [1..10000000] %}"
DOUBLING = '{% ($f := function($s, $n){ $n = 0 ? $s : $f($s & $s, $n - 1) }; $f("x", 40)) %}'
ENDLESS = "{% ($f := function($x){ $f($x + 1) }; $f(1)) %}"


def machine(output: str) -> str:
    return json.dumps(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Bomb",
            "States": {"Bomb": {"Type": "Pass", "Output": output, "End": True}},
        }
    )


@pytest.fixture
def server(server_factory: Callable[..., MontemapServer]) -> MontemapServer:
    return server_factory(
        env={"MONTEMAP_JSONATA_TIMEOUT_S": str(LIMIT_S), "MONTEMAP_JSONATA_MEMORY_MB": "256"}
    )


def latencies_while_running(sfn: Any, arn: str) -> tuple[list[float], dict[str, Any]]:
    """Time ListExecutions and SendTaskHeartbeat calls until the execution ends."""
    samples: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = time.monotonic()
        sfn.list_executions(stateMachineArn=arn.rsplit(":", 1)[0].replace(
            ":execution:", ":stateMachine:"))  # fmt: skip
        samples.append(time.monotonic() - started)
        started = time.monotonic()
        with pytest.raises(ClientError):
            sfn.send_task_heartbeat(taskToken="not-a-token")
        samples.append(time.monotonic() - started)
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return samples, described
    raise AssertionError(f"{arn} still RUNNING after 60 s")


@pytest.mark.parametrize("output", [RANGE, DOUBLING, ENDLESS], ids=["range", "doubling", "endless"])
def test_a_runaway_expression_neither_blocks_nor_outlives_the_limit(
    server: MontemapServer, output: str
) -> None:
    sfn = server.client()
    created = sfn.create_state_machine(name="bomb", definition=machine(output), roleArn=ROLE)
    started = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=created["stateMachineArn"])["executionArn"]
    samples, described = latencies_while_running(sfn, arn)
    elapsed = time.monotonic() - started
    assert described["status"] == "FAILED"
    assert described["error"] == "States.QueryEvaluationError"
    assert "threw an error during evaluation" in described["cause"]
    # Ends near the limit (the bug ran 17.5 s past a 10 s limit); generous for a busy machine.
    assert elapsed < LIMIT_S + 5
    # The event loop kept answering: an evaluation on it would block for seconds.
    assert max(samples) < 1.0, samples
    assert statistics.median(samples) < 0.25, samples


def test_ordinary_expressions_still_evaluate_and_report_their_errors(
    server: MontemapServer,
) -> None:
    sfn = server.client()
    cases = {
        "{% $string([1, 2]) & '-' & $uppercase('ok') %}": "[1,2]-OK",
        "{% $count([1..1000000]) %}": 1000000,
        "{% $sum($states.input.n) %}": 6,
    }
    for index, (output, expected) in enumerate(cases.items()):
        created = sfn.create_state_machine(
            name=f"ok{index}", definition=machine(output), roleArn=ROLE
        )
        arn = sfn.start_execution(
            stateMachineArn=created["stateMachineArn"], input=json.dumps({"n": [1, 2, 3]})
        )["executionArn"]

        def ended(arn: str = arn) -> dict[str, Any] | None:
            described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            return None if described["status"] == "RUNNING" else described

        described = eventually(ended, timeout=30, what=f"{output} to end")
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"]) == expected
