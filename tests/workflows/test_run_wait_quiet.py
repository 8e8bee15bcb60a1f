"""``montemap run``'s quiet wait on an embedded server asks for the status when woken.

Each DescribeExecution costs the embedded server's CPU, which the workers need: with the
history signal and nothing to draw, the wait looks when the execution's history grows,
not every ``interval`` seconds.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from montemap.workflows.client import ROLE_ARN, Clients, WorkflowClient
from montemap.workflows.embedded import EmbeddedServer
from montemap.workflows.progress import Progress

WAITING = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"}, "Done": {"Type": "Succeed"}},
}


class CountingSfn:
    """A Step Functions client that counts its DescribeExecution calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.described = 0

    def describe_execution(self, **kwargs: Any) -> Any:
        self.described += 1
        return self.client.describe_execution(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_quiet_wait_looks_only_when_the_history_grows(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path, cgroups=False) as server:
        clients = Clients.for_endpoint(server.url)
        machine = clients.sfn.create_state_machine(
            name="waiting", definition=json.dumps(WAITING), roleArn=ROLE_ARN
        )["stateMachineArn"]
        arn = clients.sfn.start_execution(stateMachineArn=machine)["executionArn"]
        counting = CountingSfn(clients.sfn)
        client = WorkflowClient(dataclasses.replace(clients, sfn=counting))
        quiet = Progress(SimpleNamespace(loans=1), quiet=True, stream=io.StringIO())
        with server.history_signal(arn) as wake:
            # 100 looks a second if it polled at ``interval``; the Wait state lasts 1 s
            described = client.wait(arn, quiet, interval=0.01, quiet_interval=600, wake=wake)
        assert described["status"] == "SUCCEEDED"
        events = len(clients.sfn.get_execution_history(executionArn=arn)["events"])
        assert 1 <= counting.described <= events + 1
