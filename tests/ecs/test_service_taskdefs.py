"""Task definitions, templates and the durable ECS state."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.ecs.taskdefs import (
    DEFAULT_COMMAND,
    EcsArns,
    EcsStore,
    TemplateError,
    parse_cpu,
    parse_memory,
    render_template,
)
from montemap.engine.db import Database
from montemap.errors import ApiError

from .test_service_support import SLEEPER, register


def test_render_template() -> None:
    values: dict[str, str | None] = {
        "python": "py",
        "endpoint": "http://h:1",
        "task_id": "abc",
        "handler": None,
    }
    assert render_template("${endpoint}/x/${task_id}", values) == "http://h:1/x/abc"
    assert render_template("$HOME ${HOME} $$ ${not_ours}", values) == "$HOME ${HOME} $$ ${not_ours}"
    with pytest.raises(TemplateError, match=r"\$\{handler\}"):
        render_template("${handler}", values)
    with pytest.raises(TemplateError, match=r"\$\{activity_arn\}"):
        render_template(" ".join(DEFAULT_COMMAND), values)


def test_parse_cpu_and_memory() -> None:
    assert parse_cpu("256") == 256
    assert parse_cpu("0.25 vCPU") == 256
    assert parse_cpu("2 vcpu") == 2048
    assert parse_memory("512") == 512
    assert parse_memory("0.5 GB") == 512
    for bad in ("", "0", "-1", "fast", "1.5"):
        with pytest.raises(ApiError) as caught:
            parse_cpu(bad)
        assert caught.value.code == "ClientException"
    with pytest.raises(ApiError):
        parse_memory("lots")


def test_arns() -> None:
    arns = EcsArns()
    assert arns.service("c", "s") == "arn:aws:ecs:us-east-1:123456789012:service/c/s"
    assert arns.resource(arns.task("c", "t1"), "task") == "c/t1"
    assert arns.resource("arn:aws:ecs:eu-west-1:000000000000:cluster/x", "cluster") == "x"
    assert arns.resource("plain", "cluster") is None
    assert arns.resource(arns.cluster("x"), "service") is None


def test_state_survives_reopening(tmp_path: Path) -> None:
    db = Database(tmp_path / "m.db")
    store = EcsStore(db)
    made = store.register_predefined()
    assert [d.key for d in made] == ["small:1", "large:1"]
    assert (made[0].cpu_units, made[0].memory_mib) == (256, 512)
    assert (made[1].cpu_units, made[1].memory_mib) == (512, 1024)
    definition = register(store, "my_fam", SLEEPER, cpu="0.5 vCPU")
    store.create_service("default", "svc", definition, 4, "FARGATE", {})
    db.close()

    db = Database(tmp_path / "m.db")
    try:
        store = EcsStore(db)
        assert store.register_predefined() == []  # not registered twice
        service = store.get_service("default", "svc")
        assert service is not None
        assert (service.desired_count, service.task_definition) == (4, "my_fam:1")
        (deployment,) = store.deployments("default", "svc")
        assert deployment.status == "PRIMARY" and deployment.id.startswith("ecs-svc/")
        found = store.resolve_task_definition("my_fam")
        assert found is not None and found.cpu_units == 512 and found.memory_mib is None
        assert store.tasks(family="my_fam") == [] and store.tasks(family="myXfam") == []
    finally:
        db.close()


def test_update_task_refuses_unknown_columns(tmp_path: Path) -> None:
    db = Database(tmp_path / "m.db")
    try:
        with pytest.raises(ValueError, match="unknown task columns"):
            EcsStore(db).update_task("x", bogus=1)
    finally:
        db.close()
