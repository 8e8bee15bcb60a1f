"""GetActivityTask's answer, made with its input escaped once (``protocol.task_answer``).

It must be byte for byte what the compact encoder makes of the same answer.
"""

from __future__ import annotations

import json

import pytest

from montemap.api.protocol import dumps, task_answer
from montemap.engine.jsontext import STRING_MEMO_MIN_CHARS

TEXTS = [
    "",
    '{"a":"quote \\" backslash \\\\ \\n é ☃"}',
    json.dumps({"Items": [{"Key": f'k"{i}', "Size": "1"} for i in range(300)]}),
    "x" * STRING_MEMO_MIN_CHARS + '"\\\n' + "ü\x00" * 10,
]


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("text", TEXTS)
def test_get_activity_task_answer_is_the_compact_answer(text: str) -> None:
    token = 'AQ18a"\\token'
    answer = task_answer(token, text)
    assert answer == {"taskToken": token, "input": text}
    assert dumps(answer) == compact({"taskToken": token, "input": text}).encode()
    assert dumps(dict(answer)) == dumps(answer)
