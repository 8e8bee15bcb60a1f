"""A browser's request is refused in the protocol of the service it is for.

The refusal of an action that starts processes (a request carrying ``Origin``), and the
Host/Origin policy's refusal of a page of another site, must be answered as the
service answers errors, so that its SDK parses them as its own: ECS in JSON 1.1 (its
``AccessDeniedException``, not Step Functions' ``com.amazonaws.sfn#...`` in JSON 1.0),
Lambda in REST JSON (``x-amzn-ErrorType``), CloudFormation, IAM and STS in the query
protocol's XML. Shown with boto3 clients against a real server.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer

OTHER_SITE = "http://pages.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    served = MontemapServer(tmp_path_factory.mktemp("refusal-shapes") / "data")
    served.start()
    yield served
    served.close()


def _browser_client(server: MontemapServer, service: str, origin: str) -> tuple[Any, list[Any]]:
    """A boto3 client whose requests carry ``Origin: origin``; the raw answers it gets."""
    client = server.client(service)
    answers: list[Any] = []

    def mark(request: Any, **_: Any) -> None:
        request.headers["Origin"] = origin

    def keep(http_response: Any, **_: Any) -> None:
        answers.append(http_response)

    client.meta.events.register("before-sign.*", mark)
    client.meta.events.register("after-call.*", keep)
    return client, answers


def _own_origin(server: MontemapServer) -> str:
    return f"http://{server.host}:{server.port}"


def _zip() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return 1\n")
    return data.getvalue()


ECS_CALLS: dict[str, Callable[[Any], object]] = {
    "RegisterTaskDefinition": lambda ecs: ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "a", "image": "x", "command": ["true"]}]
    ),
    "RunTask": lambda ecs: ecs.run_task(taskDefinition="web"),
    "CreateService": lambda ecs: ecs.create_service(serviceName="s", taskDefinition="web"),
}


@pytest.mark.parametrize("action", sorted(ECS_CALLS))
@pytest.mark.parametrize("page", ["own", "other"])
def test_ecs_refusals_are_ecs_errors(server: MontemapServer, action: str, page: str) -> None:
    origin = _own_origin(server) if page == "own" else OTHER_SITE
    ecs, answers = _browser_client(server, "ecs", origin)
    with pytest.raises(ecs.exceptions.AccessDeniedException):
        ECS_CALLS[action](ecs)
    (answer,) = answers
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
    assert answer.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert json.loads(answer.content)["__type"] == "AccessDeniedException"
    assert answer.headers["x-content-type-options"] == "nosniff"
    ecs.close()


@pytest.mark.parametrize("page", ["own", "other"])
def test_lambda_refusals_are_rest_json_errors(server: MontemapServer, page: str) -> None:
    origin = _own_origin(server) if page == "own" else OTHER_SITE
    lam, answers = _browser_client(server, "lambda", origin)
    with pytest.raises(ClientError) as raised:
        lam.create_function(
            FunctionName="f",
            Runtime="python3.12",
            Role="arn:aws:iam::123456789012:role/r",
            Handler="handler.handle",
            Code={"ZipFile": _zip()},
        )
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    (answer,) = answers
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    body = json.loads(answer.content)
    assert body["Type"] == "User" and "__type" not in body, body
    lam.close()


QUERY_CALLS: dict[str, Callable[[Any], object]] = {
    "cloudformation": lambda cfn: cfn.create_stack(StackName="s", TemplateBody="{}"),
    "iam": lambda iam: iam.list_roles(),
    "sts": lambda sts: sts.get_caller_identity(),
}


@pytest.mark.parametrize("service", sorted(QUERY_CALLS))
def test_query_service_refusals_are_xml_errors(server: MontemapServer, service: str) -> None:
    client, answers = _browser_client(server, service, OTHER_SITE)
    with pytest.raises(ClientError) as raised:
        QUERY_CALLS[service](client)
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert "Cross-site request refused" in raised.value.response["Error"]["Message"]
    (answer,) = answers
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.content.startswith(b"<ErrorResponse>")
    client.close()


def test_step_functions_refusals_stay_json_1_0(server: MontemapServer) -> None:
    sfn, answers = _browser_client(server, "stepfunctions", OTHER_SITE)
    with pytest.raises(sfn.exceptions.ClientError) as raised:
        sfn.list_state_machines()
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    (answer,) = answers
    assert answer.headers["content-type"] == "application/x-amz-json-1.0"
    sfn.close()
