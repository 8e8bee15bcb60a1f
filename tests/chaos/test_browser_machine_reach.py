"""A page cannot reach a process through a machine that calls another API.

A machine's ``aws-sdk:lambda:createFunction`` deploys code, ``aws-sdk:sfn:
createStateMachine`` then ``startExecution`` defines and starts a machine that runs
ECS tasks, ``states:startExecution`` starts a machine a trusted client made, and a
Resource computed by JSONata may be any of these: defining or starting such a machine
from a browser is refused (403), as for the ECS resources themselves; machines whose
Tasks only read data are not.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from montemap.testing import MontemapServer

ROLE = "arn:aws:iam::123456789012:role/r"


def _task(resource: str) -> str:
    task = {"Type": "Task", "Resource": resource, "Parameters": {}, "End": True}
    return json.dumps({"StartAt": "T", "States": {"T": task}})


def _create_from_page(server: MontemapServer, name: str, definition: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/",
            body=json.dumps({"name": name, "definition": definition, "roleArn": ROLE}).encode(),
            headers={
                "Host": f"127.0.0.1:{server.port}",
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "AWSStepFunctions.CreateStateMachine",
                "Origin": f"http://127.0.0.1:{server.port}",
                "Sec-Fetch-Site": "same-origin",
            },
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:states:::aws-sdk:lambda:createFunction",
        "arn:aws:states:::aws-sdk:lambda:invoke",
        "arn:aws:states:::aws-sdk:sfn:createStateMachine",
        "arn:aws:states:::aws-sdk:sfn:startExecution",
        "arn:aws:states:::aws-sdk:cloudformation:createStack",
        "arn:aws:states:::aws-sdk:sts:assumeRole",
        "arn:aws:states:::states:startExecution.sync:2",
    ],
)
def test_a_page_cannot_define_a_machine_reaching_another_api(
    montemap_server: MontemapServer, resource: str
) -> None:
    status, body = _create_from_page(montemap_server, "reach", _task(resource))
    assert status == 403, body
    assert body["__type"].endswith("AccessDeniedException"), body
    assert resource in body["message"], body


def test_a_jsonata_resource_could_be_anything(montemap_server: MontemapServer) -> None:
    definition = json.dumps(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": "{% 'arn:aws:states:::aws-sdk:' & 'lambda:createFunction' %}",
                    "End": True,
                }
            },
        }
    )
    status, body = _create_from_page(montemap_server, "computed", definition)
    assert status == 403, body


def test_machines_that_read_data_are_not_refused(montemap_server: MontemapServer) -> None:
    status, body = _create_from_page(
        montemap_server, "reads", _task("arn:aws:states:::aws-sdk:s3:getObject")
    )
    assert status == 200, body
