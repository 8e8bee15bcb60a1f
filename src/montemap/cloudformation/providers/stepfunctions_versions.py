"""AWS::StepFunctions::StateMachineVersion and ::StateMachineAlias (SAM's ``AutoPublishAlias``).

A version publishes the state machine's current revision
(``StateMachineRevisionId``, ``Fn::GetAtt Machine.StateMachineRevisionId``);
any change of its properties publishes another one (a replacement, as they
are all create-only). An alias routes to one or two versions by
``RoutingConfiguration`` or to one by ``DeploymentPreference``. A ``CANARY``
or ``LINEAR`` deployment, which AWS spreads over ``Interval`` minutes while
watching ``Alarms``, moves all executions to the new version at once here,
and its event says so.
"""

from __future__ import annotations

from typing import Any

from montemap.cloudformation.errors import NeedsReplacement, ResourceFailure
from montemap.cloudformation.providers.base import Outcome, Request, required
from montemap.cloudformation.providers.stepfunctions import _call

#: Deployment types CloudFormation takes.
DEPLOYMENT_TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")


class StateMachineVersionProvider:
    async def create(self, request: Request) -> Outcome:
        params: dict[str, Any] = {"stateMachineArn": str(required(request, "StateMachineArn"))}
        revision = request.properties.get("StateMachineRevisionId")
        if revision is not None:
            params["revisionId"] = str(revision)
        if request.properties.get("Description") is not None:
            params["description"] = str(request.properties["Description"])
        result = await _call("PublishStateMachineVersion", request, params)
        arn = str(result["stateMachineVersionArn"])
        return Outcome(arn, {"Arn": arn})

    async def update(self, request: Request) -> Outcome:
        # StateMachineArn, StateMachineRevisionId and Description are all create-only
        raise NeedsReplacement("a state machine version's properties cannot change")

    async def delete(self, request: Request) -> None:
        await _call(
            "DeleteStateMachineVersion", request, {"stateMachineVersionArn": request.physical_id}
        )


def _routing(request: Request) -> list[dict[str, Any]]:
    """The alias's routing, from RoutingConfiguration or DeploymentPreference."""
    props = request.properties
    routing = props.get("RoutingConfiguration")
    preference = props.get("DeploymentPreference")
    if (routing is None) == (preference is None):
        raise ResourceFailure(
            "Properties validation failed: exactly one of RoutingConfiguration or "
            "DeploymentPreference is required"
        )
    if preference is not None:
        if not isinstance(preference, dict) or "StateMachineVersionArn" not in preference:
            raise ResourceFailure(
                "Properties validation failed: DeploymentPreference needs "
                "StateMachineVersionArn and Type"
            )
        kind = str(preference.get("Type"))
        if kind not in DEPLOYMENT_TYPES:
            raise ResourceFailure(
                f"Properties validation failed: DeploymentPreference Type must be one of "
                f"{', '.join(DEPLOYMENT_TYPES)}, not {kind}"
            )
        if kind != "ALL_AT_ONCE" and request.physical_id:
            request.notes.append(
                f"DeploymentPreference {kind}: all executions moved to the new version at once "
                "(montemap does not shift traffic gradually nor watch Alarms)"
            )
        return [
            {"stateMachineVersionArn": str(preference["StateMachineVersionArn"]), "weight": 100}
        ]
    if not isinstance(routing, list) or not all(
        isinstance(r, dict) and "StateMachineVersionArn" in r and "Weight" in r for r in routing
    ):
        raise ResourceFailure(
            "Properties validation failed: RoutingConfiguration must be a list of "
            "{StateMachineVersionArn, Weight}"
        )
    try:
        return [
            {"stateMachineVersionArn": str(r["StateMachineVersionArn"]), "weight": int(r["Weight"])}
            for r in routing
        ]
    except (TypeError, ValueError):
        raise ResourceFailure("Properties validation failed: each Weight must be an integer")


class StateMachineAliasProvider:
    async def create(self, request: Request) -> Outcome:
        name = str(request.properties.get("Name") or request.generated_name(limit=80))
        params: dict[str, Any] = {"name": name, "routingConfiguration": _routing(request)}
        if request.properties.get("Description") is not None:
            params["description"] = str(request.properties["Description"])
        result = await _call("CreateStateMachineAlias", request, params)
        arn = str(result["stateMachineAliasArn"])
        return Outcome(arn, {"Arn": arn})

    async def update(self, request: Request) -> Outcome:
        arn = request.physical_id
        wanted = request.properties.get("Name")
        if wanted is not None and not arn.endswith(f":{wanted}"):
            raise NeedsReplacement("An alias's Name cannot change (a replacement)")
        params: dict[str, Any] = {
            "stateMachineAliasArn": arn,
            "routingConfiguration": _routing(request),
        }
        if request.properties.get("Description") is not None:
            params["description"] = str(request.properties["Description"])
        await _call("UpdateStateMachineAlias", request, params)
        return Outcome(arn, {"Arn": arn})

    async def delete(self, request: Request) -> None:
        await _call(
            "DeleteStateMachineAlias", request, {"stateMachineAliasArn": request.physical_id}
        )
