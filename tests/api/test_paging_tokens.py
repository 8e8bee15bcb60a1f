"""A ``nextToken`` continues only the listing that issued it.

GetExecutionHistory, ListExecutions and ListMapRuns used to hand out a bare
position ("after event 2"): given with another execution, another state machine or
the other ``reverseOrder`` it silently answered a page of that other listing
(events 3 and 4 of an execution the client never paged, or event 1 when paging
backwards from the start). AWS refuses a token it did not issue for the request
with ``InvalidToken``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.api import paging
from montemap.testing import wait_for_execution

from .helpers import machine

THREE_STATES = (
    '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},'
    ' "B": {"Type": "Pass", "Next": "C"}, "C": {"Type": "Pass", "End": true}}}'
)


def _invalid_token(call: Any, **params: Any) -> None:
    with pytest.raises(ClientError) as refused:
        call(**params)
    assert refused.value.response["Error"]["Code"] == "InvalidToken"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_history_tokens_belong_to_their_execution_and_order(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client, THREE_STATES)
    first, second = (client.start_execution(stateMachineArn=arn)["executionArn"] for _ in "ab")
    for execution in (first, second):
        wait_for_execution(client, execution)
    page = client.get_execution_history(executionArn=first, maxResults=2)
    token = page["nextToken"]
    _invalid_token(client.get_execution_history, executionArn=second, maxResults=2, nextToken=token)
    _invalid_token(
        client.get_execution_history,
        executionArn=first,
        maxResults=2,
        reverseOrder=True,
        nextToken=token,
    )
    # The token still pages its own listing, to the end, in both orders.
    for reverse in (False, True):
        ids: list[int] = []
        params: dict[str, Any] = {"executionArn": first, "maxResults": 3, "reverseOrder": reverse}
        while True:
            page = client.get_execution_history(**params)
            ids += [event["id"] for event in page["events"]]
            if "nextToken" not in page:
                break
            params["nextToken"] = page["nextToken"]
        assert ids == sorted(range(1, 9), reverse=reverse)


def test_list_executions_tokens_belong_to_their_state_machine(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn, other = machine(client), machine(client)
    for _ in range(3):
        wait_for_execution(client, client.start_execution(stateMachineArn=arn)["executionArn"])
    wait_for_execution(client, client.start_execution(stateMachineArn=other)["executionArn"])
    page = client.list_executions(stateMachineArn=arn, maxResults=2)
    token = page["nextToken"]
    _invalid_token(client.list_executions, stateMachineArn=other, maxResults=2, nextToken=token)
    _invalid_token(
        client.list_executions,
        stateMachineArn=arn,
        statusFilter="FAILED",
        maxResults=2,
        nextToken=token,
    )
    rest = client.list_executions(stateMachineArn=arn, maxResults=2, nextToken=token)
    names = [e["name"] for e in page["executions"] + rest["executions"]]
    assert len(names) == len(set(names)) == 3
    assert "nextToken" not in rest


def test_map_run_tokens_are_checked(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client)
    execution = client.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for_execution(client, execution)
    history = client.get_execution_history(executionArn=execution, maxResults=1)["nextToken"]
    _invalid_token(client.list_map_runs, executionArn=execution, nextToken=history)


def _forged(listing: str, after: object) -> str:
    """A token of ``listing`` around an engine position ``after`` (tokens are not signed)."""
    engine_token = base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()
    return paging.encode(listing, engine_token)


@pytest.mark.parametrize("after", [10**30, -(10**30), 2**63])
def test_a_forged_position_is_an_invalid_token(shared_sfn_client: Any, after: int) -> None:
    """A position past SQLite's integers made the listing's query raise OverflowError:
    500 InternalFailure instead of InvalidToken."""
    client = shared_sfn_client
    arn = machine(client)
    execution = client.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for_execution(client, execution)
    listings: list[tuple[Any, dict[str, str], str]] = [
        (
            client.list_executions,
            {"stateMachineArn": arn},
            paging.scope("ListExecutions", arn, None, None),
        ),
        (
            client.get_execution_history,
            {"executionArn": execution},
            paging.scope("GetExecutionHistory", execution, False),
        ),
        (
            client.list_map_runs,
            {"executionArn": execution},
            paging.scope("ListMapRuns", execution),
        ),
    ]
    for call, params, listing in listings:
        _invalid_token(call, nextToken=_forged(listing, after), **params)
