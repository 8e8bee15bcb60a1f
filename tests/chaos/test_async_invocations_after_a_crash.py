"""Asynchronous invocations across a killed server (SIGKILL), with real processes.

An Invoke answered 202 (``InvocationType: Event``) and an S3 write answered 200 whose
bucket notifies a function are queued in the database before they are answered: a
server killed before the function ran runs it after its restart. The function has
reserved concurrency 1 and a first invocation holds that slot (it waits for a gate
file), so the invocation under test is still waiting when the server is killed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from montemap.testing import MontemapServer, eventually
from tests.lambda_api.helpers import create

#: Marks its start, waits for $GATE, then marks its end: files named by the event's id
#: (or by the key of an S3 event) in $OUT.
GATED = """
import os, pathlib, time

def handler(event, context):
    out = pathlib.Path(os.environ["OUT"])
    name = event["Records"][0]["s3"]["object"]["key"] if "Records" in event else event["id"]
    (out / ("started-" + name)).write_text(context.aws_request_id)
    gate = pathlib.Path(os.environ["GATE"])
    while not gate.exists():
        time.sleep(0.02)
    (out / ("done-" + name)).write_text(context.aws_request_id)
"""


def _gated_function(server: MontemapServer, tmp_path: Path) -> tuple[Any, str, Path, Path]:
    """(lambda client, the function's ARN, its output directory, its gate file)."""
    out, gate = tmp_path / "out", tmp_path / "gate"
    out.mkdir()
    client = server.client("lambda")
    variables = {"OUT": str(out), "GATE": str(gate)}
    arn = create(
        client, "gated", {"index.py": GATED}, Timeout=60, Environment={"Variables": variables}
    )["FunctionArn"]
    client.put_function_concurrency(FunctionName="gated", ReservedConcurrentExecutions=1)
    return client, arn, out, gate


def _hold_the_slot(client: Any, out: Path) -> None:
    """Start an invocation that keeps the function's one slot until the gate opens."""
    client.invoke(FunctionName="gated", InvocationType="Event", Payload=b'{"id": "holder"}')
    eventually(lambda: (out / "started-holder").exists(), timeout=30, what="the holder started")


def _restart_and_open(server: MontemapServer, gate: Path) -> None:
    server.kill()
    gate.write_text("open")
    server.start()


def _notifying_bucket(server: MontemapServer, arn: str) -> Any:
    """A bucket ``events`` whose created objects notify the function ``arn``; its client."""
    s3 = server.client("s3")
    s3.create_bucket(Bucket="events")
    rule = {"Id": "all", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
    s3.put_bucket_notification_configuration(
        Bucket="events", NotificationConfiguration={"LambdaFunctionConfigurations": [rule]}
    )
    return s3


def test_an_acknowledged_event_invocation_runs_after_a_kill(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server = server_factory()
    client, _, out, gate = _gated_function(server, tmp_path)
    _hold_the_slot(client, out)
    answer = client.invoke(
        FunctionName="gated", InvocationType="Event", Payload=b'{"id": "queued"}'
    )
    assert answer["StatusCode"] == 202
    assert not (out / "started-queued").exists()  # it waits for the slot
    _restart_and_open(server, gate)
    eventually(lambda: (out / "done-queued").exists(), timeout=30, what="the queued invocation")
    # at least once: the one running when the server died runs again, to its end
    eventually(lambda: (out / "done-holder").exists(), timeout=30, what="the holder")


def test_an_acknowledged_s3_event_is_delivered_after_a_kill(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server = server_factory()
    client, arn, out, gate = _gated_function(server, tmp_path)
    s3 = _notifying_bucket(server, arn)
    _hold_the_slot(client, out)
    s3.put_object(Bucket="events", Key="written", Body=b"data")
    assert not (out / "started-written").exists()
    _restart_and_open(server, gate)
    eventually(lambda: (out / "done-written").exists(), timeout=30, what="the S3 event")


def test_an_s3_write_is_answered_once_its_event_is_queued_durably(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    """The 200 of a write leaves only once its event's row is committed: a reader of the
    database file (another connection) sees it as soon as the answer is in."""
    server = server_factory()
    client, arn, out, gate = _gated_function(server, tmp_path)
    s3 = _notifying_bucket(server, arn)
    _hold_the_slot(client, out)
    reader = sqlite3.connect(server.data_dir / "montemap.db")
    try:
        for i in range(1, 21):
            s3.put_object(Bucket="events", Key=f"k{i}", Body=b"data")
            (queued,) = reader.execute("SELECT COUNT(*) FROM lambda_async_queue").fetchone()
            assert queued == 1 + i  # the holder's row and one per write
    finally:
        reader.close()
    gate.write_text("open")
    eventually(lambda: (out / "done-k20").exists(), timeout=30, what="the last event")
