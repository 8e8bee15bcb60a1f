"""AWS::StepFunctions::StateMachine and ::Activity, through the Step Functions actions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from montemap.api.actions import ACTIONS
from montemap.cloudformation.errors import NeedsReplacement, ResourceFailure
from montemap.cloudformation.providers.base import Outcome, Request, calling
from montemap.storage.base import ObjectStoreError


async def _definition(request: Request) -> str:
    """The definition text from Definition, DefinitionString or DefinitionS3Location."""
    props = request.properties
    if "Definition" in props:
        text = json.dumps(props["Definition"])
    elif "DefinitionString" in props:
        text = str(props["DefinitionString"])
    elif "DefinitionS3Location" in props:
        location = props["DefinitionS3Location"]
        try:
            data = await asyncio.to_thread(
                request.services.objects.get, str(location["Bucket"]), str(location["Key"])
            )
        except (ObjectStoreError, KeyError, TypeError) as exc:
            raise ResourceFailure(f"DefinitionS3Location could not be read: {exc}")
        text = data.decode("utf-8")
    else:
        raise ResourceFailure(
            "Properties validation failed: one of Definition, DefinitionString or "
            "DefinitionS3Location is required"
        )
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        shown = json.dumps(value) if isinstance(value, bool | int | float) else str(value)
        text = text.replace("${" + str(key) + "}", shown)
    return text


def _role(request: Request) -> str:
    return str(
        request.properties.get("RoleArn")
        or f"arn:aws:iam::{request.services.account}:role/montemap-states"
    )


async def _call(name: str, request: Request, params: dict[str, Any]) -> dict[str, Any]:
    handler = ACTIONS[name]
    result: dict[str, Any] = await calling(lambda: handler(request.services.states, params))
    return result


class StateMachineProvider:
    async def create(self, request: Request) -> Outcome:
        name = str(request.properties.get("StateMachineName") or request.generated_name(limit=80))
        params: dict[str, Any] = {
            "name": name,
            "definition": await _definition(request),
            "roleArn": _role(request),
            "type": str(request.properties.get("StateMachineType", "STANDARD")),
        }
        result = await _call("CreateStateMachine", request, params)
        arn = str(result["stateMachineArn"])
        return Outcome(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": arn})

    async def update(self, request: Request) -> Outcome:
        arn = request.physical_id
        wanted = request.properties.get("StateMachineName")
        if wanted is not None and not arn.endswith(f":{wanted}"):
            raise NeedsReplacement("StateMachineName cannot change (a replacement)")
        params = {
            "stateMachineArn": arn,
            "definition": await _definition(request),
            "roleArn": _role(request),
        }
        await _call("UpdateStateMachine", request, params)
        name = arn.rsplit(":", 1)[1]
        return Outcome(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": arn})

    async def delete(self, request: Request) -> None:
        await _call("DeleteStateMachine", request, {"stateMachineArn": request.physical_id})


class ActivityProvider:
    async def create(self, request: Request) -> Outcome:
        name = str(request.properties.get("Name") or request.generated_name(limit=80))
        result = await _call("CreateActivity", request, {"name": name})
        arn = str(result["activityArn"])
        return Outcome(arn, {"Arn": arn, "Name": name})

    async def update(self, request: Request) -> Outcome:
        name = request.physical_id.rsplit(":", 1)[1]
        if request.properties.get("Name") not in (None, name):
            raise NeedsReplacement("An activity's Name cannot change (a replacement)")
        return Outcome(request.physical_id, {"Arn": request.physical_id, "Name": name})

    async def delete(self, request: Request) -> None:
        await _call("DeleteActivity", request, {"activityArn": request.physical_id})
