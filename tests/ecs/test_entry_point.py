"""A container's ``entryPoint`` runs as Docker runs it: entryPoint + command.

And the mapping file's container rules: ``command`` replaces the whole process
(entryPoint + command), ``entryPoint`` replaces only the entry point and keeps
the container's own command after it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.aws.mapping import ResourceMapping
from montemap.aws.options import AwsError
from montemap.testing import MontemapServer, eventually

#: Prints its arguments as JSON, then sleeps (a task that stays up).
SHOW_ARGS = (
    "import json, sys, time; print('ARGS', json.dumps(sys.argv[1:]), flush=True); time.sleep(600)"
)
MAPPING = """
containers:
  ep-mapped/main:
    entryPoint: ["${python}", "${mapping_dir}/show.py"]
  ep-replaced/main:
    command: ["${python}", "${mapping_dir}/show.py", "from-mapping"]
"""


def _mapping(tmp_path: Path) -> Path:
    (tmp_path / "show.py").write_text(SHOW_ARGS.replace("; ", "\n"))
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING)
    return path


def _args_of(server: MontemapServer, family: str, container: dict[str, Any]) -> list[str]:
    """Run one task of ``family`` with ``container``; the arguments its process got."""
    ecs = server.client("ecs")
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "main", "image": "img", **container}]
    )
    ecs.create_service(cluster="default", serviceName=family, taskDefinition=family, desiredCount=1)

    def started() -> list[str] | None:
        arns: list[str] = ecs.list_tasks(cluster="default", serviceName=family)["taskArns"]
        return arns or None

    (task_arn,) = eventually(started, timeout=30)
    task_id = task_arn.rsplit("/", 1)[1]
    log = Path(server.data_dir) / "logs" / "default" / f"{task_id}.log"

    def printed() -> list[str] | None:
        text = log.read_text() if log.exists() else ""
        line, newline, _ = text.partition("ARGS ")[2].partition("\n")
        if not newline:
            return None  # not printed yet, or not the whole line yet
        found: list[str] = json.loads(line)
        return found

    result: list[str] = eventually(printed, timeout=60)
    ecs.delete_service(cluster="default", service=family, force=True)
    return result


def test_entry_point_and_command_as_docker_joins_them(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server = server_factory(extra_args=["--mapping", str(_mapping(tmp_path))])
    shell = {"entryPoint": ["/bin/sh", "-c"], "command": [f'{sys.executable} -c "{SHOW_ARGS}" a b']}
    assert _args_of(server, "ep-shell", shell) == ["a", "b"]
    only_entry = {"entryPoint": [sys.executable, "-c", SHOW_ARGS, "x"]}
    assert _args_of(server, "ep-only", only_entry) == ["x"]
    both = {"entryPoint": [sys.executable, "-c", SHOW_ARGS], "command": ["c1", "c2"]}
    assert _args_of(server, "ep-both", both) == ["c1", "c2"]
    # a mapping entryPoint rule: its entry point, then the container's own command
    mapped = {"entryPoint": ["/bin/sh", "-c"], "command": ["m1", "m2"]}
    assert _args_of(server, "ep-mapped", mapped) == ["m1", "m2"]
    # a mapping command rule: the whole process, whatever entryPoint + command say
    assert _args_of(server, "ep-replaced", mapped) == ["from-mapping"]


def test_a_container_with_neither_is_refused(montemap_server: MontemapServer) -> None:
    ecs = montemap_server.client("ecs")
    with pytest.raises(ClientError, match="entryPoint \\+ command"):
        ecs.register_task_definition(
            family="ep-none", containerDefinitions=[{"name": "main", "image": "img"}]
        )
    with pytest.raises(ClientError, match="should not be null or empty"):
        ecs.register_task_definition(
            family="ep-empty",
            containerDefinitions=[{"name": "main", "image": "i", "entryPoint": [], "command": []}],
        )


def test_a_mapping_rule_takes_command_or_entry_point(tmp_path: Path) -> None:
    rules = ResourceMapping.load(_mapping(tmp_path)).host
    mapped = rules.container("ep-mapped", "main", "img")
    assert mapped is not None and mapped.argv(["c"]) == ["${python}", f"{tmp_path}/show.py", "c"]
    assert "followed by the container's command" in mapped.describe()
    replaced = rules.container("ep-replaced", "main", None)
    assert replaced is not None and replaced.argv(["c"])[-1] == "from-mapping"
    both = tmp_path / "both.yaml"
    both.write_text("containers:\n  f/c: {command: [a], entryPoint: [b]}\n")
    with pytest.raises(AwsError, match="needs 'command' or else 'entryPoint' \\(not both\\)"):
        ResourceMapping.load(both)
