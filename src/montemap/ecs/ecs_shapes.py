"""The ECS API's response shapes (clusters, task definitions, services, tasks), as
botocore's ``ecs`` model has them; :class:`~montemap.ecs.ecs_api.EcsApi` builds on them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from montemap.ecs.ecs_store import EcsStore
from montemap.ecs.taskdefs import Cluster, EcsArns, Service, TaskDefinition, TaskRecord

if TYPE_CHECKING:
    from montemap.ecs.service import ServiceManager


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class EcsShapes:
    """Shapes of the records the store holds, with the live counts the manager knows."""

    manager: ServiceManager
    store: EcsStore
    arns: EcsArns

    def _cluster_shape(self, cluster: Cluster) -> dict[str, Any]:
        live = self.store.tasks(cluster=cluster.name, live=True)
        return {
            "clusterArn": self.arns.cluster(cluster.name),
            "clusterName": cluster.name,
            "status": cluster.status,
            "registeredContainerInstancesCount": 0,
            "runningTasksCount": sum(1 for t in live if t.last_status == "RUNNING"),
            "pendingTasksCount": sum(
                1 for t in live if t.last_status in ("PROVISIONING", "PENDING")
            ),
            "activeServicesCount": len(self.store.services(cluster.name)),
            "statistics": [],
            "tags": cluster.tags,
            "settings": [{"name": "containerInsights", "value": "disabled"}],
            "capacityProviders": [],
            "defaultCapacityProviderStrategy": [],
        }

    def _task_definition_shape(self, definition: TaskDefinition) -> dict[str, Any]:
        body = dict(definition.body)
        body.pop("tags", None)
        containers = []
        for container in body["containerDefinitions"]:
            containers.append(
                {
                    "cpu": 0,
                    "portMappings": [],
                    "essential": True,
                    "environment": [],
                    "mountPoints": [],
                    "volumesFrom": [],
                    **container,
                }
            )
        shape = {
            **body,
            "taskDefinitionArn": self.arns.task_definition(definition.family, definition.revision),
            "containerDefinitions": containers,
            "revision": definition.revision,
            "volumes": body.get("volumes", []),
            "status": definition.status,
            "requiresAttributes": [],
            "placementConstraints": body.get("placementConstraints", []),
            "compatibilities": ["EC2", "FARGATE"],
            "registeredAt": _time(definition.registered_at),
            "deregisteredAt": _time(definition.deregistered_at),
        }
        return _drop_none(shape)

    def _service_shape(self, service: Service) -> dict[str, Any]:
        cluster, name = service.cluster, service.name
        running, pending = self.manager.counts(cluster, name)
        deployments = []
        all_tasks = self.store.tasks(cluster=cluster, service=name)
        for index, deployment in enumerate(self.store.deployments(cluster, name)):
            mine = [t for t in all_tasks if t.deployment_id == deployment.id]
            live = [t for t in mine if t.last_status != "STOPPED" and t.desired_status == "RUNNING"]
            d_running = sum(1 for t in live if t.last_status == "RUNNING")
            d_pending = sum(1 for t in live if t.last_status in ("PROVISIONING", "PENDING"))
            family, _, revision = deployment.task_definition.partition(":")
            deployments.append(
                {
                    "id": deployment.id,
                    "status": deployment.status,
                    "taskDefinition": self.arns.task_definition(family, int(revision)),
                    "desiredCount": service.desired_count
                    if index == 0 and service.status == "ACTIVE"
                    else len(live),
                    "pendingCount": d_pending,
                    "runningCount": d_running,
                    "failedTasks": sum(
                        1
                        for t in mine
                        if t.stop_code in ("EssentialContainerExited", "TaskFailedToStart")
                    ),
                    "createdAt": _time(deployment.created_at),
                    "updatedAt": _time(deployment.updated_at),
                    "launchType": service.launch_type,
                    "rolloutState": deployment.rollout_state,
                    "rolloutStateReason": deployment.rollout_reason,
                }
            )
        family, _, revision = service.task_definition.partition(":")
        events = [
            {**event, "createdAt": _time(event["createdAt"])}
            for event in self.manager.events(cluster, name)
        ]
        return {
            "serviceArn": self.arns.service(cluster, name),
            "serviceName": name,
            "clusterArn": self.arns.cluster(cluster),
            "loadBalancers": service.body.get("loadBalancers", []),
            "serviceRegistries": service.body.get("serviceRegistries", []),
            "status": service.status,
            "desiredCount": service.desired_count,
            "runningCount": running,
            "pendingCount": pending,
            "launchType": service.launch_type,
            "taskDefinition": self.arns.task_definition(family, int(revision)),
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": {"enable": False, "rollback": False},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            },
            "deployments": deployments,
            "events": events,
            "createdAt": _time(service.created_at),
            "placementConstraints": [],
            "placementStrategy": [],
            "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": "ECS"},
            "enableECSManagedTags": False,
            "propagateTags": "NONE",
            "enableExecuteCommand": False,
        }

    def _task_shape(self, task: TaskRecord) -> dict[str, Any]:
        arn = self.arns.task(task.cluster, task.id)
        definition = self.store.resolve_task_definition(task.task_definition)
        container = definition.container if definition is not None else {}
        family, _, revision = task.task_definition.partition(":")
        container_status = {"PROVISIONING": "PENDING", "STOPPING": "RUNNING"}.get(
            task.last_status, task.last_status
        )
        container_shape = _drop_none(
            {
                "containerArn": self.arns.container(task.cluster, task.id, task.container_id),
                "taskArn": arn,
                "name": container.get("name", "worker"),
                "image": container.get("image"),
                "runtimeId": str(task.pid) if task.pid is not None else None,
                "lastStatus": container_status,
                "exitCode": container_exit_code(task.exit_code),
                "reason": task.stopped_reason if task.last_status == "STOPPED" else None,
                "networkBindings": [],
                "networkInterfaces": [],
                "healthStatus": "UNKNOWN",
                "cpu": str(container.get("cpu", 0)),
                "memory": str(container["memory"]) if container.get("memory") else None,
            }
        )
        version = {"PROVISIONING": 1, "PENDING": 2, "RUNNING": 3, "STOPPING": 4, "STOPPED": 5}
        return _drop_none(
            {
                "attachments": [],
                "attributes": [],
                "availabilityZone": "local",
                "clusterArn": self.arns.cluster(task.cluster),
                "containers": [container_shape],
                "cpu": str(task.cpu_units) if task.cpu_units is not None else None,
                "memory": str(task.memory_mib) if task.memory_mib is not None else None,
                "createdAt": _time(task.created_at),
                "desiredStatus": task.desired_status,
                "group": f"service:{task.service}"
                if task.service
                else task.option_values.get("group") or f"family:{family}",
                "healthStatus": "UNKNOWN",
                "lastStatus": task.last_status,
                "launchType": self._launch_type(task),
                "overrides": {
                    "containerOverrides": [{"name": container.get("name", "worker")}],
                    "inferenceAcceleratorOverrides": [],
                    **task.override_values,
                },
                "startedAt": _time(task.started_at),
                "startedBy": task.started_by,
                "stopCode": task.stop_code,
                "stoppedAt": _time(task.stopped_at),
                "stoppedReason": task.stopped_reason,
                "stoppingAt": _time(task.stopping_at),
                "taskArn": arn,
                "taskDefinitionArn": self.arns.task_definition(family, int(revision)),
                "version": version.get(task.last_status, 1),
            }
        )

    def _launch_type(self, task: TaskRecord) -> str:
        given: str | None = task.option_values.get("launchType")
        if given:
            return given
        if task.service:
            service = self.store.get_service(task.cluster, task.service)
            if service is not None:
                return service.launch_type
        return "FARGATE"


def container_exit_code(code: int | None) -> int | None:
    """A task's exit status as ECS reports a container's: a process ended by signal N
    (Python's ``-N``) is ``128 + N``, as Docker reports it (137 for SIGKILL, 143 for
    SIGTERM)."""
    if code is not None and code < 0:
        return 128 - code
    return code
