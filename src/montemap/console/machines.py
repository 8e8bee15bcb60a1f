"""What a state machine page shows: a state machine, one of its versions, or an alias.

Executions started on a version or an alias are recorded under that ARN, and each
has a page of its own: its definition, its executions (as ListExecutions lists
them), and a start form that starts it as StartExecution does (an alias
picks a version by its routing weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from montemap.api.actions.base import Context
from montemap.api.actions.executions import start_execution
from montemap.api.registry import Registry, StateMachine, StateMachineAlias, StateMachineVersion
from montemap.engine.engine import Engine
from montemap.errors import ApiError

#: Versions a state machine's page lists (newest first).
VERSIONS_SHOWN = 50


@dataclass(frozen=True)
class Subject:
    """The state machine, version or alias a page is about."""

    arn: str
    machine: StateMachine
    kind: str  # "state machine", "version" or "alias"
    definition: str
    type: str
    routing: list[dict[str, Any]] = field(default_factory=list)
    versions: list[StateMachineVersion] = field(default_factory=list)
    aliases: list[StateMachineAlias] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``name``, ``name:3`` (a version) or ``name:prod`` (an alias)."""
        if self.kind == "state machine":
            return self.machine.name
        return f"{self.machine.name}:{self.arn.rsplit(':', 1)[-1]}"


def _missing(arn: str) -> ApiError:
    return ApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


def subject(registry: Registry, arn: str) -> Subject:
    """The state machine, version or alias ``arn`` names (StateMachineDoesNotExist else)."""
    machine = registry.get_state_machine(arn)
    if machine is not None:
        versions = registry.list_versions(arn)[:VERSIONS_SHOWN]
        return Subject(
            arn,
            machine,
            "state machine",
            machine.definition,
            machine.type,
            versions=versions,
            aliases=registry.list_aliases(arn),
        )
    version = registry.get_version(arn)
    if version is not None:
        machine = registry.get_state_machine(version.state_machine_arn)
        if machine is not None:
            aliases = registry.aliases_routing_to(arn)
            return Subject(
                arn, machine, "version", version.definition, version.type, aliases=aliases
            )
    alias = registry.get_alias(arn)
    if alias is not None and alias.routing:
        machine = registry.get_state_machine(alias.state_machine_arn)
        heaviest = max(alias.routing, key=lambda route: route.get("weight", 0))
        target = registry.get_version(heaviest["stateMachineVersionArn"])
        if machine is not None and target is not None:
            routing = list(alias.routing)
            return Subject(arn, machine, "alias", target.definition, target.type, routing=routing)
    raise _missing(arn)


async def start(engine: Engine, registry: Registry, arn: str, name: str | None, text: str) -> str:
    """Start ``arn`` (a state machine, version or alias) as StartExecution does; the new
    execution's ARN."""
    params: dict[str, Any] = {"stateMachineArn": arn, "input": text}
    if name is not None:
        params["name"] = name
    result = await start_execution(Context(engine=engine, registry=registry), params)
    execution_arn: str = result["executionArn"]
    return execution_arn
