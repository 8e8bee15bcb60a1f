"""ListExecutions' order: "sorted by time, with the most recent execution first" (AWS).

The time is the execution's start (``startDate``, which each entry shows). A redrive
continues the same execution: it keeps its ARN and ``startDate`` (the redrive is
``redriveDate``), so a redriven old execution stays where its start puts it, and a
listing paged across a redrive neither repeats nor skips an execution.
"""

from __future__ import annotations

import json
from typing import Any

from montemap.testing import wait_for_execution

from .helpers import machine

FAIL_DEFINITION = json.dumps(
    {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "bad"}}}
)


def _started(client: Any, arn: str) -> str:
    execution: str = client.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for_execution(client, execution)
    return execution


def test_a_redriven_execution_keeps_its_place_across_pages(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client, FAIL_DEFINITION)
    old = _started(client, arn)
    newer = [_started(client, arn) for _ in range(3)]
    first = client.list_executions(stateMachineArn=arn, maxResults=2)
    assert [e["executionArn"] for e in first["executions"]] == newer[:0:-1]
    client.redrive_execution(executionArn=old)  # between the pages
    assert wait_for_execution(client, old)["redriveCount"] == 1
    rest = client.list_executions(stateMachineArn=arn, nextToken=first["nextToken"])
    assert [e["executionArn"] for e in rest["executions"]] == [newer[0], old]
    assert "nextToken" not in rest
    listed = client.list_executions(stateMachineArn=arn)["executions"]
    assert [e["executionArn"] for e in listed] == [*newer[::-1], old]
    starts = [e["startDate"] for e in listed]
    assert starts == sorted(starts, reverse=True)
    redriven = listed[-1]
    assert redriven["redriveCount"] == 1 and redriven["redriveDate"] > listed[0]["startDate"]
