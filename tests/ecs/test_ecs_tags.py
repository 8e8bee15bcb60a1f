"""ECS TagResource, UntagResource, ListTagsForResource on clusters, services, task definitions."""

from __future__ import annotations

from pathlib import Path

from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.service import ServiceManager

from .test_ecs_api import ARN, SLEEPER_DEF, refused, run


async def tags_of(api: EcsApi, arn: str) -> list[dict[str, str]]:
    listed = await api.handle_ecs("ListTagsForResource", {"resourceArn": arn})
    return list(listed["tags"])


def test_tags_round_trip_on_each_kind(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs(
            "CreateCluster", {"clusterName": "c1", "tags": [{"key": "team", "value": "risk"}]}
        )
        await api.handle_ecs(
            "RegisterTaskDefinition", {**SLEEPER_DEF, "tags": [{"key": "k", "value": "v"}]}
        )
        await api.handle_ecs(
            "CreateService",
            {
                "cluster": "c1",
                "serviceName": "svc",
                "taskDefinition": "sleeper",
                "desiredCount": 0,
                "tags": [{"key": "tier", "value": "batch"}],
            },
        )
        cluster = f"{ARN}:cluster/c1"
        service = f"{ARN}:service/c1/svc"
        definition = f"{ARN}:task-definition/sleeper:1"
        assert await tags_of(api, cluster) == [{"key": "team", "value": "risk"}]
        assert await tags_of(api, service) == [{"key": "tier", "value": "batch"}]
        assert await tags_of(api, definition) == [{"key": "k", "value": "v"}]

        for arn in (cluster, service, definition):
            await api.handle_ecs(
                "TagResource",
                {
                    "resourceArn": arn,
                    "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
                },
            )
            await api.handle_ecs(
                "TagResource", {"resourceArn": arn, "tags": [{"key": "a", "value": "one"}]}
            )
            await api.handle_ecs("UntagResource", {"resourceArn": arn, "tagKeys": ["b", "absent"]})
            keys = {t["key"]: t["value"] for t in await tags_of(api, arn)}
            assert keys.get("a") == "one" and "b" not in keys and len(keys) == 2

        described = await api.handle_ecs(
            "DescribeServices", {"cluster": "c1", "services": ["svc"], "include": ["TAGS"]}
        )
        assert {t["key"] for t in described["services"][0]["tags"]} == {"tier", "a"}
        plain = await api.handle_ecs("DescribeServices", {"cluster": "c1", "services": ["svc"]})
        assert "tags" not in plain["services"][0]
        with_tags = await api.handle_ecs(
            "DescribeTaskDefinition", {"taskDefinition": "sleeper", "include": ["TAGS"]}
        )
        assert {t["key"] for t in with_tags["tags"]} == {"k", "a"}

    run(tmp_path, scenario)


def test_tag_refusals(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        error = await refused(
            api,
            "TagResource",
            {"resourceArn": f"{ARN}:service/default/ghost", "tags": [{"key": "a", "value": "1"}]},
        )
        assert error.code == "ResourceNotFoundException"
        error = await refused(api, "ListTagsForResource", {"resourceArn": f"{ARN}:cluster/ghost"})
        assert error.code == "ClusterNotFoundException"
        error = await refused(api, "ListTagsForResource", {"resourceArn": "not-an-arn"})
        assert error.code == "InvalidParameterException"
        too_many = [{"key": f"k{i}", "value": "v"} for i in range(51)]
        error = await refused(
            api, "TagResource", {"resourceArn": f"{ARN}:cluster/default", "tags": too_many}
        )
        assert error.code == "InvalidParameterException"
        assert await tags_of(api, f"{ARN}:cluster/default") == []

    run(tmp_path, scenario)
