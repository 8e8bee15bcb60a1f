"""State machine alias actions: create, describe, update, delete, list.

An alias (``<state machine arn>:<name>``) routes the executions started on it to
one or two published versions of one state machine, by weight (percentages
that add up to 100). :func:`pick_version` makes that choice for StartExecution.
"""

from __future__ import annotations

import random
from typing import Any

from montemap.api import paging
from montemap.api.actions.base import Context, Params, Result, action, parse_local_arn
from montemap.api.actions.state_machines import resolve
from montemap.api.protocol import validation_error
from montemap.api.registry import StateMachineAlias, StateMachineVersion
from montemap.errors import ApiError

#: The most aliases a state machine may have (AWS's quota).
MAX_ALIASES = 100


def _not_found(arn: str) -> ApiError:
    return ApiError("ResourceNotFound", f"Resource not found: '{arn}'")


def is_alias_arn(ctx: Context, arn_text: str) -> bool:
    """Whether ``arn_text`` is a well-formed ``stateMachine:<name>:<alias>`` ARN."""
    arn = parse_local_arn(ctx, arn_text, "stateMachine")
    return len(arn.parts) == 2 and not arn.parts[1].isdigit()


def get_alias(ctx: Context, arn_text: str) -> StateMachineAlias:
    """The alias an ARN names, else ``ResourceNotFound`` (``InvalidArn`` if malformed)."""
    if not is_alias_arn(ctx, arn_text):
        raise validation_error(f"'{arn_text}' is not a state machine alias ARN")
    alias = ctx.registry.get_alias(arn_text)
    if alias is None:
        raise _not_found(arn_text)
    return alias


def _routing(ctx: Context, given: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The routing checked, and the state machine its versions belong to."""
    routing = [
        {"stateMachineVersionArn": route["stateMachineVersionArn"], "weight": route["weight"]}
        for route in given
    ]
    machines = set()
    for route in routing:
        version_arn = route["stateMachineVersionArn"]
        arn = parse_local_arn(ctx, version_arn, "stateMachine")
        if len(arn.parts) != 2 or not arn.parts[1].isdigit():
            raise validation_error(
                f"Invalid routing configuration: '{version_arn}' is not a state machine version ARN"
            )
        machines.add(version_arn.rsplit(":", 1)[0])
    if len(machines) > 1:
        raise validation_error(
            "Invalid routing configuration: all versions must belong to the same state machine"
        )
    arns = [route["stateMachineVersionArn"] for route in routing]
    if len(set(arns)) != len(arns):
        raise validation_error(
            "Invalid routing configuration: a version may appear only once in it"
        )
    total = sum(route["weight"] for route in routing)
    if total != 100:
        raise validation_error(
            f"Invalid routing configuration: the weights must add up to 100, not {total}"
        )
    for version_arn in arns:
        if ctx.registry.get_version(version_arn) is None:
            raise _not_found(version_arn)
    return machines.pop(), routing


def pick_version(alias: StateMachineAlias) -> str:
    """The version an execution started on ``alias`` runs, chosen by weight."""
    routes = [route for route in alias.routing if route["weight"] > 0]
    weights = [route["weight"] for route in routes]
    chosen: dict[str, Any] = random.choices(routes, weights=weights)[0]
    return str(chosen["stateMachineVersionArn"])


def _described(alias: StateMachineAlias) -> Result:
    out: Result = {
        "stateMachineAliasArn": alias.arn,
        "name": alias.name,
        "routingConfiguration": alias.routing,
        "creationDate": alias.creation_date,
    }
    if alias.description is not None:
        out["description"] = alias.description
    if alias.update_date is not None:
        out["updateDate"] = alias.update_date
    return out


@action("CreateStateMachineAlias")
async def create_state_machine_alias(ctx: Context, params: Params) -> Result:
    """Create an alias; the same request again answers with it (idempotent), a
    different one for an existing name is ``ConflictException``."""
    name: str = params["name"]
    machine_arn, routing = _routing(ctx, params["routingConfiguration"])
    description = params.get("description")
    existing = ctx.registry.get_alias(f"{machine_arn}:{name}")
    if existing is not None:
        if existing.routing != routing or existing.description != description:
            raise ApiError(
                "ConflictException",
                f"Failed to create alias because an alias with the same name and a different "
                f"routing configuration already exists: '{existing.arn}'",
            )
        return {"stateMachineAliasArn": existing.arn, "creationDate": existing.creation_date}
    if len(ctx.registry.list_aliases(machine_arn)) >= MAX_ALIASES:
        raise ApiError(
            "ServiceQuotaExceededException",
            f"The maximum number of aliases ({MAX_ALIASES}) for state machine "
            f"'{machine_arn}' has been reached.",
        )
    alias = ctx.registry.insert_alias(machine_arn, name, description, routing)
    return {"stateMachineAliasArn": alias.arn, "creationDate": alias.creation_date}


@action("DescribeStateMachineAlias")
async def describe_state_machine_alias(ctx: Context, params: Params) -> Result:
    return _described(get_alias(ctx, params["stateMachineAliasArn"]))


@action("UpdateStateMachineAlias")
async def update_state_machine_alias(ctx: Context, params: Params) -> Result:
    alias = get_alias(ctx, params["stateMachineAliasArn"])
    description = params.get("description")
    given = params.get("routingConfiguration")
    if description is None and given is None:
        raise validation_error(
            "Either the description or the RoutingConfiguration must be specified"
        )
    routing = None
    if given is not None:
        machine_arn, routing = _routing(ctx, given)
        if machine_arn != alias.state_machine_arn:
            raise validation_error(
                "Invalid routing configuration: the versions must belong to the alias's "
                f"state machine '{alias.state_machine_arn}'"
            )
    updated = ctx.registry.update_alias(alias.arn, description=description, routing=routing)
    return {"updateDate": updated.update_date}


@action("DeleteStateMachineAlias")
async def delete_state_machine_alias(ctx: Context, params: Params) -> Result:
    """Delete an alias; one already gone is no error. Running executions go on."""
    arn_text = params["stateMachineAliasArn"]
    if not is_alias_arn(ctx, arn_text):
        raise validation_error(f"'{arn_text}' is not a state machine alias ARN")
    ctx.registry.delete_alias(arn_text)
    return {}


@action("ListStateMachineAliases")
async def list_state_machine_aliases(ctx: Context, params: Params) -> Result:
    """A state machine's aliases in name order; given a version ARN, the aliases
    that route to that version (as on AWS)."""
    found = resolve(ctx, params["stateMachineArn"])
    if isinstance(found, StateMachineVersion):
        aliases = ctx.registry.aliases_routing_to(found.arn)
    else:
        aliases = ctx.registry.list_aliases(found.arn)
    page, token = paging.paginate(
        aliases,
        lambda alias: alias.name,
        listing="ListStateMachineAliases",
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return paging.listed(
        "stateMachineAliases",
        [{"stateMachineAliasArn": a.arn, "creationDate": a.creation_date} for a in page],
        token,
    )
