"""The comparison: workers read from the history, and their estimated cost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from montemap.console.compare import Workers, change, workers_from
from montemap.testing import MontemapServer, wait_for_execution
from montemap.workflows import pricing
from tests.console.helpers import Http, create_machine


def test_cost_is_the_fleet_priced_as_fargate_spot() -> None:
    workers = Workers("large:1", 4, cpu_units=512, memory_mib=1024)
    expected = pricing.estimate([pricing.TaskUsage(512, 1024, 300.0)] * 4).usd
    assert workers.cost_usd(300.0) == pytest.approx(expected)
    by_hand = 600 / 3600 * pricing.SPOT_VCPU_HOUR + 1200 / 3600 * pricing.SPOT_GB_HOUR
    assert workers.cost_usd(300.0) == pytest.approx(by_hand, abs=1e-6)  # 4 x 0.5 vCPU, 4 x 1 GB
    assert Workers("x:1", 2).cost_usd(10.0) is None  # size unknown


def testworkers_from_an_update_service_result() -> None:
    output = {
        "Service": {
            "TaskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/small:3",
            "DesiredCount": 8,
        }
    }
    workers = workers_from(output, None)
    assert workers is not None and (workers.task_definition, workers.count) == ("small:3", 8)
    assert workers_from({"Service": {"DesiredCount": "8"}}, None) is None
    assert workers_from([1], None) is None


def test_change() -> None:
    assert change(100.0, 75.0) == "-25.0%"
    assert change(0, 5.0) == "" and change(None, 1.0) == ""


def test_compare_reads_the_scaling_steps(
    http: Http, sfn: Any, console_server: MontemapServer
) -> None:
    ecs = console_server.client("ecs")
    try:
        ecs.create_service(
            cluster="default", serviceName="compare-workers", taskDefinition="large", desiredCount=0
        )
    finally:
        ecs.close()
    job = {
        "StartAt": "Scale",
        "States": {
            "Scale": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ecs:updateService",
                "Parameters": {
                    "Cluster": "default",
                    "Service": "compare-workers",
                    "DesiredCount": 0,
                },
                "ResultPath": None,
                "End": True,
            }
        },
    }
    machine = create_machine(sfn, "compare-scaling", job)
    arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(2)]
    for arn in arns:
        assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    page = http.get("/console/compare", a=arns[0], b=arns[1])
    assert page.status == 200
    assert "0 × large:1 (0.5 vCPU, 1.0 GB)" in page.body
    assert json.dumps(pricing.SPOT_VCPU_HOUR) in page.body
