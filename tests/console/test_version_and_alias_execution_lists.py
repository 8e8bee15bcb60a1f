"""The console lists a state machine's, version's and alias's executions as
ListExecutions does (a machine's page shows those started on its versions and aliases
too), and an execution's page names the version and alias it ran through."""

from __future__ import annotations

import json
from typing import Any

import pytest

from montemap.testing import wait_for_execution
from tests.console.helpers import ROLE_ARN, Http, q

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def family(sfn: Any) -> dict[str, str]:
    created = sfn.create_state_machine(
        name="listed-family", definition=json.dumps(PASS), roleArn=ROLE_ARN, publish=True
    )
    machine, version = created["stateMachineArn"], created["stateMachineVersionArn"]
    alias = sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}]
    )["stateMachineAliasArn"]
    out = {"machine": machine, "version": version, "alias": alias}
    for name, target in (("fam-plain", machine), ("fam-version", version), ("fam-alias", alias)):
        out[name] = sfn.start_execution(stateMachineArn=target, name=name)["executionArn"]
        wait_for_execution(sfn, out[name])
    return out


def _listed(http: Http, arn: str) -> list[str]:
    rows = http.get("/console/api/executions", arn=arn).json()["executions"]
    return [row["name"] for row in rows]


def test_the_machine_lists_its_versions_and_aliases_executions(
    http: Http, family: dict[str, str]
) -> None:
    assert _listed(http, family["machine"]) == ["fam-alias", "fam-version", "fam-plain"]
    page = http.get("/console/state-machine", arn=family["machine"]).body
    assert all(f"execution?arn={q(family[name])}" in page for name in ("fam-plain", "fam-alias"))


def test_a_version_lists_the_executions_its_aliases_ran_on_it(
    http: Http, family: dict[str, str]
) -> None:
    assert _listed(http, family["version"]) == ["fam-alias", "fam-version"]
    assert _listed(http, family["alias"]) == ["fam-alias"]


def test_an_execution_page_names_its_version_and_alias(http: Http, family: dict[str, str]) -> None:
    page = http.get("/console/execution", arn=family["fam-alias"]).body
    assert f'id="ex-version"><a href="/console/state-machine?arn={q(family["version"])}">1<' in page
    assert f'id="ex-alias"><a href="/console/state-machine?arn={q(family["alias"])}">live<' in page
    assert ">listed-family:live</a>" in page  # the crumb names the alias
    page = http.get("/console/execution", arn=family["fam-version"]).body
    assert 'id="ex-version"' in page and 'id="ex-alias"' not in page
    page = http.get("/console/execution", arn=family["fam-plain"]).body
    assert 'id="ex-version"' not in page and 'id="ex-alias"' not in page
