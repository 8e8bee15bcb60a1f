"""The services page's update form keeps a service's task definition unless one is picked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing import MontemapServer
from tests.console.helpers import Http


@pytest.fixture
def ecs(console_server: MontemapServer) -> Iterator[Any]:
    client = console_server.client("ecs")
    yield client
    client.close()


def _submitted_task_definition(page: str, card: str) -> str:
    """What a browser sends as ``taskDefinition`` from a service card's update form: the
    selected option, else the first."""
    start = page.index(f'data-service="{card}"')
    select = re.search(r'<select name="taskDefinition">(.*?)</select>', page[start:], re.S)
    assert select is not None
    options: list[tuple[str, str]] = re.findall(
        r'<option value="([^"]*)"\s*(selected)?', select.group(1)
    )
    chosen = [value for value, selected in options if selected] or [options[0][0]]
    return chosen[0]


def test_a_deregistered_task_definition_is_kept_when_only_the_count_changes(
    http: Http, ecs: Any
) -> None:
    arn = ecs.register_task_definition(
        family="retiring",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "w", "image": "local", "command": ["sleep", "60"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="default", serviceName="retiring-svc", taskDefinition=arn, desiredCount=0
    )
    ecs.deregister_task_definition(taskDefinition=arn)

    page = http.get("/console/services")
    assert page.status == 200
    chosen = _submitted_task_definition(page.body, "default/retiring-svc")
    assert chosen == ""  # "keep", not the first active definition (large:1)
    assert "retiring:1 (kept: not active)" in page.body
    form = {"cluster": "default", "service": "retiring-svc", "taskDefinition": chosen}
    reply = http.post("/console/services/update", {**form, "desiredCount": "0"})
    assert reply.status == 303, reply.body
    (service,) = ecs.describe_services(cluster="default", services=["retiring-svc"])["services"]
    assert service["taskDefinition"] == arn


def test_an_active_task_definition_is_selected(http: Http, ecs: Any) -> None:
    ecs.create_service(
        cluster="default", serviceName="small-svc", taskDefinition="small", desiredCount=0
    )
    page = http.get("/console/services").body
    assert _submitted_task_definition(page, "default/small-svc") == "small:1"
    assert "small:1 (kept: not active)" not in page
