"""A subset of the Amazon ECS API over the local worker service.

:meth:`EcsApi.handle_ecs` takes an action name and its request (camelCase, as
the JSON 1.1 wire carries it) and returns the response in the shapes of
botocore's ``ecs`` service model; refusals are ``ApiError`` with ECS's codes
(``ClientException``, ``InvalidParameterException``,
``ClusterNotFoundException``, ``ServiceNotFoundException``,
``ServiceNotActiveException``...). Timestamps are returned as ``datetime``
(the wire layer writes them as epoch seconds).

Local differences: a task is one process (its one container's ``command``),
its container's ``runtimeId`` is the process id, and there is no image,
network or load balancer; those fields are accepted, stored and echoed.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import botocore.loaders
from botocore.model import ServiceModel

from montemap.api.validation import validate_input
from montemap.ecs.capacity import TaskTooLarge
from montemap.ecs.ecs_shapes import EcsShapes
from montemap.ecs.ecs_store import EcsStore
from montemap.ecs.limits import (
    check_cluster_count,
    check_desired_count,
    check_service_count,
)
from montemap.ecs.run_tokens import RunTokens, check_token, request_digest
from montemap.ecs.service import ServiceManager
from montemap.ecs.taskdefs import (
    DEFAULT_CLUSTER,
    Cluster,
    Service,
    TaskDefinition,
    check_overrides,
    client_error,
    invalid_parameter,
)
from montemap.errors import ApiError

#: The actions this server implements.
ACTIONS = (
    "CreateCluster",
    "DescribeClusters",
    "ListClusters",
    "DeleteCluster",
    "RegisterTaskDefinition",
    "DescribeTaskDefinition",
    "ListTaskDefinitions",
    "ListTaskDefinitionFamilies",
    "DeregisterTaskDefinition",
    "CreateService",
    "UpdateService",
    "DescribeServices",
    "ListServices",
    "DeleteService",
    "ListTasks",
    "DescribeTasks",
    "StopTask",
    "RunTask",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)

#: ECS's quota of tags on one resource.
MAX_TAGS = 50

#: The most tasks one RunTask starts (ECS's ``count``).
MAX_RUN_TASK_COUNT = 10

_MAX_RESULTS = 100


@functools.cache
def service_model() -> ServiceModel:
    """botocore's model of the ECS API (loaded once).

    Read with botocore's loader alone: a session would read the AWS config
    files and fail on the server's environment (an ``AWS_PROFILE`` naming no
    profile, say), which has nothing to do with the model.
    """
    loader = botocore.loaders.create_loader()
    return ServiceModel(loader.load_service_model("ecs", "service-2"), service_name="ecs")


def _page(items: list[str], params: dict[str, Any], key: str) -> dict[str, Any]:
    """One page of ``items`` per ``maxResults`` / ``nextToken``."""
    limit = params.get("maxResults", _MAX_RESULTS)
    if not 1 <= limit <= _MAX_RESULTS:
        raise invalid_parameter(f"maxResults must be between 1 and {_MAX_RESULTS}.")
    start = 0
    token = params.get("nextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise invalid_parameter("Invalid nextToken.")
    chunk = items[start : start + limit]
    out: dict[str, Any] = {key: chunk}
    if start + limit < len(items):
        out["nextToken"] = base64.urlsafe_b64encode(
            json.dumps({"offset": start + limit}).encode()
        ).decode()
    return out


class EcsApi(EcsShapes):
    """The ECS actions, over an :class:`EcsStore` and a :class:`ServiceManager`."""

    def __init__(self, manager: ServiceManager) -> None:
        self.manager = manager
        self.store: EcsStore = manager.store
        self.arns = self.store.arns
        self.run_tokens = RunTokens(self.store.db)
        self._actions: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            name: getattr(self, "_" + name) for name in ACTIONS
        }

    async def handle_ecs(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run ``action`` with ``params``; the response, or ``ApiError``."""
        model = service_model()
        handler = self._actions.get(action)
        if handler is None:
            if action in model.operation_names:
                raise ApiError(
                    "UnknownOperationException",
                    f"Operation '{action}' is not supported by montemap (supported:"
                    f" {', '.join(ACTIONS)}).",
                )
            raise ApiError("UnknownOperationException", f"Unknown operation '{action}'.")
        try:
            clean = validate_input(model.operation_model(action), params)
        except ApiError as exc:
            if exc.code == "ValidationException":
                raise invalid_parameter(exc.message)
            raise
        return await handler(clean)

    # ------------------------------------------------------------------ lookups
    def _cluster(self, ref: str | None) -> Cluster:
        name = self._cluster_name(ref)
        cluster = self.store.get_cluster(name)
        if cluster is None or cluster.status != "ACTIVE":
            raise ApiError("ClusterNotFoundException", "Cluster not found.")
        return cluster

    def _cluster_name(self, ref: str | None) -> str:
        if not ref:
            return DEFAULT_CLUSTER
        return self.arns.resource(ref, "cluster") or ref

    def _service_name(self, cluster: Cluster, ref: str) -> str:
        rest = self.arns.resource(ref, "service")
        if rest is None:
            return ref
        owner, _, name = rest.rpartition("/")
        if owner and owner != cluster.name:
            raise invalid_parameter(
                f"The service ARN {ref} names cluster '{owner}', not '{cluster.name}'."
            )
        return name

    def _owner(self, ref: str, kind: str) -> str | None:
        """The cluster a service or task ARN names (None: a bare name, or an old-format ARN)."""
        rest = self.arns.resource(ref, kind)
        owner = None if rest is None else rest.rpartition("/")[0]
        return owner or None

    def _service(self, cluster: Cluster, ref: str) -> Service:
        service = self.store.get_service(cluster.name, self._service_name(cluster, ref))
        if service is None:
            raise ApiError("ServiceNotFoundException", "Service not found.")
        return service

    def _task_definition(self, ref: str, *, for_service: bool) -> TaskDefinition:
        definition = self.store.resolve_task_definition(ref)
        if definition is None:
            if for_service:
                raise client_error("TaskDefinition not found.")
            raise client_error("Unable to describe task definition.")
        if for_service and definition.status != "ACTIVE":
            raise client_error(f"TaskDefinition is inactive: {definition.key}")
        return definition

    def _task_id(self, cluster: Cluster, ref: str) -> str:
        rest = self.arns.resource(ref, "task")
        if rest is None:
            return ref
        owner, _, task_id = rest.rpartition("/")
        if owner and owner != cluster.name:
            raise invalid_parameter(
                f"The task ARN {ref} names cluster '{owner}', not '{cluster.name}'."
            )
        return task_id

    # ------------------------------------------------------------------ clusters
    async def _CreateCluster(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("clusterName") or DEFAULT_CLUSTER
        existing = self.store.get_cluster(name)
        if existing is None or existing.status != "ACTIVE":
            check_cluster_count(len(self.store.list_clusters()))
        cluster = self.store.create_cluster(name, params.get("tags"))
        return {"cluster": self._cluster_shape(cluster)}

    async def _DescribeClusters(self, params: dict[str, Any]) -> dict[str, Any]:
        refs = params.get("clusters") or [DEFAULT_CLUSTER]
        clusters, failures = [], []
        for ref in refs:
            cluster = self.store.get_cluster(self._cluster_name(ref))
            if cluster is None:
                failures.append(
                    {"arn": self.arns.cluster(self._cluster_name(ref)), "reason": "MISSING"}
                )
            else:
                clusters.append(self._cluster_shape(cluster))
        return {"clusters": clusters, "failures": failures}

    async def _ListClusters(self, params: dict[str, Any]) -> dict[str, Any]:
        arns = [self.arns.cluster(c.name) for c in self.store.list_clusters()]
        return _page(arns, params, "clusterArns")

    async def _DeleteCluster(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params["cluster"])
        if self.store.services(cluster.name, statuses=("ACTIVE", "DRAINING")):
            raise ApiError(
                "ClusterContainsServicesException",
                "The Cluster cannot be deleted while Services are active.",
            )
        if self.store.tasks(cluster=cluster.name, live=True):
            raise ApiError(
                "ClusterContainsTasksException",
                "The Cluster cannot be deleted while Tasks are active.",
            )
        return {"cluster": self._cluster_shape(self.store.delete_cluster(cluster.name))}

    # ------------------------------------------------------------------ task definitions
    async def _RegisterTaskDefinition(self, params: dict[str, Any]) -> dict[str, Any]:
        definition = self.store.register_task_definition(params)
        return {
            "taskDefinition": self._task_definition_shape(definition),
            "tags": params.get("tags", []),
        }

    async def _DescribeTaskDefinition(self, params: dict[str, Any]) -> dict[str, Any]:
        definition = self._task_definition(params["taskDefinition"], for_service=False)
        out: dict[str, Any] = {"taskDefinition": self._task_definition_shape(definition)}
        if "TAGS" in (params.get("include") or []):
            out["tags"] = definition.body.get("tags", [])
        return out

    async def _ListTaskDefinitions(self, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("status", "ACTIVE")
        found = self.store.list_task_definitions(
            family_prefix=params.get("familyPrefix"),
            status=status,
            descending=params.get("sort", "ASC") == "DESC",
        )
        arns = [self.arns.task_definition(d.family, d.revision) for d in found]
        return _page(arns, params, "taskDefinitionArns")

    async def _ListTaskDefinitionFamilies(self, params: dict[str, Any]) -> dict[str, Any]:
        """Families in name order: ALL (default), ACTIVE (an ACTIVE revision), INACTIVE (none)."""
        status = params.get("status", "ALL")
        prefix = params.get("familyPrefix") or ""
        families = self.store.task_definition_families()
        names = [
            family
            for family, active in families.items()
            if family.startswith(prefix) and (status == "ALL" or active == (status == "ACTIVE"))
        ]
        return _page(names, params, "families")

    async def _DeregisterTaskDefinition(self, params: dict[str, Any]) -> dict[str, Any]:
        ref = params["taskDefinition"]
        text = self.arns.resource(ref, "task-definition") or ref
        if ":" not in text:
            raise client_error("Revision is missing.")
        definition = self._task_definition(ref, for_service=False)
        updated = self.store.deregister_task_definition(definition.family, definition.revision)
        return {"taskDefinition": self._task_definition_shape(updated)}

    # ------------------------------------------------------------------ services
    async def _CreateService(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params.get("cluster"))
        name = params["serviceName"]
        if not name.replace("-", "").replace("_", "").isalnum() or len(name) > 255:
            raise invalid_parameter(
                "Service name must be 1-255 letters, numbers, hyphens and underscores."
            )
        if params.get("schedulingStrategy", "REPLICA") != "REPLICA":
            raise invalid_parameter(
                "montemap services support only the REPLICA scheduling strategy."
            )
        existing = self.store.get_service(cluster.name, name)
        if existing is not None and existing.status != "INACTIVE":
            raise invalid_parameter("Creation of service was not idempotent.")
        if not params.get("taskDefinition"):
            raise invalid_parameter("TaskDefinition can not be blank.")
        definition = self._task_definition(params["taskDefinition"], for_service=True)
        desired = params.get("desiredCount")
        if desired is None:
            raise invalid_parameter("desiredCount is required for the REPLICA scheduling strategy.")
        check_desired_count(desired)
        if desired > 0:
            self.manager.refuse_while_closing("CreateService")
        check_service_count(cluster.name, self.store.count_services(cluster.name))
        launch_type = params.get("launchType", "FARGATE")
        keep = ("loadBalancers", "serviceRegistries", "tags")
        body: dict[str, Any] = {k: params[k] for k in keep if k in params}
        service = self.store.create_service(
            cluster.name, name, definition, desired, launch_type, body
        )
        self.manager.wake()
        return {"service": self._service_shape(service)}

    async def _UpdateService(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params.get("cluster"))
        service = self._service(cluster, params["service"])
        if service.status != "ACTIVE":
            raise ApiError("ServiceNotActiveException", "Service was not ACTIVE.")
        desired = params.get("desiredCount")
        if desired is not None:
            check_desired_count(desired)
            if desired > service.desired_count:
                self.manager.refuse_while_closing("UpdateService (a scale-out)")
        definition = None
        if params.get("taskDefinition"):
            definition = self._task_definition(params["taskDefinition"], for_service=True)
        updated = self.store.update_service(
            service,
            desired_count=desired,
            task_definition=definition,
            force_new_deployment=bool(params.get("forceNewDeployment")),
        )
        if desired is not None and desired < service.desired_count:
            self.manager.cancel_pending(cluster.name, service.name, desired)
        self.manager.wake()
        return {"service": self._service_shape(updated)}

    async def _DescribeServices(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params.get("cluster"))
        refs = params["services"]
        if not refs or len(refs) > 10:
            raise invalid_parameter("services must name between 1 and 10 services.")
        services, failures = [], []
        for ref in refs:
            if self._owner(ref, "service") not in (None, cluster.name):  # another cluster's
                failures.append({"arn": ref, "reason": "MISSING"})
                continue
            name = self._service_name(cluster, ref)
            service = self.store.get_service(cluster.name, name)
            if service is None:
                failures.append({"arn": self.arns.service(cluster.name, name), "reason": "MISSING"})
            else:
                shape = self._service_shape(service)
                if "TAGS" in (params.get("include") or []):
                    shape["tags"] = list(service.body.get("tags") or [])
                services.append(shape)
        return {"services": services, "failures": failures}

    async def _ListServices(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params.get("cluster"))
        launch_type = params.get("launchType")
        strategy = params.get("schedulingStrategy", "REPLICA")  # the only one here
        arns = [
            self.arns.service(cluster.name, s.name)
            for s in self.store.services(cluster.name, statuses=("ACTIVE", "DRAINING"))
            if launch_type in (None, s.launch_type) and strategy == "REPLICA"
        ]
        return _page(arns, params, "serviceArns")

    async def _DeleteService(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params.get("cluster"))
        service = self._service(cluster, params["service"])
        if service.status == "INACTIVE":
            raise ApiError("ServiceNotActiveException", "Service was not ACTIVE.")
        if service.desired_count > 0 and not params.get("force"):
            raise invalid_parameter("The service cannot be stopped while it is scaled above 0.")
        updated = self.store.set_service_status(service, "DRAINING", desired_count=0)
        self.manager.cancel_pending(cluster.name, service.name, 0)
        self.manager.wake()
        return {"service": self._service_shape(updated)}

    # ------------------------------------------------------------------ tasks
    async def _ListTasks(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params.get("cluster"))
        service = params.get("serviceName")
        if service is not None:
            service = self._service(cluster, service).name
        desired = params.get("desiredStatus", "RUNNING")
        if desired not in ("RUNNING", "PENDING", "STOPPED"):
            raise invalid_parameter("desiredStatus must be one of [RUNNING, PENDING, STOPPED].")
        tasks = self.store.tasks(
            cluster=cluster.name,
            service=service,
            family=params.get("family"),
            started_by=params.get("startedBy"),
        )
        if desired == "PENDING":
            tasks = [t for t in tasks if t.last_status in ("PROVISIONING", "PENDING")]
        else:
            tasks = [t for t in tasks if t.desired_status == desired]
        launch_type = params.get("launchType")
        if launch_type is not None:
            tasks = [t for t in tasks if self._launch_type(t) == launch_type]
        return _page([self.arns.task(t.cluster, t.id) for t in tasks], params, "taskArns")

    async def _DescribeTasks(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params.get("cluster"))
        refs = params["tasks"]
        if not refs:
            raise invalid_parameter("Tasks cannot be empty.")
        if len(refs) > 100:
            raise invalid_parameter("Tasks cannot have more than 100 elements.")
        tasks, failures = [], []
        for ref in refs:
            if self._owner(ref, "task") not in (None, cluster.name):  # another cluster's
                failures.append({"arn": ref, "reason": "MISSING"})
                continue
            task_id = self._task_id(cluster, ref)
            task = self.store.get_task(task_id)
            if task is None or task.cluster != cluster.name:
                failures.append({"arn": self.arns.task(cluster.name, task_id), "reason": "MISSING"})
            else:
                shape = self._task_shape(task)
                if "TAGS" in (params.get("include") or []):
                    shape["tags"] = list(task.option_values.get("tags") or [])
                tasks.append(shape)
        return {"tasks": tasks, "failures": failures}

    async def _RunTask(self, params: dict[str, Any]) -> dict[str, Any]:
        """RunTask; a repeated ``clientToken`` answers the original request
        (:mod:`montemap.ecs.run_tokens`)."""
        cluster = self._cluster(params.get("cluster"))
        token = params.get("clientToken")
        if token is None:
            return self._run_task(cluster, params)
        token = check_token(token)
        digest = request_digest(params)
        original = self.run_tokens.replay(cluster.name, token, digest)
        if original is not None:
            return original
        with self.store.db.transaction():  # the tasks and their token commit together
            response = self._run_task(cluster, params)
            self.run_tokens.remember(cluster.name, token, digest, response)
        return response

    def first_run_task_answer(self, cluster: Any, token: str) -> dict[str, Any] | None:
        """What RunTask first answered to ``token`` in ``cluster`` (a name or ARN), with
        whatever parameters; None when the token is new or expired."""
        name = self._cluster_name(cluster if isinstance(cluster, str) else None)
        return self.run_tokens.original(name, token)

    def _run_task(self, cluster: Cluster, params: dict[str, Any]) -> dict[str, Any]:
        count = params.get("count", 1)
        if not 1 <= count <= MAX_RUN_TASK_COUNT:
            raise invalid_parameter(
                f"count must be between 1 and {MAX_RUN_TASK_COUNT}, got {count}."
            )
        definition = self._task_definition(params["taskDefinition"], for_service=True)
        overrides = params.get("overrides") or None
        if overrides:
            check_overrides(definition, overrides)
        try:
            started = self.manager.run_tasks(
                cluster.name,
                definition,
                count,
                started_by=params.get("startedBy"),
                overrides=overrides,
                options={k: params[k] for k in ("group", "launchType", "tags") if params.get(k)},
            )
        except TaskTooLarge as exc:  # as ECS answers when no instance could hold the task
            arn = self.arns.task_definition(definition.family, definition.revision)
            refused = {"arn": arn, "reason": exc.reason, "detail": exc.detail}
            return {"tasks": [], "failures": [dict(refused) for _ in range(count)]}
        failures = [
            {
                "arn": self.arns.task_definition(definition.family, definition.revision),
                "reason": "RESOURCE:PROVISIONING",
                "detail": "the host holds its quota of tasks in the PROVISIONING state",
            }
            for _ in range(count - len(started))
        ]
        return {"tasks": [self._task_shape(t) for t in started], "failures": failures}

    # ------------------------------------------------------------------ tags
    def _tagged(
        self, arn: str, *, missing: str
    ) -> tuple[str, tuple[str, ...], list[dict[str, str]]]:
        """(kind, key, tags) of the cluster, service or task definition ``arn`` names.

        ``missing`` is the code for a resource that does not exist (a missing
        cluster is ``ClusterNotFoundException`` everywhere, as on ECS).
        """
        if (name := self.arns.resource(arn, "cluster")) is not None:
            cluster = self.store.get_cluster(name)
            if cluster is None or cluster.status != "ACTIVE":
                raise ApiError("ClusterNotFoundException", "Cluster not found.")
            return "cluster", (name,), list(cluster.tags)
        not_found = ApiError(missing, "The specified resource could not be found.")
        if (rest := self.arns.resource(arn, "service")) is not None:
            owner, _, name = rest.rpartition("/")
            cluster = self._cluster(owner or None)
            service = self.store.get_service(cluster.name, name)
            if service is None or service.status == "INACTIVE":
                raise not_found
            return "service", (cluster.name, name), list(service.body.get("tags") or [])
        if (rest := self.arns.resource(arn, "task")) is not None:
            owner, _, task_id = rest.rpartition("/")
            task = self.store.get_task(task_id)
            if task is None or (owner and owner != task.cluster):
                raise not_found
            return "task", (task_id,), list(task.option_values.get("tags") or [])
        if (rest := self.arns.resource(arn, "task-definition")) is not None:
            family, _, revision = rest.partition(":")
            found = (
                self.store.get_task_definition(family, int(revision))
                if revision.isdigit()
                else None
            )
            if found is None:
                raise not_found
            return "task-definition", (family, revision), list(found.body.get("tags") or [])
        raise invalid_parameter(
            f"The ARN '{arn}' names no cluster, service, task or task definition of this"
            " endpoint (montemap keeps tags on those only)."
        )

    async def _TagResource(self, params: dict[str, Any]) -> dict[str, Any]:
        kind, key, tags = self._tagged(params["resourceArn"], missing="ResourceNotFoundException")
        merged = {t["key"]: t.get("value", "") for t in tags}
        for tag in params["tags"]:
            if not tag.get("key"):
                raise invalid_parameter("Tag keys must not be empty.")
            merged[tag["key"]] = tag.get("value", "")
        if len(merged) > MAX_TAGS:
            raise invalid_parameter(
                f"Too many tags: the resource would have {len(merged)}; the limit is {MAX_TAGS}."
            )
        self.store.set_tags(kind, key, [{"key": k, "value": v} for k, v in merged.items()])
        return {}

    async def _UntagResource(self, params: dict[str, Any]) -> dict[str, Any]:
        kind, key, tags = self._tagged(params["resourceArn"], missing="ResourceNotFoundException")
        drop = set(params["tagKeys"])
        self.store.set_tags(kind, key, [t for t in tags if t.get("key") not in drop])
        return {}

    async def _ListTagsForResource(self, params: dict[str, Any]) -> dict[str, Any]:
        _, _, tags = self._tagged(params["resourceArn"], missing="InvalidParameterException")
        return {"tags": tags}

    async def _StopTask(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params.get("cluster"))
        task_id = self._task_id(cluster, params["task"])
        task = self.store.get_task(task_id)
        if task is None or task.cluster != cluster.name:
            raise invalid_parameter("The referenced task was not found.")
        reason = params.get("reason") or "Task stopped by user"
        stopped = await self.manager.stop_task(task.id, reason)
        self.manager.wake()
        return {"task": self._task_shape(stopped)}
