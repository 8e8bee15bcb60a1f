"""The worker services as the console shows them (the ECS console step of the original)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from montemap.console.views import iso
from montemap.ecs.ecs_api import EcsApi

EVENTS_SHOWN = 8


def _when(value: Any) -> str | None:
    return iso(value) if isinstance(value, datetime | float | int) else None


async def services_view(ecs: EcsApi) -> dict[str, Any]:
    """Clusters with their services (counts, task definition, deployments, events),
    the ACTIVE task definitions, and whether CPU/memory limits are enforced."""
    store = ecs.store
    clusters = []
    for cluster in store.list_clusters():
        if cluster.status != "ACTIVE":
            continue
        names = [s.name for s in store.services(cluster.name, statuses=("ACTIVE", "DRAINING"))]
        described: list[dict[str, Any]] = []
        for i in range(0, len(names), 10):
            reply = await ecs.handle_ecs(
                "DescribeServices", {"cluster": cluster.name, "services": names[i : i + 10]}
            )
            described += reply["services"]
        clusters.append(
            {
                "name": cluster.name,
                "services": [
                    {
                        "name": s["serviceName"],
                        "status": s["status"],
                        "taskDefinition": s["taskDefinition"].rsplit("/", 1)[-1],
                        "desiredCount": s["desiredCount"],
                        "runningCount": s["runningCount"],
                        "pendingCount": s["pendingCount"],
                        "deployments": [
                            {
                                "status": d["status"],
                                "taskDefinition": d["taskDefinition"].rsplit("/", 1)[-1],
                                "desiredCount": d["desiredCount"],
                                "runningCount": d["runningCount"],
                                "pendingCount": d["pendingCount"],
                                "rolloutState": d.get("rolloutState"),
                                "failedTasks": d.get("failedTasks", 0),
                            }
                            for d in s["deployments"]
                        ],
                        "events": [
                            {"createdAt": _when(e["createdAt"]), "message": e["message"]}
                            for e in s["events"][:EVENTS_SHOWN]
                        ],
                    }
                    for s in described
                ],
            }
        )
    definitions = [
        {
            "key": d.key,
            "cpu": d.cpu_units,
            "memory": d.memory_mib,
        }
        for d in store.list_task_definitions(family_prefix=None, status="ACTIVE", descending=False)
    ]
    support = ecs.manager.support.as_dict()
    return {"clusters": clusters, "taskDefinitions": definitions, "limits": support}
