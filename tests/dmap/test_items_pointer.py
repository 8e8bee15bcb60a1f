"""``ReaderConfig.ItemsPointer``: a JSON ItemReader iterates over the array a JSON Pointer
(RFC 6901) names inside the object's document, instead of a top-level array."""

from __future__ import annotations

import json
from typing import Any

import pytest

from montemap.engine.item_reader import read_items
from montemap.errors import StatesError
from montemap.storage import LocalObjectStore
from montemap.testing import wait_for_execution
from tests.dmap.server_maps import reader_map


def _reader(pointer: Any, *, input_type: str = "JSON", key: str = "in.json") -> dict[str, Any]:
    return {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": "data", "Key": key},
        "ReaderConfig": {"InputType": input_type, "ItemsPointer": pointer},
    }


def _items(store: LocalObjectStore, document: Any, pointer: str, **kw: Any) -> list[Any]:
    store.put("data", "in.json", json.dumps(document).encode())
    return list(read_items(store, _reader(pointer), **kw))


def _cause(store: LocalObjectStore, body: bytes, reader: dict[str, Any]) -> str:
    store.put("data", "in.json", body)
    with pytest.raises(StatesError) as err:
        list(read_items(store, reader))
    assert err.value.error == "States.ItemReaderFailed"
    return err.value.cause or ""


def test_pointer_names_a_nested_array(local: LocalObjectStore) -> None:
    document = {"meta": {"n": 2, "tags": ["x", {"y": [1]}]}, "data": {"rows": [{"a": 1}, 2]}}
    assert _items(local, document, "/data/rows") == [{"a": 1}, 2]


def test_pointer_steps_through_array_indexes(local: LocalObjectStore) -> None:
    document = {"pages": [{"rows": [0]}, {"rows": ["b", "c"]}, {"rows": []}]}
    assert _items(local, document, "/pages/1/rows") == ["b", "c"]
    assert _items(local, document, "/pages/2/rows") == []


def test_pointer_tokens_are_unescaped(local: LocalObjectStore) -> None:
    document = {"a/b": {"m~n": [True]}, "": {"": [None]}}
    assert _items(local, document, "/a~1b/m~0n") == [True]
    assert _items(local, document, "//") == [None]


def test_empty_pointer_is_the_whole_document(local: LocalObjectStore) -> None:
    assert _items(local, [3, 4], "") == [3, 4]


def test_pointer_with_max_items(local: LocalObjectStore) -> None:
    assert _items(local, {"k": [1, 2, 3]}, "/k", max_items=2) == [1, 2]


def test_pointer_after_a_value_longer_than_a_read_chunk(local: LocalObjectStore) -> None:
    document = {"skip": "x" * 200_000, "more": [{"z": "y" * 70_000}], "items": [{"i": 1}]}
    assert _items(local, document, "/items") == [{"i": 1}]


@pytest.mark.parametrize(
    ("document", "pointer", "missing"),
    [
        ({"data": {"rows": []}}, "/data/cols", "'cols'"),
        ({"pages": [[1]]}, "/pages/1", "'1'"),
        ({"pages": [[1]]}, "/pages/first", "'first'"),
        ({"pages": [[1]]}, "/pages/01", "'01'"),
        ({"pages": [[1]]}, "/pages/\u00b2", "'\u00b2'"),
        ({"n": 5}, "/n/x", "'x'"),
    ],
)
def test_pointer_to_nothing_fails(
    local: LocalObjectStore, document: Any, pointer: str, missing: str
) -> None:
    cause = _cause(local, json.dumps(document).encode(), _reader(pointer))
    assert "s3://data/in.json" in cause
    assert f"ItemsPointer {pointer!r}" in cause
    assert missing in cause


def test_pointer_to_a_value_that_is_not_an_array_fails(local: LocalObjectStore) -> None:
    cause = _cause(local, b'{"data": {"rows": {"a": 1}}}', _reader("/data/rows"))
    assert cause == "Attempting to map over non-iterable node."


def test_malformed_document_before_the_array_names_the_line(local: LocalObjectStore) -> None:
    cause = _cause(local, b'{"a": 1,\n "b" 2, "rows": []}', _reader("/rows"))
    assert "line 2" in cause


@pytest.mark.parametrize(
    ("pointer", "input_type", "words"),
    [
        ("data", "JSON", "must be a JSON Pointer"),
        (7, "JSON", "must be a JSON Pointer"),
        ("/rows", "JSONL", "only used with InputType JSON"),
        ("/rows", "CSV", "only used with InputType JSON"),
    ],
)
def test_bad_pointer_configuration_fails(
    local: LocalObjectStore, pointer: Any, input_type: str, words: str
) -> None:
    cause = _cause(local, b'{"rows": []}', _reader(pointer, input_type=input_type))
    assert words in cause


def test_pointer_applies_to_each_flattened_object(local: LocalObjectStore) -> None:
    local.put("data", "part/1.json", b'{"rows": [1, 2]}')
    local.put("data", "part/2.json", b'{"other": 0, "rows": [3]}')
    reader = {
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": "data", "Prefix": "part/"},
        "ReaderConfig": {
            "InputType": "JSON",
            "Transformation": "LOAD_AND_FLATTEN",
            "ItemsPointer": "/rows",
        },
    }
    assert list(read_items(local, reader)) == [1, 2, 3]


def test_a_state_machine_with_items_pointer_is_accepted_and_runs(
    shared_montemap_server: Any,
) -> None:
    """Through CreateStateMachine and StartExecution on a real server."""
    sfn = shared_montemap_server.client()
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON", "ItemsPointer": "/report/rows"},
    }
    body = b'{"meta": {"n": 2}, "report": {"title": "t", "rows": [{"a": 1}, {"a": 2}]}}'
    machine = reader_map(shared_montemap_server, body, reader)
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    described = wait_for_execution(sfn, arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"a": 1}, {"a": 2}]
