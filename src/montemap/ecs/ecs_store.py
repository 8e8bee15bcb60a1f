"""The durable ECS state: clusters, task definitions, services, deployments and tasks.

:class:`EcsStore` keeps the records of :mod:`montemap.ecs.taskdefs` in
the server's SQLite database: what a restart must not forget (clusters,
task definition revisions, each service's task definition and desired
count, its deployments) and a record of every task, so that
``DescribeTasks`` can show stopped ones and a restarted server can find the
processes its predecessor left behind. Batch methods (:meth:`insert_tasks`,
:meth:`update_tasks`) change many tasks in one transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from montemap.ecs.container_sizes import check_container_sizes
from montemap.ecs.limits import check_revision, check_task_definition
from montemap.ecs.taskdefs import (
    _FAMILY_RE,
    _NAME_RE,
    DEFAULT_CLUSTER,
    PREDEFINED,
    STOPPED_TASK_RETENTION_S,
    Cluster,
    Deployment,
    EcsArns,
    Service,
    TaskDefinition,
    TaskRecord,
    _validate_containers,
    check_fargate,
    client_error,
    invalid_parameter,
    parse_cpu,
    parse_memory,
    predefined_body,
)
from montemap.engine.db import Database
from montemap.engine.texts import add_column

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
    started_by TEXT,
    overrides TEXT,
    options TEXT
);
CREATE INDEX IF NOT EXISTS ecs_tasks_by_cluster ON ecs_tasks (cluster, last_status);
CREATE INDEX IF NOT EXISTS ecs_tasks_by_status ON ecs_tasks (last_status);
"""

_TASK_COLUMNS = (
    "id, cluster, service, deployment_id, task_definition, cpu_units, memory_mib, last_status,"
    " desired_status, pid, proc_start, container_id, created_at, started_at, stopping_at,"
    " stopped_at, stop_code, stopped_reason, exit_code, limits_enforced, started_by, overrides,"
    " options"
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
        for column in ("overrides", "options"):  # a database made before RunTask
            add_column(db, "ecs_tasks", column)

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

    def set_tags(self, kind: str, key: tuple[str, ...], tags: list[dict[str, str]]) -> None:
        """Replace the tags of a cluster (``key`` (name,)), service ((cluster, name)) or
        task definition ((family, revision))."""
        text = json.dumps(tags)
        with self.db.transaction() as conn:
            if kind == "cluster":
                conn.execute("UPDATE ecs_clusters SET tags = ? WHERE name = ?", (text, *key))
            elif kind == "service":
                conn.execute(
                    "UPDATE ecs_services SET body = json_set(body, '$.tags', json(?))"
                    " WHERE cluster = ? AND name = ?",
                    (text, *key),
                )
            elif kind == "task":
                conn.execute(
                    "UPDATE ecs_tasks SET options = json_set(coalesce(options, '{}'), '$.tags',"
                    " json(?)) WHERE id = ?",
                    (text, *key),
                )
            elif kind == "task-definition":
                conn.execute(
                    "UPDATE ecs_task_definitions SET body = json_set(body, '$.tags', json(?))"
                    " WHERE family = ? AND revision = ?",
                    (text, *key),
                )
            else:
                raise ValueError(f"no tags on {kind}")

    # ------------------------------------------------------------------ task definitions
    def register_task_definition(self, body: dict[str, Any]) -> TaskDefinition:
        """Validate and store a new revision of ``body['family']``."""
        family = body.get("family")
        if not isinstance(family, str) or not _FAMILY_RE.match(family):
            raise client_error(
                "Family must be 1-255 characters: letters, numbers, hyphens and underscores."
            )
        check_task_definition(body)
        _validate_containers(body.get("containerDefinitions"))
        for key, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
            if body.get(key) is not None:
                parse(str(body[key]), key)
        check_fargate(body)
        check_container_sizes(body)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT MAX(revision) AS top FROM ecs_task_definitions WHERE family = ?", (family,)
            ).fetchone()
            revision = (row["top"] or 0) + 1
            check_revision(family, revision)
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

    def task_definition_families(self) -> dict[str, bool]:
        """Every family, in name order, and whether it has an ACTIVE revision."""
        rows = self.db.query(
            "SELECT family, MAX(status = 'ACTIVE') AS active FROM ecs_task_definitions"
            " GROUP BY family ORDER BY family"
        )
        return {row["family"]: bool(row["active"]) for row in rows}

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

    def insert_tasks(self, tasks: Iterable[TaskRecord]) -> None:
        """Insert many tasks in one transaction."""
        rows = []
        for task in tasks:
            values = task.__dict__.copy()
            values["limits_enforced"] = int(task.limits_enforced)
            rows.append(values)
        marks = ", ".join(f":{name.strip()}" for name in _TASK_COLUMNS.split(","))
        with self.db.transaction() as conn:
            conn.executemany(f"INSERT INTO ecs_tasks ({_TASK_COLUMNS}) VALUES ({marks})", rows)

    def update_task(self, task_id: str, **changes: object) -> TaskRecord:
        self.update_tasks([task_id], **changes)
        found = self.get_task(task_id)
        assert found is not None
        return found

    def update_tasks(self, task_ids: Iterable[str], **changes: object) -> None:
        """Apply ``changes`` to every task in ``task_ids``, in one transaction."""
        allowed = {name.strip() for name in _TASK_COLUMNS.split(",")} - {"id"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown task columns: {sorted(unknown)}")
        values = {k: int(v) if isinstance(v, bool) else v for k, v in changes.items()}
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        with self.db.transaction() as conn:
            conn.executemany(
                f"UPDATE ecs_tasks SET {assignments} WHERE id = :id",
                [{**values, "id": task_id} for task_id in task_ids],
            )

    def count_tasks(self, last_status: str) -> int:
        """How many tasks (of every cluster) have ``last_status``."""
        row = self.db.query_one(
            "SELECT COUNT(*) AS n FROM ecs_tasks WHERE last_status = ?", (last_status,)
        )
        return int(row["n"]) if row is not None else 0

    def count_services(self, cluster: str | None = None) -> int:
        """ACTIVE and DRAINING services (of ``cluster``, or of every cluster)."""
        sql = "SELECT COUNT(*) AS n FROM ecs_services WHERE status IN ('ACTIVE', 'DRAINING')"
        params: tuple[object, ...] = ()
        if cluster is not None:
            sql += " AND cluster = ?"
            params = (cluster,)
        row = self.db.query_one(sql, params)
        return int(row["n"]) if row is not None else 0

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

    def standalone_waiting(self, limit: int) -> list[TaskRecord]:
        """RunTask's tasks waiting to be placed (no service), oldest first, at most ``limit``."""
        rows = self.db.query(
            f"SELECT {_TASK_COLUMNS} FROM ecs_tasks WHERE last_status = 'PROVISIONING'"
            " AND service IS NULL AND desired_status = 'RUNNING'"
            " ORDER BY created_at, rowid LIMIT ?",
            (limit,),
        )
        return [_task(r) for r in rows]

    def prune_stopped_tasks(
        self, older_than: float = STOPPED_TASK_RETENTION_S, keep_at_most: int | None = None
    ) -> int:
        """Delete stopped tasks older than ``older_than`` s, and all but the newest
        ``keep_at_most`` stopped ones; how many were deleted."""
        cutoff = time.time() - older_than
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM ecs_tasks WHERE last_status = 'STOPPED' AND stopped_at < ?", (cutoff,)
            )
            deleted = int(cursor.rowcount)
            if keep_at_most is not None:
                cursor = conn.execute(
                    "DELETE FROM ecs_tasks WHERE last_status = 'STOPPED' AND id NOT IN"
                    " (SELECT id FROM ecs_tasks WHERE last_status = 'STOPPED'"
                    " ORDER BY stopped_at DESC LIMIT ?)",
                    (keep_at_most,),
                )
                deleted += int(cursor.rowcount)
            return deleted
