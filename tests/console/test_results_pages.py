"""Results and failures as the console shows them: figures, chart, report, failed batches."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing import MontemapServer, wait_for_execution
from tests.console.helpers import HOSTILE, Http, create_machine

FUNCTION = textwrap.dedent(
    """
    import os
    from pathlib import Path

    def reduce(event, context):
        run = event["run"]
        folder = Path(os.environ["MONTEMAP_DATA_DIR"]) / "buckets" / "results" / "runs" / run
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.html").write_text("<h1>Report " + run + "</h1><script>1</script>")
        local = Path(os.environ["MONTEMAP_DATA_DIR"]) / "runs" / run
        local.mkdir(parents=True, exist_ok=True)
        (local / "report.html").write_text("<h1>Local report " + run + "</h1>")
        if event.get("local"):
            return {"run": run, "loans": 5, "report": str(local / "report.html")}
        if event.get("escape"):
            return {"run": run, "report": os.environ["MONTEMAP_DATA_DIR"] + "/montemap.db"}
        return {
            "loans": 1000,
            "rejected": 3,
            "summary": "s3://results/runs/" + run + "/summary.json",
            "scenarios": [
                {"shock_bp": 0, "expected_loss": 1500.0, "var": 4000.0, "defaults_flagged": 12},
                {"shock_bp": 300, "expected_loss": 4200.0, "var": 9100.0, "defaults_flagged": 40},
            ],
        }
    """
)

REDUCE_JOB = {
    "StartAt": "Reduce",
    "States": {
        "Reduce": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "FakeReduce", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "End": True,
        }
    },
}

FAILING_BATCHES = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ToleratedFailurePercentage": 100,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.bad", "BooleanEquals": True, "Next": "Bad"}],
                        "Default": "Good",
                    },
                    "Good": {"Type": "Succeed"},
                    "Bad": {"Type": "Fail", "Error": "BatchError", "Cause": HOSTILE},
                },
            },
            "End": True,
        }
    },
}


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    """A server whose ``FakeReduce`` function writes a report and returns credit figures."""
    root = tmp_path_factory.mktemp("results")
    (root / "console_fake_reduce.py").write_text(FUNCTION)
    (root / "functions.json").write_text(json.dumps({"FakeReduce": "console_fake_reduce:reduce"}))
    server = MontemapServer(
        root / "data",
        extra_args=["--no-cgroups", "--functions", str(root / "functions.json")],
        env={"PYTHONPATH": str(root)},
    )
    server.start()
    yield server
    server.close()


def test_results_show_figures_chart_and_report(http: Http, sfn: Any) -> None:
    machine = create_machine(sfn, "results-reduce", REDUCE_JOB)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"run": "r1"}')["executionArn"]
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    page = http.get("/console/execution", arn=arn)
    assert page.status == 200
    assert "results-panel" in page.body and "1,000" in page.body  # the loans figure
    assert page.body.count('class="bar"') == 2 and "4,200" in page.body
    assert "/console/report?arn=" in page.body
    report = http.get("/console/report", arn=arn)
    assert report.status == 200 and "<h1>Report r1</h1>" in report.body
    policy = report.headers["content-security-policy"]
    assert "sandbox" in policy and "script-src" not in policy and "default-src 'none'" in policy


def test_local_reports_only_from_the_runs_folder(http: Http, sfn: Any) -> None:
    machine = create_machine(sfn, "results-local", REDUCE_JOB)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"run": "r2", "local": true}')[
        "executionArn"
    ]
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    assert "/console/report?arn=" in http.get("/console/execution", arn=arn).body
    assert "<h1>Local report r2</h1>" in http.get("/console/report", arn=arn).body
    arn = sfn.start_execution(stateMachineArn=machine, input='{"run": "r3", "escape": true}')[
        "executionArn"
    ]
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    assert "/console/report?arn=" not in http.get("/console/execution", arn=arn).body
    assert http.get("/console/report", arn=arn).status == 404


def test_missing_report_is_404(http: Http, sfn: Any) -> None:
    machine = create_machine(
        sfn, "results-none", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    wait_for_execution(sfn, arn)
    assert http.get("/console/report", arn=arn).status == 404


def test_failed_batches_are_listed_with_error_cause_and_input(http: Http, sfn: Any) -> None:
    machine = create_machine(sfn, "results-failing", FAILING_BATCHES)
    items = [{"bad": True, "n": 1}, {"bad": False, "n": 2}, {"bad": True, "n": 3}]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": items}))[
        "executionArn"
    ]
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    (run,) = http.get("/console/api/execution", arn=arn).json()["mapRuns"]
    data = http.get("/console/api/map-run", arn=run["arn"]).json()
    assert data["items"]["failed"] == 2 and data["items"]["succeeded"] == 1
    assert data["batches"]["failed"] == 2
    failures = data["failures"]
    assert len(failures) == 2
    assert {f["error"] for f in failures} == {"BatchError"}
    assert {f["cause"] for f in failures} == {HOSTILE}
    assert sorted(json.loads(f["input"])["n"] for f in failures) == [1, 3]
    page = http.get("/console/map-run", arn=run["arn"])
    assert page.status == 200 and "BatchError" in page.body
    assert "<script>window.__pwned" not in page.body
