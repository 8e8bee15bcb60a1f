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
        if not isinstance(location, dict):
            raise ResourceFailure(
                "Properties validation failed: DefinitionS3Location must be {Bucket, Key}"
            )
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
    substitutions = props.get("DefinitionSubstitutions") or {}
    if not isinstance(substitutions, dict):
        raise ResourceFailure(
            "Properties validation failed: DefinitionSubstitutions must map names to values"
        )
    for key, value in substitutions.items():
        if isinstance(value, dict | list) or value is None:
            raise ResourceFailure(
                f"Properties validation failed: DefinitionSubstitutions {key} must be a "
                f"string, a number or a boolean, not {json.dumps(value)}"
            )
        shown = json.dumps(value) if isinstance(value, bool | int | float) else str(value)
        text = text.replace("${" + str(key) + "}", shown)
    if "DefinitionS3Location" in props and "Definition" not in props:
        text = _as_json(text, props["DefinitionS3Location"])
    return text


def _as_json(text: str, location: Any) -> str:
    """A definition file in S3 may be YAML (as on AWS): the JSON Step Functions takes."""
    try:
        json.loads(text)
        return text
    except ValueError:
        pass
    import yaml

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ResourceFailure(
            f"DefinitionS3Location {location.get('Bucket')}/{location.get('Key')} is neither "
            f"JSON nor YAML: {exc}"
        )
    if not isinstance(loaded, dict):
        raise ResourceFailure(
            f"DefinitionS3Location {location.get('Bucket')}/{location.get('Key')} does not hold "
            "a state machine definition (a JSON or YAML object)"
        )
    return json.dumps(loaded)


def _role(request: Request) -> str:
    return str(
        request.properties.get("RoleArn")
        or f"arn:aws:iam::{request.services.account}:role/montemap-states"
    )


async def _call(name: str, request: Request, params: dict[str, Any]) -> dict[str, Any]:
    handler = ACTIONS[name]
    result: dict[str, Any] = await calling(lambda: handler(request.services.states, params))
    return result


def _tags(properties: dict[str, Any]) -> dict[str, str]:
    """The resource's ``Tags`` (``[{Key, Value}]``) as a dict."""
    tags = properties.get("Tags") or []
    if not isinstance(tags, list):
        raise ResourceFailure("Properties validation failed: Tags must be a list of {Key, Value}")
    found: dict[str, str] = {}
    for tag in tags:
        if not isinstance(tag, dict) or "Key" not in tag:
            raise ResourceFailure("Properties validation failed: every one of Tags needs a Key")
        found[str(tag["Key"])] = str(tag.get("Value", ""))
    return found


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


async def _retag(request: Request, arn: str) -> None:
    """Bring the resource's tags to what the template now says."""
    old, new = _tags(request.old_properties), _tags(request.properties)
    gone = [key for key in old if key not in new]
    if gone:
        await _call("UntagResource", request, {"resourceArn": arn, "tagKeys": gone})
    if new and new != old:
        await _call("TagResource", request, {"resourceArn": arn, "tags": _tag_list(new)})


def _type(request: Request) -> str:
    kind = str(request.properties.get("StateMachineType", "STANDARD"))
    if kind not in ("STANDARD", "EXPRESS"):
        raise ResourceFailure(
            f"Properties validation failed: StateMachineType must be STANDARD or EXPRESS, "
            f"not {kind}"
        )
    return kind


def _observability(request: Request) -> dict[str, Any]:
    """LoggingConfiguration and TracingConfiguration as the Step Functions API takes them;
    one the template no longer sets is turned off."""
    props, old = request.properties, request.old_properties
    found: dict[str, Any] = {}
    logging = props.get("LoggingConfiguration")
    if isinstance(logging, dict):
        config: dict[str, Any] = {
            "level": str(logging.get("Level", "OFF")),
            "includeExecutionData": logging.get("IncludeExecutionData") in (True, "true", "TRUE"),
        }
        destinations = [
            {"cloudWatchLogsLogGroup": {"logGroupArn": str(group.get("LogGroupArn", ""))}}
            for d in logging.get("Destinations") or []
            if isinstance(d, dict) and isinstance(group := d.get("CloudWatchLogsLogGroup"), dict)
        ]
        if destinations:
            config["destinations"] = destinations
        found["loggingConfiguration"] = config
    elif logging is not None:
        raise ResourceFailure(
            "Properties validation failed: LoggingConfiguration must be a mapping"
        )
    elif old.get("LoggingConfiguration"):
        found["loggingConfiguration"] = {"level": "OFF", "includeExecutionData": False}
    tracing = props.get("TracingConfiguration")
    if isinstance(tracing, dict):
        found["tracingConfiguration"] = {"enabled": tracing.get("Enabled") in (True, "true")}
    elif old.get("TracingConfiguration"):
        found["tracingConfiguration"] = {"enabled": False}
    return found


class StateMachineProvider:
    async def create(self, request: Request) -> Outcome:
        name = str(request.properties.get("StateMachineName") or request.generated_name(limit=80))
        params: dict[str, Any] = {
            "name": name,
            "definition": await _definition(request),
            "roleArn": _role(request),
            "type": _type(request),
            "tags": _tag_list(_tags(request.properties)),
            **_observability(request),
        }
        result = await _call("CreateStateMachine", request, params)
        arn = str(result["stateMachineArn"])
        # what PublishStateMachineVersion takes for a state machine never updated
        return Outcome(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": "INITIAL"})

    async def update(self, request: Request) -> Outcome:
        arn = request.physical_id
        wanted = request.properties.get("StateMachineName")
        if wanted is not None and not arn.endswith(f":{wanted}"):
            raise NeedsReplacement("StateMachineName cannot change (a replacement)")
        kind = _type(request)
        if kind != str(request.old_properties.get("StateMachineType", "STANDARD")):
            raise NeedsReplacement("StateMachineType cannot change (a replacement)")
        params = {
            "stateMachineArn": arn,
            "definition": await _definition(request),
            "roleArn": _role(request),
            **_observability(request),
        }
        updated = await _call("UpdateStateMachine", request, params)
        await _retag(request, arn)
        name = arn.rsplit(":", 1)[1]
        revision = updated.get("revisionId") or request.attributes.get("StateMachineRevisionId")
        return Outcome(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": revision})

    async def delete(self, request: Request) -> None:
        await _call("DeleteStateMachine", request, {"stateMachineArn": request.physical_id})


class ActivityProvider:
    async def create(self, request: Request) -> Outcome:
        name = str(request.properties.get("Name") or request.generated_name(limit=80))
        tags = _tag_list(_tags(request.properties))
        result = await _call("CreateActivity", request, {"name": name, "tags": tags})
        arn = str(result["activityArn"])
        return Outcome(arn, {"Arn": arn, "Name": name})

    async def update(self, request: Request) -> Outcome:
        name = request.physical_id.rsplit(":", 1)[1]
        if request.properties.get("Name") not in (None, name):
            raise NeedsReplacement("An activity's Name cannot change (a replacement)")
        await _retag(request, request.physical_id)
        return Outcome(request.physical_id, {"Arn": request.physical_id, "Name": name})

    async def delete(self, request: Request) -> None:
        await _call("DeleteActivity", request, {"activityArn": request.physical_id})
