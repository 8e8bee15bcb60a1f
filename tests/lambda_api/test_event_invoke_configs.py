"""Event invoke configurations through boto3: the five operations with AWS's answers and
refusals, and the queue honouring them (retries, maximum event age, destinations)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from montemap.testing import eventually
from tests.lambda_api.helpers import create

OK = "def handler(e, c):\n    return {'echo': e}\n"
#: Appends a line to the file its event names, then fails.
FAILING = "def handler(e, c):\n    open(e['mark'], 'a').write('x')\n    raise ValueError('no')\n"
#: A destination: writes the record it is given to the file named by the record's event.
RECORDER = (
    "import json\n"
    "def handler(e, c):\n"
    "    open(e['requestPayload']['record'], 'w').write(json.dumps(e))\n"
)


def _refused(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call(**kwargs)
    error = {k: str(v) for k, v in refused.value.response["Error"].items()}
    return error


def _record(path: Path) -> Any:
    """The record the destination wrote to ``path``."""
    text = eventually(lambda: path.read_text() if path.exists() else None, timeout=30)
    return json.loads(text)


def _arn(client: Any, name: str) -> str:
    arn: str = client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    return arn


def test_put_get_update_list_delete_answer_as_lambda(lambda_client: Any) -> None:
    create(lambda_client, "eic-crud", {"index.py": OK})
    put = lambda_client.put_function_event_invoke_config(
        FunctionName="eic-crud", MaximumRetryAttempts=0, MaximumEventAgeInSeconds=3600
    )
    arn = _arn(lambda_client, "eic-crud")
    assert put["FunctionArn"] == f"{arn}:$LATEST"
    assert isinstance(put["LastModified"], datetime.datetime)
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (0, 3600)
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    got = lambda_client.get_function_event_invoke_config(FunctionName="eic-crud")
    assert got["MaximumRetryAttempts"] == 0
    updated = lambda_client.update_function_event_invoke_config(
        FunctionName="eic-crud", MaximumRetryAttempts=1
    )
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 3600)
    replaced = lambda_client.put_function_event_invoke_config(
        FunctionName="eic-crud", MaximumRetryAttempts=2
    )
    assert "MaximumEventAgeInSeconds" not in replaced  # Put replaces the whole configuration
    listed = lambda_client.list_function_event_invoke_configs(FunctionName="eic-crud")
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [f"{arn}:$LATEST"]
    lambda_client.delete_function_event_invoke_config(FunctionName="eic-crud")
    error = _refused(lambda_client.get_function_event_invoke_config, FunctionName="eic-crud")
    assert error["Code"] == "ResourceNotFoundException"
    assert error["Message"] == f"The function {arn}:$LATEST doesn't have an EventInvokeConfig"
    error = _refused(
        lambda_client.update_function_event_invoke_config,
        FunctionName="eic-crud",
        MaximumRetryAttempts=1,
    )
    assert error["Code"] == "ResourceNotFoundException"


def test_configurations_are_per_qualifier(lambda_client: Any) -> None:
    create(lambda_client, "eic-alias", {"index.py": OK}, Publish=True)
    lambda_client.create_alias(FunctionName="eic-alias", Name="live", FunctionVersion="1")
    lambda_client.put_function_event_invoke_config(
        FunctionName="eic-alias", Qualifier="live", MaximumRetryAttempts=0
    )
    error = _refused(lambda_client.get_function_event_invoke_config, FunctionName="eic-alias")
    assert error["Code"] == "ResourceNotFoundException"
    got = lambda_client.get_function_event_invoke_config(FunctionName="eic-alias:live")
    assert got["FunctionArn"].endswith(":function:eic-alias:live")
    error = _refused(
        lambda_client.put_function_event_invoke_config,
        FunctionName="eic-alias",
        Qualifier="nope",
        MaximumRetryAttempts=0,
    )
    assert error["Code"] == "ResourceNotFoundException"
    lambda_client.delete_alias(FunctionName="eic-alias", Name="live")
    lambda_client.create_alias(FunctionName="eic-alias", Name="live", FunctionVersion="1")
    error = _refused(lambda_client.get_function_event_invoke_config, FunctionName="eic-alias:live")
    assert error["Code"] == "ResourceNotFoundException"  # went with its alias


@pytest.mark.parametrize(
    ("settings", "code", "message"),
    [
        ({"MaximumRetryAttempts": 3}, "ValidationException", "less than or equal to 2"),
        ({"MaximumEventAgeInSeconds": 21601}, "ValidationException", "less than or equal to 21600"),
        (
            {
                "DestinationConfig": {
                    "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}
                }
            },
            "InvalidParameterValueException",
            "not served",
        ),
        (
            {
                "DestinationConfig": {
                    "OnSuccess": {
                        "Destination": "arn:aws:lambda:us-east-1:123456789012:function:eic-bad"
                    }
                }
            },
            "InvalidParameterValueException",
            "destination for itself",
        ),
        (
            {
                "DestinationConfig": {
                    "OnSuccess": {"Destination": "arn:aws:lambda:eu-west-1:999999999999:function:x"}
                }
            },
            "InvalidParameterValueException",
            "not a function of this server",
        ),
    ],
)
def test_a_bad_configuration_is_refused(
    lambda_client: Any, settings: dict[str, Any], code: str, message: str
) -> None:
    try:
        lambda_client.get_function(FunctionName="eic-bad")
    except botocore.exceptions.ClientError:
        create(lambda_client, "eic-bad", {"index.py": OK})
    error = _refused(
        lambda_client.put_function_event_invoke_config, FunctionName="eic-bad", **settings
    )
    assert (error["Code"], message in error["Message"]) == (code, True), error


def test_a_missing_function_is_not_found(lambda_client: Any) -> None:
    for call in (
        lambda_client.get_function_event_invoke_config,
        lambda_client.list_function_event_invoke_configs,
    ):
        assert _refused(call, FunctionName="eic-none")["Code"] == "ResourceNotFoundException"


def test_no_retries_sends_the_failure_record_to_its_destination(
    lambda_client: Any, tmp_path: Path
) -> None:
    """``MaximumRetryAttempts`` 0: one attempt, then the ``OnFailure`` function gets
    Lambda's record (``RetriesExhausted``, the response's error)."""
    create(lambda_client, "eic-fails", {"index.py": FAILING})
    create(lambda_client, "eic-recorder", {"index.py": RECORDER})
    lambda_client.put_function_event_invoke_config(
        FunctionName="eic-fails",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": _arn(lambda_client, "eic-recorder")}},
    )
    mark, out = tmp_path / "mark", tmp_path / "record.json"
    event = {"mark": str(mark), "record": str(out)}
    answer = lambda_client.invoke(
        FunctionName="eic-fails", InvocationType="Event", Payload=json.dumps(event).encode()
    )
    record = _record(out)
    assert mark.read_text() == "x"  # not retried
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": answer["ResponseMetadata"]["RequestId"],
        "functionArn": _arn(lambda_client, "eic-fails") + ":$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == event
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_a_success_goes_to_the_on_success_destination(lambda_client: Any, tmp_path: Path) -> None:
    create(lambda_client, "eic-works", {"index.py": OK})
    create(lambda_client, "eic-recorder-ok", {"index.py": RECORDER})
    recorder = _arn(lambda_client, "eic-recorder-ok")
    lambda_client.put_function_event_invoke_config(
        FunctionName="eic-works", DestinationConfig={"OnSuccess": {"Destination": recorder}}
    )
    out = tmp_path / "record.json"
    event = {"record": str(out)}
    lambda_client.invoke(
        FunctionName="eic-works", InvocationType="Event", Payload=json.dumps(event).encode()
    )
    record = _record(out)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": event}


def test_a_retry_past_the_maximum_age_is_given_up_at_once(
    lambda_client: Any, tmp_path: Path
) -> None:
    """``MaximumEventAgeInSeconds`` 60: the first retry would come a minute after the
    event was sent, too late; the event is given up (``EventAgeExceeded``) without it."""
    create(lambda_client, "eic-old", {"index.py": FAILING})
    create(lambda_client, "eic-recorder-old", {"index.py": RECORDER})
    lambda_client.put_function_event_invoke_config(
        FunctionName="eic-old",
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": _arn(lambda_client, "eic-recorder-old")}},
    )
    mark, out = tmp_path / "mark", tmp_path / "record.json"
    event = {"mark": str(mark), "record": str(out)}
    lambda_client.invoke(
        FunctionName="eic-old", InvocationType="Event", Payload=json.dumps(event).encode()
    )
    record = _record(out)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert mark.read_text() == "x"
