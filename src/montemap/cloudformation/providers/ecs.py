"""AWS::ECS::Cluster, ::TaskDefinition and ::Service, through the server's ECS API.

CloudFormation spells properties in PascalCase and the ECS API in camelCase;
the request is the template's properties with each key's first letter lowered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from montemap.cloudformation.errors import NeedsReplacement, ResourceFailure
from montemap.cloudformation.providers.base import Outcome, Request, calling

#: How long a service's deletion may take to drain (CloudFormation waits for INACTIVE).
SERVICE_DRAIN_SECONDS = 300.0
_DRAIN_POLL = 0.1

#: Maps whose keys are data, not property names: kept as written.
_DATA_KEYS = frozenset({"options", "dockerLabels", "labels", "systemControls"})


def camel(value: Any, *, data: bool = False) -> Any:
    if isinstance(value, dict):
        if data:
            return dict(value)
        out = {}
        for key, item in value.items():
            name = key[:1].lower() + key[1:]
            out[name] = camel(item, data=name in _DATA_KEYS)
        return out
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


async def _ecs(request: Request, action: str, params: dict[str, Any]) -> dict[str, Any]:
    ecs = request.services.ecs
    result: dict[str, Any] = await calling(lambda: ecs.handle_ecs(action, params))
    return result


def _tags(request: Request) -> list[dict[str, str]]:
    tags = request.properties.get("Tags") or []
    return [{"key": str(t.get("Key")), "value": str(t.get("Value"))} for t in tags]


class ClusterProvider:
    async def create(self, request: Request) -> Outcome:
        name = str(request.properties.get("ClusterName") or request.generated_name(limit=255))
        result = await _ecs(request, "CreateCluster", {"clusterName": name})
        return Outcome(name, {"Arn": result["cluster"]["clusterArn"]})

    async def update(self, request: Request) -> Outcome:
        if request.properties.get("ClusterName") not in (None, request.physical_id):
            raise NeedsReplacement("ClusterName cannot change (a replacement)")
        arn = f"arn:aws:ecs:{request.services.region}:{request.services.account}:cluster/"
        return Outcome(request.physical_id, {"Arn": arn + request.physical_id})

    async def delete(self, request: Request) -> None:
        await _ecs(request, "DeleteCluster", {"cluster": request.physical_id})


class TaskDefinitionProvider:
    async def create(self, request: Request) -> Outcome:
        params = camel({k: v for k, v in request.properties.items() if k != "Tags"})
        params.setdefault("family", request.generated_name(limit=255))
        if "cpu" in params:
            params["cpu"] = str(params["cpu"])
        if "memory" in params:
            params["memory"] = str(params["memory"])
        if _tags(request):
            params["tags"] = _tags(request)
        result = await _ecs(request, "RegisterTaskDefinition", params)
        arn = str(result["taskDefinition"]["taskDefinitionArn"])
        _mapping_note(request, result["taskDefinition"])
        return Outcome(arn, {"TaskDefinitionArn": arn})

    async def update(self, request: Request) -> Outcome:
        return await self.create(request)  # a new revision, as CloudFormation registers

    async def delete(self, request: Request) -> None:
        await _ecs(request, "DeregisterTaskDefinition", {"taskDefinition": request.physical_id})


def _mapping_note(request: Request, definition: dict[str, Any]) -> None:
    """Say, in the stack's events, which containers the mapping file runs differently."""
    mapping = request.services.ecs.manager.host_mapping
    if mapping is None:
        return
    for container in definition.get("containerDefinitions") or []:
        name = str(container.get("name"))
        rule = mapping.container(str(definition["family"]), name, container.get("image"))
        if rule is not None:
            request.notes.append(f"container {name}: {rule.describe()}")


class ServiceProvider:
    def _params(self, request: Request) -> dict[str, Any]:
        props = camel({k: v for k, v in request.properties.items() if k != "Tags"})
        keep = (
            "cluster",
            "taskDefinition",
            "desiredCount",
            "launchType",
            "networkConfiguration",
            "platformVersion",
            "deploymentConfiguration",
            "enableECSManagedTags",
            "propagateTags",
        )
        params = {k: props[k] for k in keep if k in props}
        if "desiredCount" in params:
            params["desiredCount"] = int(params["desiredCount"])
        return params

    async def create(self, request: Request) -> Outcome:
        params = self._params(request)
        params["serviceName"] = str(
            request.properties.get("ServiceName") or request.generated_name(limit=255)
        )
        result = await _ecs(request, "CreateService", params)
        service = result["service"]
        arn = str(service["serviceArn"])
        return Outcome(arn, {"Name": service["serviceName"], "ServiceArn": arn})

    async def update(self, request: Request) -> Outcome:
        params = self._params(request)
        params.pop("launchType", None)
        params.pop("networkConfiguration", None)
        params["service"] = request.physical_id
        result = await _ecs(request, "UpdateService", params)
        service = result["service"]
        return Outcome(
            request.physical_id, {"Name": service["serviceName"], "ServiceArn": request.physical_id}
        )

    async def delete(self, request: Request) -> None:
        cluster = request.properties.get("Cluster")
        params: dict[str, Any] = {"service": request.physical_id, "force": True}
        if cluster:
            params["cluster"] = cluster
        await _ecs(request, "DeleteService", params)
        # as CloudFormation: the deletion is complete once the service is INACTIVE (its
        # tasks stopped), so that its cluster, deleted next, no longer contains it
        deadline = time.monotonic() + SERVICE_DRAIN_SECONDS
        while True:
            query: dict[str, Any] = {"services": [request.physical_id]}
            if cluster:
                query["cluster"] = cluster
            described = await _ecs(request, "DescribeServices", query)
            found = described.get("services") or []
            if not found or all(s.get("status") == "INACTIVE" for s in found):
                return
            if time.monotonic() > deadline:
                raise ResourceFailure(
                    f"Service {request.physical_id} did not drain (still "
                    f"{found[0].get('status')}) within {SERVICE_DRAIN_SECONDS:g} s"
                )
            await asyncio.sleep(_DRAIN_POLL)  # polling the service's status
