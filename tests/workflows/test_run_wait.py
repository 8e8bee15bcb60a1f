"""``montemap run``'s wait: the final status either way, the display's last line when shown."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

from montemap.testing import MontemapServer
from montemap.workflows.client import ROLE_ARN, Clients, WorkflowClient
from montemap.workflows.progress import Progress

WAITING = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"}, "Done": {"Type": "Succeed"}},
}


def start(clients: Clients, name: str) -> str:
    machine = clients.sfn.create_state_machine(
        name=name, definition=json.dumps(WAITING), roleArn=ROLE_ARN
    )["stateMachineArn"]
    return str(clients.sfn.start_execution(stateMachineArn=machine)["executionArn"])


def test_wait_returns_the_final_description_quiet_or_shown(
    montemap_server: MontemapServer,
) -> None:
    clients = Clients.for_endpoint(montemap_server.url)
    client = WorkflowClient(clients)
    spec = SimpleNamespace(loans=10)

    quiet = Progress(spec, quiet=True, stream=io.StringIO())
    described = client.wait(start(clients, "quiet"), quiet, interval=0.1)
    assert described["status"] == "SUCCEEDED"
    assert quiet.last_line == ""  # nothing drawn, nothing asked for it

    stream = io.StringIO()
    shown = Progress(spec, stream=stream, log_every=3600)
    described = client.wait(start(clients, "shown"), shown, interval=0.1, refresh=3600)
    assert described["status"] == "SUCCEEDED"
    # One snapshot at the start, none in between (refresh), the final counts at the end
    # (the first one, if the execution had already ended by then).
    lines = stream.getvalue().splitlines()
    assert 1 <= len(lines) <= 2
    assert lines[-1].startswith("succeeded ")
