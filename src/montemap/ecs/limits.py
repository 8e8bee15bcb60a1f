"""ECS's service quotas, as the local ECS enforces them.

The numbers are Amazon ECS's default quotas (the "Amazon ECS service quotas"
page of the ECS Developer Guide); a request past one is refused with the
error ECS answers, before anything is stored. The one quota that bounds
work rather than requests, "Tasks in the PROVISIONING state per cluster", is
applied to the whole host: it keeps the waiting tasks of a huge desired
count to a bounded number of rows.
"""

from __future__ import annotations

import json
from typing import Any

from montemap.errors import ApiError

#: "Tasks per service": the largest desired count.
MAX_TASKS_PER_SERVICE = 5_000
#: "Services per cluster" (ACTIVE and DRAINING ones).
MAX_SERVICES_PER_CLUSTER = 5_000
#: "Clusters per account".
MAX_CLUSTERS = 10_000
#: "Containers per task definition" (montemap runs one; ECS allows up to 10).
MAX_CONTAINERS_PER_TASK_DEFINITION = 10
#: "Task definition max size", in bytes of its JSON.
MAX_TASK_DEFINITION_BYTES = 64 * 1024
#: "Revisions per task definition family".
MAX_REVISIONS_PER_FAMILY = 1_000_000
#: "Tasks in the PROVISIONING state per cluster", applied to the whole host.
MAX_PROVISIONING_TASKS = 500


def check_desired_count(desired: int) -> None:
    """Refuse a desired count outside ``0..MAX_TASKS_PER_SERVICE`` (InvalidParameterException)."""
    if desired < 0:
        raise ApiError("InvalidParameterException", "desiredCount can not be negative.")
    if desired > MAX_TASKS_PER_SERVICE:
        raise ApiError(
            "InvalidParameterException",
            f"Desired count exceeds limit: a service runs at most {MAX_TASKS_PER_SERVICE} tasks"
            f" (the ECS quota 'Tasks per service'); got {desired}.",
        )


def check_service_count(cluster: str, existing: int) -> None:
    """Refuse a new service in a cluster that holds the most it may."""
    if existing >= MAX_SERVICES_PER_CLUSTER:
        raise ApiError(
            "InvalidParameterException",
            f"Services per cluster limit exceeded: cluster '{cluster}' already has"
            f" {existing} services (the ECS quota is {MAX_SERVICES_PER_CLUSTER}).",
        )


def check_cluster_count(existing: int) -> None:
    """Refuse a new cluster past "Clusters per account"."""
    if existing >= MAX_CLUSTERS:
        raise ApiError(
            "ClientException",
            f"Clusters limit exceeded: {existing} clusters exist (the ECS quota is"
            f" {MAX_CLUSTERS}); delete one first.",
        )


def check_task_definition(body: dict[str, Any]) -> None:
    """Refuse a task definition past its size or container quota (ClientException)."""
    size = len(json.dumps(body, separators=(",", ":")).encode())
    if size > MAX_TASK_DEFINITION_BYTES:
        raise ApiError(
            "ClientException",
            f"Task definition size exceeds limit: {size} bytes, the most is"
            f" {MAX_TASK_DEFINITION_BYTES} (64 KiB).",
        )
    containers = body.get("containerDefinitions")
    if isinstance(containers, list) and len(containers) > MAX_CONTAINERS_PER_TASK_DEFINITION:
        raise ApiError(
            "ClientException",
            f"Too many containers: a task definition has at most"
            f" {MAX_CONTAINERS_PER_TASK_DEFINITION} container definitions, got {len(containers)}.",
        )


def check_revision(family: str, revision: int) -> None:
    """Refuse a revision past "Revisions per task definition family" (LimitExceededException)."""
    if revision > MAX_REVISIONS_PER_FAMILY:
        raise ApiError(
            "LimitExceededException",
            f"Task definition family '{family}' has {MAX_REVISIONS_PER_FAMILY} revisions, the"
            " most ECS allows.",
        )
