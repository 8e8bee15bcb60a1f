"""Clusters, task definitions, services, deployments and tasks: the records and their rules.

These are the desired state of the local "ECS" (clusters, task definition
revisions, each service's task definition and desired count, its
deployments) plus a record of every task (worker process) started;
:class:`~montemap.ecs.ecs_store.EcsStore` keeps them in SQLite.

Task definitions name the process to run in their one container's
``entryPoint`` + ``command`` (joined as Docker joins them) and ``environment``. Those strings are templates: ``${name}`` is
replaced, when a task starts, by the value of one of the variables below
(other ``$`` text is left as it is, so shell commands keep working):

=================  ===========================================================
``${python}``      the Python interpreter running the server (``sys.executable``)
``${endpoint}``    the server's URL (``http://127.0.0.1:8080``)
``${activity_arn}`` the activity the predefined workers poll
``${handler}``     the handler the predefined workers run (``module:function``)
``${region}``      the server's region
``${data_dir}``    the server's data directory
``${cluster}``     the task's cluster name
``${service}``     the task's service name ("" for a task outside a service)
``${task_arn}``    the task's ARN
``${task_id}``     the task's id (the last part of its ARN)
``${cpu}``         the task's CPU units ("" when unlimited)
``${memory}``      the task's memory in MiB ("" when unlimited)
=================  ===========================================================

A variable the server was not given (``activity_arn`` until the workflow's
activity exists, say) makes the task fail to start with a stopped reason
that names it. The predefined task definitions ``small`` (256 CPU units, 512
MiB) and ``large`` (512, 1024) run :data:`DEFAULT_COMMAND`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from montemap.arns import ServiceArns
from montemap.errors import ApiError, MontemapError

if TYPE_CHECKING:
    from montemap.ecs.ecs_store import EcsStore, new_deployment_id

#: Every template variable a task definition's command and environment may use.
TEMPLATE_VARIABLES = (
    "python",
    "endpoint",
    "activity_arn",
    "handler",
    "region",
    "data_dir",
    "cluster",
    "service",
    "task_arn",
    "task_id",
    "cpu",
    "memory",
    "aws_access_key_id",
    "aws_secret_access_key",
)

#: The command of the predefined worker task definitions.
DEFAULT_COMMAND = (
    "${python}",
    "-m",
    "montemap.cli",
    "worker",
    "--endpoint",
    "${endpoint}",
    "--activity-arn",
    "${activity_arn}",
    "--handler",
    "${handler}",
)
#: The environment of the predefined worker task definitions.
DEFAULT_ENVIRONMENT = (
    ("MONTEMAP_DATA_DIR", "${data_dir}"),
    ("AWS_ACCESS_KEY_ID", "${aws_access_key_id}"),
    ("AWS_SECRET_ACCESS_KEY", "${aws_secret_access_key}"),
    ("AWS_DEFAULT_REGION", "${region}"),
    ("MONTEMAP_TASK_ARN", "${task_arn}"),
    ("MONTEMAP_CPU_UNITS", "${cpu}"),
    ("MONTEMAP_MEMORY_MIB", "${memory}"),
)
#: The handler the predefined workers run unless the server says otherwise.
DEFAULT_HANDLER = "montemap.credit.batch:handle_batch"
#: The predefined task definitions: family -> (cpu units, memory MiB).
PREDEFINED = {"small": (256, 512), "large": (512, 1024)}
DEFAULT_CLUSTER = "default"
#: How long stopped tasks stay visible (ECS: at least an hour).
STOPPED_TASK_RETENTION_S = 3600.0

_TEMPLATE_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FAMILY_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_VCPU_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*vcpu\s*$", re.IGNORECASE)
_GB_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*gb\s*$", re.IGNORECASE)


class TemplateError(MontemapError, ValueError):
    """A task definition template names a variable that has no value."""


def render_template(text: str, variables: Mapping[str, str | None]) -> str:
    """Replace ``${name}`` for every name in :data:`TEMPLATE_VARIABLES`.

    Raises :class:`TemplateError` when such a name has no value (None or
    missing from ``variables``); ``${OTHER}`` and plain ``$X`` are left as is.
    """

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in TEMPLATE_VARIABLES:
            return match[0]
        value = variables.get(name)
        if value is None:
            raise TemplateError(f"template variable ${{{name}}} is not set on this server")
        return value

    return _TEMPLATE_RE.sub(replace, text)


def client_error(message: str) -> ApiError:
    return ApiError("ClientException", message)


def invalid_parameter(message: str) -> ApiError:
    return ApiError("InvalidParameterException", message)


def parse_cpu(value: str, where: str = "cpu") -> int:
    """CPU units from ``"256"`` or ``"0.25 vCPU"`` (1024 units per vCPU)."""
    text = value.strip()
    match = _VCPU_RE.match(text)
    units = round(float(match[1]) * 1024) if match else int(text) if text.isdigit() else None
    if units is None or units <= 0:
        raise client_error(
            f"Invalid '{where}' setting '{value}': expected CPU units (e.g. '256') or vCPU"
            " (e.g. '0.25 vCPU')."
        )
    return units


def parse_memory(value: str, where: str = "memory") -> int:
    """Memory in MiB from ``"512"`` or ``"0.5 GB"``."""
    text = value.strip()
    match = _GB_RE.match(text)
    mib = round(float(match[1]) * 1024) if match else int(text) if text.isdigit() else None
    if mib is None or mib <= 0:
        raise client_error(
            f"Invalid '{where}' setting '{value}': expected MiB (e.g. '512') or GB (e.g. '0.5 GB')."
        )
    return mib


#: The task sizes Fargate offers (Linux): CPU units -> (least, most, step) memory in MiB.
FARGATE_SIZES: dict[int, tuple[int, int, int]] = {
    256: (512, 2048, 0),  # 512, 1024 or 2048
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}


def fargate_offers(cpu: int, memory: int) -> bool:
    """Whether Fargate has a task size of ``cpu`` units and ``memory`` MiB."""
    sizes = FARGATE_SIZES.get(cpu)
    if sizes is None:
        return False
    least, most, step = sizes
    if step == 0:
        return memory in (512, 1024, 2048)
    return least <= memory <= most and (memory - least) % step == 0


def check_fargate(body: Mapping[str, Any]) -> None:
    """Refuse, with ECS's ClientException, a FARGATE task definition Fargate would not run.

    Only definitions whose ``requiresCompatibilities`` names FARGATE are checked, as
    on ECS: they need ``awsvpc``, a task-level ``cpu`` and ``memory``, and one of the
    sizes Fargate offers.
    """
    if "FARGATE" not in (body.get("requiresCompatibilities") or []):
        return
    if body.get("networkMode") != "awsvpc":
        raise client_error("Fargate only supports network mode \u2018awsvpc\u2019.")
    for key in ("cpu", "memory"):
        if body.get(key) is None:
            raise client_error(f"Fargate requires that '{key}' be defined at the task level.")
    cpu, memory = parse_cpu(str(body["cpu"])), parse_memory(str(body["memory"]))
    if not fargate_offers(cpu, memory):
        raise client_error(
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory."
            " See the Amazon ECS documentation for the valid values."
        )


# --------------------------------------------------------------------------- ARNs


@dataclass(frozen=True)
class EcsArns(ServiceArns):
    """ARNs of ECS resources for one region and account."""

    SERVICE: ClassVar[str] = "ecs"

    def cluster(self, name: str) -> str:
        return f"{self.prefix}:cluster/{name}"

    def service(self, cluster: str, name: str) -> str:
        return f"{self.prefix}:service/{cluster}/{name}"

    def task_definition(self, family: str, revision: int) -> str:
        return f"{self.prefix}:task-definition/{family}:{revision}"

    def task(self, cluster: str, task_id: str) -> str:
        return f"{self.prefix}:task/{cluster}/{task_id}"

    def container(self, cluster: str, task_id: str, container_id: str) -> str:
        return f"{self.prefix}:container/{cluster}/{task_id}/{container_id}"

    def resource(self, value: str, kind: str) -> str | None:
        """The part after ``<kind>/`` when ``value`` is this server's ARN of that kind."""
        head = f"{self.prefix}:{kind}/"
        if value.startswith(head):
            return value[len(head) :]
        if value.startswith("arn:"):
            parts = value.split(":", 5)
            if len(parts) == 6 and parts[2] == "ecs" and parts[5].startswith(f"{kind}/"):
                return parts[5][len(kind) + 1 :]
        return None


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Cluster:
    name: str
    status: str
    created_at: float
    tags: list[dict[str, str]]


@dataclass(frozen=True)
class TaskDefinition:
    """One registered revision; ``body`` is the registration request (camelCase)."""

    family: str
    revision: int
    status: str
    body: dict[str, Any]
    registered_at: float
    deregistered_at: float | None

    @property
    def key(self) -> str:
        return f"{self.family}:{self.revision}"

    @property
    def container(self) -> dict[str, Any]:
        first: dict[str, Any] = self.body["containerDefinitions"][0]
        return first

    @property
    def cpu_units(self) -> int | None:
        """Task-level ``cpu`` or else the container's; None means unlimited."""
        if self.body.get("cpu") is not None:
            return parse_cpu(str(self.body["cpu"]))
        value = self.container.get("cpu")
        return int(value) if value else None

    @property
    def memory_mib(self) -> int | None:
        """Task-level ``memory`` or else the container's hard limit; None means unlimited."""
        if self.body.get("memory") is not None:
            return parse_memory(str(self.body["memory"]))
        value = self.container.get("memory")
        return int(value) if value else None

    @property
    def stop_timeout(self) -> float | None:
        value = self.container.get("stopTimeout")
        return float(value) if value is not None else None


@dataclass(frozen=True)
class Service:
    cluster: str
    name: str
    status: str  # ACTIVE | DRAINING | INACTIVE
    task_definition: str  # family:revision
    desired_count: int
    launch_type: str
    created_at: float
    body: dict[str, Any]


@dataclass(frozen=True)
class Deployment:
    id: str
    cluster: str
    service: str
    task_definition: str
    status: str  # PRIMARY | ACTIVE | INACTIVE
    created_at: float
    updated_at: float
    rollout_state: str
    rollout_reason: str


@dataclass(frozen=True, kw_only=True)
class TaskRecord:
    """One task: one worker process and its life (the defaults: a task not yet launched)."""

    id: str
    cluster: str
    service: str | None
    deployment_id: str | None
    task_definition: str
    cpu_units: int | None
    memory_mib: int | None
    container_id: str
    created_at: float
    started_by: str | None
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    pid: int | None = None
    proc_start: int | None = None
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None
    limits_enforced: bool = False
    #: RunTask's ``overrides`` (JSON text), None for a service's task.
    overrides: str | None = None
    #: RunTask's ``group``, ``launchType`` and ``tags`` (JSON text), None for a service's task.
    options: str | None = None

    @property
    def option_values(self) -> dict[str, Any]:
        """RunTask's ``group``, ``launchType`` and ``tags`` as given ({} when none)."""
        value: dict[str, Any] = json.loads(self.options) if self.options else {}
        return value

    @property
    def override_values(self) -> dict[str, Any]:
        """RunTask's ``overrides`` as given ({} when there were none)."""
        value: dict[str, Any] = json.loads(self.overrides) if self.overrides else {}
        return value

    @classmethod
    def standalone(
        cls,
        cluster: str,
        definition: TaskDefinition,
        *,
        task_id: str,
        container_id: str,
        created_at: float,
        started_by: str | None,
        overrides: dict[str, Any] | None,
        options: dict[str, Any] | None = None,
    ) -> TaskRecord:
        """A new task of RunTask (no service), not yet launched.

        Task-level ``cpu`` / ``memory`` overrides replace the definition's.
        """
        given = overrides or {}
        cpu = definition.cpu_units
        memory = definition.memory_mib
        if given.get("cpu") is not None:
            cpu = parse_cpu(str(given["cpu"]), "overrides.cpu")
        if given.get("memory") is not None:
            memory = parse_memory(str(given["memory"]), "overrides.memory")
        return cls(
            id=task_id,
            cluster=cluster,
            service=None,
            deployment_id=None,
            task_definition=definition.key,
            cpu_units=cpu,
            memory_mib=memory,
            container_id=container_id,
            created_at=created_at,
            started_by=started_by,
            overrides=json.dumps(overrides) if overrides else None,
            options=json.dumps(options) if options else None,
        )

    @classmethod
    def provisioning(
        cls,
        service: Service,
        definition: TaskDefinition,
        *,
        task_id: str,
        deployment_id: str | None,
        container_id: str,
        created_at: float,
    ) -> TaskRecord:
        """A new task of ``service`` running ``definition``, not yet launched."""
        return cls(
            id=task_id,
            cluster=service.cluster,
            service=service.name,
            deployment_id=deployment_id,
            task_definition=definition.key,
            cpu_units=definition.cpu_units,
            memory_mib=definition.memory_mib,
            container_id=container_id,
            created_at=created_at,
            started_by=deployment_id,
        )


def predefined_body(family: str, cpu: int, memory: int) -> dict[str, Any]:
    """The registration request of a predefined worker task definition."""
    return {
        "family": family,
        "cpu": str(cpu),
        "memory": str(memory),
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {
                "name": "worker",
                "image": "montemap-worker",
                "essential": True,
                "command": list(DEFAULT_COMMAND),
                "environment": [{"name": k, "value": v} for k, v in DEFAULT_ENVIRONMENT],
            }
        ],
    }


def check_overrides(definition: TaskDefinition, overrides: Mapping[str, Any]) -> None:
    """Refuse RunTask ``overrides`` that name a container the definition does not have."""
    names = {c.get("name") for c in definition.body["containerDefinitions"]}
    for override in overrides.get("containerOverrides") or []:
        if override.get("name") not in names:
            raise invalid_parameter(
                f"Override for container named {override.get('name')} is not a container in"
                " the TaskDefinition."
            )
        for index, pair in enumerate(override.get("environment") or []):
            if not pair.get("name"):
                raise invalid_parameter(
                    f"Container override '{override['name']}' environment entry {index + 1}"
                    " has no name."
                )


def effective_container(task: TaskRecord, definition: TaskDefinition) -> dict[str, Any]:
    """The task's container: the definition's, with RunTask's container override applied
    (``command`` replaces the command, ``environment`` adds to or replaces variables)."""
    container = dict(definition.container)
    for override in task.override_values.get("containerOverrides") or []:
        if override.get("name") != container.get("name"):
            continue
        if override.get("command") is not None:
            container["command"] = list(override["command"])
        if override.get("environment"):
            merged = {
                pair["name"]: pair.get("value", "") for pair in container.get("environment") or []
            }
            for pair in override["environment"]:
                merged[pair["name"]] = pair.get("value", "")
            container["environment"] = [{"name": k, "value": v} for k, v in merged.items()]
    return container


def container_argv(container: Mapping[str, Any]) -> list[str]:
    """What Docker runs for a container: its ``entryPoint`` followed by its ``command``."""
    return [*(container.get("entryPoint") or []), *(container.get("command") or [])]


def _validate_containers(containers: Any) -> None:
    if not isinstance(containers, list) or not containers:
        raise client_error("Container list cannot be empty.")
    if len(containers) > 1:
        raise client_error(
            "montemap runs one process per task: a task definition must have exactly one container"
            f" definition (got {len(containers)})."
        )
    container = containers[0]
    if not isinstance(container, dict):
        raise client_error("Container definition must be an object.")
    name = container.get("name")
    if not isinstance(name, str) or not name:
        raise client_error("Container.name should not be null or empty.")
    if not _NAME_RE.match(name):
        raise client_error(
            f"Container name '{name}' must be 1-255 letters, numbers, hyphens and underscores."
        )
    for key in ("entryPoint", "command"):
        value = container.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(a, str) for a in value)
        ):
            raise client_error(f"Container.{key} of '{name}' must be a list of strings.")
    if not container_argv(container):
        raise client_error(
            f"Container.command of '{name}' should not be null or empty: montemap runs the"
            " container's entryPoint + command (as Docker does) as the task's process, and has"
            " no image to take a default from."
        )
    for index, pair in enumerate(container.get("environment") or []):
        if not isinstance(pair, dict) or not isinstance(pair.get("name"), str) or not pair["name"]:
            raise client_error(f"Container '{name}' environment entry {index + 1} has no name.")
    for key in ("cpu", "memory"):
        value = container.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise client_error(f"Container '{name}' {key} must be a non-negative integer.")


def __getattr__(name: str) -> Any:
    """``EcsStore`` and ``new_deployment_id`` moved to :mod:`montemap.ecs.ecs_store`;
    importing them from here keeps working (lazily: that module imports this one)."""
    if name in ("EcsStore", "new_deployment_id"):
        from montemap.ecs import ecs_store

        return getattr(ecs_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_CLUSTER",
    "DEFAULT_COMMAND",
    "DEFAULT_ENVIRONMENT",
    "DEFAULT_HANDLER",
    "PREDEFINED",
    "TEMPLATE_VARIABLES",
    "Cluster",
    "Deployment",
    "EcsArns",
    "EcsStore",
    "Service",
    "TaskDefinition",
    "TaskRecord",
    "TemplateError",
    "client_error",
    "invalid_parameter",
    "new_deployment_id",
    "parse_cpu",
    "parse_memory",
    "predefined_body",
    "render_template",
]
