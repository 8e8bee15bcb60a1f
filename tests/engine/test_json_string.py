"""A large text escaped once: ``json_string`` and the ResultWriter's record.

Each must be byte for byte what ``json.dumps`` (compact, ``ensure_ascii=False``) makes.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring

import pytest

from montemap.engine import jsontext
from montemap.engine.jsontext import STRING_MEMO_ENTRIES, STRING_MEMO_MIN_CHARS, json_string
from montemap.engine.result_writer import record_text

TEXTS = [
    "",
    "plain",
    'quote " backslash \\ newline \n tab \t nul \x00 é ☃ \U0001f600',
    json.dumps({"Items": [{"Key": f'k"{i}', "Size": "1"} for i in range(300)]}),
    "x" * STRING_MEMO_MIN_CHARS + '"\\\n' + "ü" * 10,
]


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("text", TEXTS)
def test_json_string_is_encode_basestring(text: str) -> None:
    assert json_string(text) == encode_basestring(text) == compact(text)
    assert json_string(text) == compact(text)  # again (remembered when large)


def test_a_large_text_is_escaped_once_per_object() -> None:
    text = "a" * STRING_MEMO_MIN_CHARS + '"'
    first = json_string(text)
    assert json_string(text) is first
    equal = "".join(["a" * STRING_MEMO_MIN_CHARS, '"'])  # same content, another object
    assert equal is not text
    assert json_string(equal) == first and json_string(equal) is not first


def test_the_memo_stays_bounded() -> None:
    texts = [f"{i:05d}" + "z" * STRING_MEMO_MIN_CHARS for i in range(STRING_MEMO_ENTRIES * 3)]
    for text in texts:
        assert json_string(text) == compact(text)
    assert len(jsontext._memo) <= STRING_MEMO_ENTRIES
    assert jsontext._memo_chars[0] == sum(len(v[1]) for v in jsontext._memo.values())
    assert json_string(texts[-1]) is json_string(texts[-1])  # the newest are kept


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(
    "arn", ["arn:aws:states:us-east-1:123456789012:execution:m/r:run-0000001", 'odd "Input":"" arn']
)
def test_record_text_is_the_compact_record(text: str, arn: str) -> None:
    record = {
        "ExecutionArn": arn,
        "Input": text,
        "InputDetails": {"Included": True},
        "Name": 'n"Input":""',
        "Output": text,
        "OutputDetails": {"Included": True},
        "Status": "SUCCEEDED",
    }
    assert record_text(record) == compact(record)
    assert json.loads(record_text(record)) == record
