"""An execution output naming its report with a path no file can have still shows.

The console looks for ``report.html`` at the path the output names (``"report":
...``). A path with a NUL character made ``Path.resolve`` raise ``ValueError``,
so the execution's page, its results fragment and the report link answered 500
("Internal error in the console") for as long as the execution was listed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from montemap.testing import MontemapServer, wait_for_execution
from tests.console.helpers import ROLE_ARN, Http

OUTPUTS = [
    {"report": "/tmp/runs/a\u0000b/report.html"},
    {"report": "runs/" + "x" * 5000 + "/report.html"},
    {"summary": "s3://bucket\u0000x/prefix/summary.json"},
    {"output_dir": "s3://bucket/pre\u0000fix/"},
]


@pytest.mark.parametrize("output", [*OUTPUTS, "too long in runs/"])
def test_an_unusable_report_path_is_no_report(
    sfn: Any, http: Http, console_server: MontemapServer, output: Any
) -> None:
    if output == "too long in runs/":  # inside <data dir>/runs/, a name no file system takes
        runs = console_server.data_dir.resolve() / "runs"
        output = {"report": f"{runs}/{'x' * 5000}/report.html"}
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": output, "End": True}}}
    machine = sfn.create_state_machine(
        name=f"report-path-{time.time_ns()}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert wait_for_execution(sfn, execution)["status"] == "SUCCEEDED"
    page = http.get("/console/execution", arn=execution)
    assert page.status == 200, page.body
    assert http.get("/console/execution/results", arn=execution).status == 200
    report = http.get("/console/report", arn=execution)
    assert report.status == 404, report.body
    assert "Internal error" not in report.body
