"""JSON and JSONL ItemReader inputs are standard JSON: ``NaN``, ``Infinity`` and numbers
too large for a double are not JSON values, so the reader fails with
``States.ItemReaderFailed`` instead of giving items whose JSON text is invalid."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.engine.item_reader import read_items
from montemap.errors import StatesError
from montemap.storage import LocalObjectStore
from montemap.testing import MontemapServer, wait_for_execution
from tests.dmap.server_maps import reader_map


def _spec(input_type: str, key: str) -> dict[str, Any]:
    return {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": "data", "Key": key},
        "ReaderConfig": {"InputType": input_type},
    }


def _cause(store: LocalObjectStore, input_type: str, key: str) -> str:
    with pytest.raises(StatesError) as err:
        list(read_items(store, _spec(input_type, key)))
    assert err.value.error == "States.ItemReaderFailed"
    return err.value.cause or ""


@pytest.mark.parametrize(
    ("body", "word"),
    [
        (b"[1, NaN]", "NaN"),
        (b"[Infinity]", "Infinity"),
        (b'[{"a": -Infinity}]', "-Infinity"),
        (b"[1e400]", "1e400"),
        (b"[" + b" " * 70_000 + b"NaN]", "NaN"),  # the literal after a chunk boundary
    ],
)
def test_json_non_standard_values_fail(local: LocalObjectStore, body: bytes, word: str) -> None:
    local.put("data", "in.json", body)
    cause = _cause(local, "JSON", "in.json")
    assert "s3://data/in.json" in cause
    assert f"{word} is not a JSON value" in cause


@pytest.mark.parametrize(
    ("body", "word"),
    [(b'{"a": 1}\nNaN\n', "NaN"), (b'{"a": 1}\n[Infinity]\n', "Infinity"), (b"1E999\n", "1E999")],
)
def test_jsonl_non_standard_values_fail(local: LocalObjectStore, body: bytes, word: str) -> None:
    local.put("data", "in.jsonl", body)
    cause = _cause(local, "JSONL", "in.jsonl")
    assert f"{word} is not a JSON value" in cause
    assert "line" in cause


def test_standard_numbers_still_read(local: LocalObjectStore) -> None:
    local.put("data", "in.json", b"[1e300, -0.5, 12345678901234567890123, 0]")
    assert list(read_items(local, _spec("JSON", "in.json"))) == [
        1e300,
        -0.5,
        12345678901234567890123,
        0,
    ]
    local.put("data", "in.jsonl", b'1e300\n"NaN"\n{"Infinity": 1}\n')
    assert list(read_items(local, _spec("JSONL", "in.jsonl"))) == [1e300, "NaN", {"Infinity": 1}]


def test_map_run_fails_with_item_reader_failed(shared_montemap_server: MontemapServer) -> None:
    sfn = shared_montemap_server.client()
    machine = reader_map(shared_montemap_server, b"[1, 2, NaN]", _spec("JSON", "in.json"))
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    described = wait_for_execution(sfn, arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.ItemReaderFailed"
    assert "NaN is not a JSON value" in described["cause"]


@pytest.mark.parametrize(("input_type", "key"), [("JSON", "long.json"), ("JSONL", "long.jsonl")])
def test_integer_too_long_fails_as_reader_failure(
    local: LocalObjectStore, input_type: str, key: str
) -> None:
    digits = b"1" * 5000  # more digits than Python converts to an int
    local.put("data", key, b"[" + digits + b"]" if input_type == "JSON" else digits + b"\n")
    cause = _cause(local, input_type, key)
    assert "value has 5000 digits" in cause
    assert "sys." not in cause
