"""``--concurrency`` past the pollers one activity takes (1,000) is refused at once.

Each slot is a thread (and a heartbeat thread): ``--concurrency 100000`` spent a minute
starting threads, deaf to SIGTERM, then died with "internal error (RuntimeError: can't
start new thread)"; Step Functions answers a 1,001st poller with
``ActivityWorkerLimitExceeded`` anyway.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from montemap.worker import Worker, WorkerError
from montemap.worker.cli import register
from montemap.worker.worker import MAX_CONCURRENCY

ACTIVITY = "arn:aws:states:eu-west-1:123456789012:activity:loans"


def _noop(event: object, context: object) -> None:
    return None


def test_the_library_refuses_more_slots_than_an_activity_takes_pollers() -> None:
    assert MAX_CONCURRENCY == 1000
    options: dict[str, Any] = {"activity_arn": ACTIVITY, "client": object()}
    Worker(_noop, concurrency=MAX_CONCURRENCY, **options)
    with pytest.raises(WorkerError, match="concurrency must be a whole number from 1 to 1000"):
        Worker(_noop, concurrency=MAX_CONCURRENCY + 1, **options)


@pytest.mark.parametrize("value", ["1001", "100000"])
def test_the_command_refuses_it_in_one_line(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="montemap")
    register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(
            ["worker", "--activity-arn", ACTIVITY, "--handler", "m:f", "--concurrency", value]
        )
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"--concurrency: {value!r} must be from 1 to 1000" in err, err
