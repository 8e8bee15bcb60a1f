"""A Wait state's timestamp found at run time with a lowercase ``t`` or ``z`` (RFC 3339
allows them; Step Functions requires uppercase) fails with AWS's message and a word on
why; other bad timestamps keep AWS's message as recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import machine, open_engine

HINT = " (an uppercase 'T' must separate the date and the time, and an uppercase 'Z' mark UTC)"


def _run(tmp_path: Path, definition: dict[str, Any], given: Any) -> tuple[str, str, str]:
    async def scenario() -> tuple[str, str, str]:
        engine = await open_engine(tmp_path / "m.db")
        rec = await engine.start_execution(machine(definition), name="t", input=json.dumps(given))
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        await engine.close()
        return done.status, done.error or "", done.cause or ""

    return asyncio.run(scenario())


PATH = {"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": True}}}
JSONATA = {
    "QueryLanguage": "JSONata",
    "StartAt": "W",
    "States": {"W": {"Type": "Wait", "Timestamp": "{% $states.input.t %}", "End": True}},
}


@pytest.mark.parametrize("stamp", ["2016-03-14t01:59:00Z", "2016-03-14T01:59:00z"])
def test_a_lowercase_timestamp_from_a_path_is_refused_saying_why(
    tmp_path: Path, stamp: str
) -> None:
    status, error, cause = _run(tmp_path, PATH, {"t": stamp})
    assert (status, error) == ("FAILED", "States.Runtime")
    assert cause.endswith(
        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
        f"date-time format string: $.t == {stamp}{HINT}"
    )


def test_a_lowercase_timestamp_from_jsonata_is_refused_saying_why(tmp_path: Path) -> None:
    status, error, cause = _run(tmp_path, JSONATA, {"t": "2016-03-14t01:59:00z"})
    assert (status, error) == ("FAILED", "States.QueryEvaluationError")
    assert cause.endswith(
        "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
        f"format string: 2016-03-14t01:59:00z{HINT}"
    )


@pytest.mark.parametrize("stamp", ["2016-13-05T21:29:29Z", "2016-03-14T01:59:00Z\n"])
def test_other_bad_timestamps_keep_aws_message(tmp_path: Path, stamp: str) -> None:
    status, _, cause = _run(tmp_path, PATH, {"t": stamp})
    assert status == "FAILED"
    assert f"format string: $.t == {stamp.strip()}" in cause
    assert HINT not in cause


def test_an_uppercase_timestamp_in_the_past_passes(tmp_path: Path) -> None:
    status, _, _ = _run(tmp_path, PATH, {"t": "2016-03-14T01:59:00Z"})
    assert status == "SUCCEEDED"
