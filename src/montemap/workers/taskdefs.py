"""Clusters, task definitions, services, deployments and tasks, kept in SQLite.

This is the desired state of the local "ECS": what a server restart must not
forget (clusters, task definition revisions, each service's task definition
and desired count, its deployments) plus a record of every task (worker
process) started, so that ``DescribeTasks`` can show stopped ones and a
restarted server can find the processes its predecessor left behind.

Task definitions name the process to run in their one container's
``command`` and ``environment``. Those strings are templates: ``${name}`` is
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
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from montemap.arns import DEFAULT_ACCOUNT, DEFAULT_REGION
from montemap.engine.db import Database
from montemap.errors import ApiError

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


class TemplateError(ValueError):
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


# --------------------------------------------------------------------------- ARNs


@dataclass(frozen=True)
class EcsArns:
    """ARNs of ECS resources for one region and account."""

    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT

    @property
    def prefix(self) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}"

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


@dataclass(frozen=True)
class TaskRecord:
    """One task: one worker process and its life."""

    id: str
    cluster: str
    service: str | None
    deployment_id: str | None
    task_definition: str
    cpu_units: int | None
    memory_mib: int | None
    last_status: str
    desired_status: str
    pid: int | None
    proc_start: int | None
    container_id: str
    created_at: float
    started_at: float | None
    stopping_at: float | None
    stopped_at: float | None
    stop_code: str | None
    stopped_reason: str | None
    exit_code: int | None
    limits_enforced: bool
    started_by: str | None


SCHEMA = """
CREATE TABLE IF NOT EXISTS ecs_clusters (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS ecs_task_definitions (
    family TEXT NOT NULL,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    registered_at REAL NOT NULL,
    deregistered_at REAL,
    PRIMARY KEY (family, revision)
);
CREATE TABLE IF NOT EXISTS ecs_services (
    cluster TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    task_definition TEXT NOT NULL,
    desired_count INTEGER NOT NULL,
    launch_type TEXT NOT NULL,
    created_at REAL NOT NULL,
    body TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (cluster, name)
);
CREATE TABLE IF NOT EXISTS ecs_deployments (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    service TEXT NOT NULL,
    task_definition TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    rollout_state TEXT NOT NULL,
    rollout_reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ecs_deployments_by_service ON ecs_deployments (cluster, service);
CREATE TABLE IF NOT EXISTS ecs_tasks (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    service TEXT,
    deployment_id TEXT,
    task_definition TEXT NOT NULL,
    cpu_units INTEGER,
    memory_mib INTEGER,
    last_status TEXT NOT NULL,
    desired_status TEXT NOT NULL,
    pid INTEGER,
    proc_start INTEGER,
    container_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    stopping_at REAL,
    stopped_at REAL,
    stop_code TEXT,
    stopped_reason TEXT,
    exit_code INTEGER,
    limits_enforced INTEGER NOT NULL DEFAULT 0,
    started_by TEXT
);
CREATE INDEX IF NOT EXISTS ecs_tasks_by_cluster ON ecs_tasks (cluster, last_status);
"""

_TASK_COLUMNS = (
    "id, cluster, service, deployment_id, task_definition, cpu_units, memory_mib, last_status,"
    " desired_status, pid, proc_start, container_id, created_at, started_at, stopping_at,"
    " stopped_at, stop_code, stopped_reason, exit_code, limits_enforced, started_by"
)


def _task(row: Any) -> TaskRecord:
    values = dict(row)
    values["limits_enforced"] = bool(values["limits_enforced"])
    return TaskRecord(**values)


def new_deployment_id() -> str:
    """An id like ECS's ``ecs-svc/`` followed by 19 digits."""
    return f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"


class EcsStore:
    """Durable ECS state in the shared :class:`Database`."""

    def __init__(self, db: Database, arns: EcsArns | None = None) -> None:
        self.db = db
        self.arns = arns or EcsArns()
        db.migrate(SCHEMA)

    # ------------------------------------------------------------------ clusters
    def create_cluster(self, name: str, tags: list[dict[str, str]] | None = None) -> Cluster:
        """Create ``name`` (or return it unchanged when it is already ACTIVE)."""
        if not _NAME_RE.match(name):
            raise invalid_parameter(
                "Cluster name must be 1-255 characters: letters, numbers, hyphens and underscores."
            )
        existing = self.get_cluster(name)
        if existing is not None and existing.status == "ACTIVE":
            return existing
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO ecs_clusters (name, status, created_at, tags)"
                " VALUES (?, 'ACTIVE', ?, ?)",
                (name, time.time(), json.dumps(tags or [])),
            )
        cluster = self.get_cluster(name)
        assert cluster is not None
        return cluster

    def get_cluster(self, name: str) -> Cluster | None:
        row = self.db.query_one("SELECT * FROM ecs_clusters WHERE name = ?", (name,))
        if row is None:
            return None
        return Cluster(row["name"], row["status"], row["created_at"], json.loads(row["tags"]))

    def list_clusters(self) -> list[Cluster]:
        rows = self.db.query("SELECT name FROM ecs_clusters WHERE status = 'ACTIVE' ORDER BY name")
        return [c for c in (self.get_cluster(r["name"]) for r in rows) if c is not None]

    def delete_cluster(self, name: str) -> Cluster:
        with self.db.transaction() as conn:
            conn.execute("UPDATE ecs_clusters SET status = 'INACTIVE' WHERE name = ?", (name,))
        cluster = self.get_cluster(name)
        assert cluster is not None
        return cluster

    # ------------------------------------------------------------------ task definitions
    def register_task_definition(self, body: dict[str, Any]) -> TaskDefinition:
        """Validate and store a new revision of ``body['family']``."""
        family = body.get("family")
        if not isinstance(family, str) or not _FAMILY_RE.match(family):
            raise client_error(
                "Family must be 1-255 characters: letters, numbers, hyphens and underscores."
            )
        _validate_containers(body.get("containerDefinitions"))
        for key, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
            if body.get(key) is not None:
                parse(str(body[key]), key)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT MAX(revision) AS top FROM ecs_task_definitions WHERE family = ?", (family,)
            ).fetchone()
            revision = (row["top"] or 0) + 1
            conn.execute(
                "INSERT INTO ecs_task_definitions (family, revision, status, body, registered_at)"
                " VALUES (?, ?, 'ACTIVE', ?, ?)",
                (family, revision, json.dumps(body), time.time()),
            )
        found = self.get_task_definition(family, revision)
        assert found is not None
        return found

    def get_task_definition(self, family: str, revision: int) -> TaskDefinition | None:
        row = self.db.query_one(
            "SELECT * FROM ecs_task_definitions WHERE family = ? AND revision = ?",
            (family, revision),
        )
        if row is None:
            return None
        return TaskDefinition(
            row["family"],
            row["revision"],
            row["status"],
            json.loads(row["body"]),
            row["registered_at"],
            row["deregistered_at"],
        )

    def resolve_task_definition(self, ref: str) -> TaskDefinition | None:
        """``family``, ``family:revision`` or an ARN; ``family`` means its latest ACTIVE one."""
        text = self.arns.resource(ref, "task-definition") or ref
        family, sep, rev = text.partition(":")
        if sep:
            if not rev.isdigit():
                raise client_error(f"Invalid revision number. Number: {rev}")
            return self.get_task_definition(family, int(rev))
        row = self.db.query_one(
            "SELECT MAX(revision) AS top FROM ecs_task_definitions"
            " WHERE family = ? AND status = 'ACTIVE'",
            (family,),
        )
        if row is None or row["top"] is None:
            return None
        return self.get_task_definition(family, int(row["top"]))

    def list_task_definitions(
        self, *, family_prefix: str | None, status: str, descending: bool
    ) -> list[TaskDefinition]:
        order = "DESC" if descending else "ASC"
        rows = self.db.query(
            "SELECT family, revision FROM ecs_task_definitions WHERE status = ?"
            f" ORDER BY family {order}, revision {order}",
            (status,),
        )
        found = []
        for row in rows:
            if family_prefix and not row["family"].startswith(family_prefix):
                continue
            definition = self.get_task_definition(row["family"], row["revision"])
            if definition is not None:
                found.append(definition)
        return found

    def deregister_task_definition(self, family: str, revision: int) -> TaskDefinition:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE ecs_task_definitions SET status = 'INACTIVE', deregistered_at = ?"
                " WHERE family = ? AND revision = ? AND status = 'ACTIVE'",
                (time.time(), family, revision),
            )
        found = self.get_task_definition(family, revision)
        assert found is not None
        return found

    def register_predefined(self) -> list[TaskDefinition]:
        """Register ``small`` and ``large`` (and the ``default`` cluster) unless they exist."""
        if self.get_cluster(DEFAULT_CLUSTER) is None:
            self.create_cluster(DEFAULT_CLUSTER)
        made = []
        for family, (cpu, memory) in PREDEFINED.items():
            row = self.db.query_one(
                "SELECT 1 FROM ecs_task_definitions WHERE family = ? LIMIT 1", (family,)
            )
            if row is None:
                made.append(self.register_task_definition(predefined_body(family, cpu, memory)))
        return made

    # ------------------------------------------------------------------ services
    def create_service(
        self,
        cluster: str,
        name: str,
        task_definition: TaskDefinition,
        desired_count: int,
        launch_type: str,
        body: dict[str, Any],
    ) -> Service:
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM ecs_deployments WHERE cluster = ? AND service = ?", (cluster, name)
            )
            conn.execute(
                "INSERT OR REPLACE INTO ecs_services (cluster, name, status, task_definition,"
                " desired_count, launch_type, created_at, body) VALUES (?, ?, 'ACTIVE', ?, ?, ?, ?, ?)",
                (
                    cluster,
                    name,
                    task_definition.key,
                    desired_count,
                    launch_type,
                    now,
                    json.dumps(body),
                ),
            )
            self._new_deployment(conn, cluster, name, task_definition.key, now)
        service = self.get_service(cluster, name)
        assert service is not None
        return service

    @staticmethod
    def _new_deployment(
        conn: Any, cluster: str, service: str, task_definition: str, now: float
    ) -> None:
        conn.execute(
            "UPDATE ecs_deployments SET status = 'ACTIVE', updated_at = ?"
            " WHERE cluster = ? AND service = ? AND status = 'PRIMARY'",
            (now, cluster, service),
        )
        conn.execute(
            "INSERT INTO ecs_deployments (id, cluster, service, task_definition, status,"
            " created_at, updated_at, rollout_state, rollout_reason)"
            " VALUES (?, ?, ?, ?, 'PRIMARY', ?, ?, 'IN_PROGRESS', ?)",
            (
                new_deployment_id(),
                cluster,
                service,
                task_definition,
                now,
                now,
                "ECS deployment in progress.",
            ),
        )

    def get_service(self, cluster: str, name: str) -> Service | None:
        row = self.db.query_one(
            "SELECT * FROM ecs_services WHERE cluster = ? AND name = ?", (cluster, name)
        )
        if row is None:
            return None
        values = dict(row)
        values["body"] = json.loads(values["body"])
        return Service(**values)

    def services(
        self, cluster: str | None = None, *, statuses: Iterable[str] = ("ACTIVE",)
    ) -> list[Service]:
        wanted = list(statuses)
        marks = ",".join("?" * len(wanted))
        sql = f"SELECT cluster, name FROM ecs_services WHERE status IN ({marks})"
        params: list[object] = list(wanted)
        if cluster is not None:
            sql += " AND cluster = ?"
            params.append(cluster)
        rows = self.db.query(sql + " ORDER BY cluster, name", tuple(params))
        return [
            s for s in (self.get_service(r["cluster"], r["name"]) for r in rows) if s is not None
        ]

    def update_service(
        self,
        service: Service,
        *,
        desired_count: int | None,
        task_definition: TaskDefinition | None,
        force_new_deployment: bool,
    ) -> Service:
        now = time.time()
        with self.db.transaction() as conn:
            if desired_count is not None:
                conn.execute(
                    "UPDATE ecs_services SET desired_count = ? WHERE cluster = ? AND name = ?",
                    (desired_count, service.cluster, service.name),
                )
            changed = task_definition is not None and task_definition.key != service.task_definition
            if changed:
                assert task_definition is not None
                conn.execute(
                    "UPDATE ecs_services SET task_definition = ? WHERE cluster = ? AND name = ?",
                    (task_definition.key, service.cluster, service.name),
                )
            if changed or force_new_deployment:
                key = (
                    task_definition.key if task_definition is not None else service.task_definition
                )
                self._new_deployment(conn, service.cluster, service.name, key, now)
        updated = self.get_service(service.cluster, service.name)
        assert updated is not None
        return updated

    def set_service_status(
        self, service: Service, status: str, *, desired_count: int | None = None
    ) -> Service:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE ecs_services SET status = ?, desired_count = COALESCE(?, desired_count)"
                " WHERE cluster = ? AND name = ?",
                (status, desired_count, service.cluster, service.name),
            )
        updated = self.get_service(service.cluster, service.name)
        assert updated is not None
        return updated

    def deployments(self, cluster: str, service: str) -> list[Deployment]:
        """The service's PRIMARY and ACTIVE deployments, newest first."""
        rows = self.db.query(
            "SELECT * FROM ecs_deployments WHERE cluster = ? AND service = ?"
            " AND status IN ('PRIMARY', 'ACTIVE') ORDER BY created_at DESC, rowid DESC",
            (cluster, service),
        )
        return [Deployment(**dict(r)) for r in rows]

    def set_deployment(
        self, deployment_id: str, *, status: str, rollout_state: str, reason: str
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE ecs_deployments SET status = ?, rollout_state = ?, rollout_reason = ?,"
                " updated_at = ? WHERE id = ?",
                (status, rollout_state, reason, time.time(), deployment_id),
            )

    # ------------------------------------------------------------------ tasks
    def insert_task(self, task: TaskRecord) -> None:
        values = task.__dict__.copy()
        values["limits_enforced"] = int(task.limits_enforced)
        marks = ", ".join(f":{name.strip()}" for name in _TASK_COLUMNS.split(","))
        with self.db.transaction() as conn:
            conn.execute(f"INSERT INTO ecs_tasks ({_TASK_COLUMNS}) VALUES ({marks})", values)

    def update_task(self, task_id: str, **changes: object) -> TaskRecord:
        allowed = {name.strip() for name in _TASK_COLUMNS.split(",")} - {"id"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown task columns: {sorted(unknown)}")
        values = {k: int(v) if isinstance(v, bool) else v for k, v in changes.items()}
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE ecs_tasks SET {assignments} WHERE id = :id", {**values, "id": task_id}
            )
        found = self.get_task(task_id)
        assert found is not None
        return found

    def get_task(self, task_id: str) -> TaskRecord | None:
        row = self.db.query_one(f"SELECT {_TASK_COLUMNS} FROM ecs_tasks WHERE id = ?", (task_id,))
        return _task(row) if row is not None else None

    def tasks(
        self,
        *,
        cluster: str | None = None,
        service: str | None = None,
        live: bool | None = None,
        family: str | None = None,
        started_by: str | None = None,
    ) -> list[TaskRecord]:
        """Tasks filtered by cluster, service, liveness (not STOPPED), family, starter."""
        sql = f"SELECT {_TASK_COLUMNS} FROM ecs_tasks WHERE 1 = 1"
        params: list[object] = []
        if cluster is not None:
            sql += " AND cluster = ?"
            params.append(cluster)
        if service is not None:
            sql += " AND service = ?"
            params.append(service)
        if live is True:
            sql += " AND last_status != 'STOPPED'"
        elif live is False:
            sql += " AND last_status = 'STOPPED'"
        if family is not None:
            sql += " AND substr(task_definition, 1, ?) = ?"
            params.extend([len(family) + 1, family + ":"])
        if started_by is not None:
            sql += " AND started_by = ?"
            params.append(started_by)
        rows = self.db.query(sql + " ORDER BY created_at, rowid", tuple(params))
        return [_task(r) for r in rows]

    def prune_stopped_tasks(self, older_than: float = STOPPED_TASK_RETENTION_S) -> int:
        cutoff = time.time() - older_than
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM ecs_tasks WHERE last_status = 'STOPPED' AND stopped_at < ?", (cutoff,)
            )
            return int(cursor.rowcount)


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
    command = container.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise client_error(
            f"Container.command of '{name}' should not be null or empty: montemap runs it as the"
            " task's process."
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
