"""JSONPath filter ``=~`` patterns that would backtrack exponentially are refused.

A nested quantifier (``(a+)+``) or alternatives that can match the same text under a
quantifier (``(a|aa)+``) take time exponential in the value's length to fail
against a value such as ``aaaa...``: evaluated on the event loop, one such filter
would stall the server. The path is refused when the definition is validated,
naming the field; every other ``=~`` pattern keeps working.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from montemap.asl.jsonpath import query
from montemap.asl.jsonpath_parser import parse_path
from montemap.asl.jsonpath_syntax import PathError
from montemap.testing.server import MontemapServer

ROLE = "arn:aws:iam::123456789012:role/test"

CATASTROPHIC = [
    "(a+)+b",
    "(a*)*b",
    "(a|aa)+b",
    "(a|a)*b",
    "(\\w+\\s?)+$",
    "(x+x+)+y",
    "(a?a)+b",
    "((ab)*c?)+d",
    "(.*a){2,}b",
    "(?:[a-z]+\\d?)*!",
]

ACCEPTED = [
    "a.*b",
    ".*\\.csv",
    "(foo|bar)+",
    "(ab)+c",
    "[a-z]+-\\d+",
    "(abc|abd)",
    "x{2}(y|z)*",
    "(a{3})+",
    "(?i)hello.*",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_are_refused_when_parsed(pattern: str) -> None:
    with pytest.raises(PathError, match="backtrack"):
        parse_path(f"$.items[?(@.name =~ /{pattern}/)]")


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_other_patterns_are_accepted(pattern: str) -> None:
    parse_path(f"$.items[?(@.name =~ /{pattern}/)]")


def test_accepted_patterns_still_match() -> None:
    items = {"items": [{"name": "foofoobar"}, {"name": "baz"}, {"name": "report.csv"}]}
    assert query("$.items[?(@.name =~ /(foo|bar)+/)].name", items) == ["foofoobar"]
    assert query("$.items[?(@.name =~ /.*\\.csv/)].name", items) == ["report.csv"]
    assert query("$.items[?(@.name =~ /BA.*/i)].name", items) == ["baz"]


def test_create_state_machine_refuses_it_quickly(shared_montemap_server: MontemapServer) -> None:
    client: Any = shared_montemap_server.client()
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Pass",
                "Parameters": {"hits.$": "$.items[?(@.name =~ /(a+)+b/)]"},
                "End": True,
            }
        },
    }
    started = time.monotonic()
    with pytest.raises(client.exceptions.InvalidDefinition) as refused:
        client.create_state_machine(
            name=f"regex-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
        )
    message = refused.value.response["Error"]["Message"]
    assert "/States/Pick/Parameters/hits.$" in message
    assert "backtrack" in message
    assert time.monotonic() - started < 5
    client.close()
