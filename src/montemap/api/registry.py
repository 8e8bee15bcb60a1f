"""Durable records the API owns: state machines, their published versions, and tags.

Everything lives in the shared SQLite database (tables prefixed ``api_``).
The registry stores and looks up; the actions decide AWS semantics (errors,
idempotency rules) around it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.records import StateMachineRef

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_state_machines (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    type TEXT NOT NULL,
    creation_date REAL NOT NULL,
    update_date REAL,
    revision_id TEXT,
    logging_configuration TEXT NOT NULL,
    tracing_configuration TEXT NOT NULL,
    encryption_configuration TEXT,
    publish INTEGER NOT NULL DEFAULT 0,
    version_description TEXT
);
CREATE TABLE IF NOT EXISTS api_state_machine_versions (
    arn TEXT PRIMARY KEY,
    state_machine_arn TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    type TEXT NOT NULL,
    creation_date REAL NOT NULL,
    revision_id TEXT,
    description TEXT,
    UNIQUE (state_machine_arn, version)
);
CREATE TABLE IF NOT EXISTS api_activity_encryption (
    activity_arn TEXT PRIMARY KEY,
    configuration TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_version_counters (
    state_machine_arn TEXT PRIMARY KEY,
    last_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_aliases (
    arn TEXT PRIMARY KEY,
    state_machine_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    routing TEXT NOT NULL,
    creation_date REAL NOT NULL,
    update_date REAL
);
CREATE INDEX IF NOT EXISTS api_aliases_by_machine ON api_aliases(state_machine_arn, name);
CREATE TABLE IF NOT EXISTS api_alias_executions (
    execution_arn TEXT PRIMARY KEY,
    alias_arn TEXT NOT NULL,
    version_arn TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_redrive_tokens (
    execution_arn TEXT NOT NULL,
    token TEXT NOT NULL,
    redrive_date REAL NOT NULL,
    used_at REAL NOT NULL,
    PRIMARY KEY (execution_arn, token)
);
CREATE TABLE IF NOT EXISTS api_tags (
    resource_arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key)
);
"""

#: What DescribeStateMachine reports when no configuration was given.
DEFAULT_LOGGING: dict[str, Any] = {"level": "OFF", "includeExecutionData": False}
DEFAULT_TRACING: dict[str, Any] = {"enabled": False}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _dump(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class StateMachine:
    """One state machine as DescribeStateMachine reports it (dates in epoch seconds)."""

    arn: str
    name: str
    definition: str
    role_arn: str
    type: str
    creation_date: float
    update_date: float | None
    revision_id: str | None
    logging_configuration: dict[str, Any]
    tracing_configuration: dict[str, Any]
    encryption_configuration: dict[str, Any] | None = None
    publish: bool = False
    version_description: str | None = None

    def ref(self) -> StateMachineRef:
        return _ref(self)


def _ref(machine: StateMachine | StateMachineVersion) -> StateMachineRef:
    """What the engine needs to start an execution of a state machine or a version."""
    return StateMachineRef(
        arn=machine.arn,
        name=machine.name,
        definition=machine.definition,
        role_arn=machine.role_arn,
        type=machine.type,
        revision_id=machine.revision_id,
    )


@dataclass(frozen=True)
class StateMachineVersion:
    """A published, immutable version (``<state machine arn>:<n>``)."""

    arn: str
    state_machine_arn: str
    version: int
    definition: str
    role_arn: str
    type: str
    creation_date: float
    revision_id: str | None
    description: str | None

    @property
    def name(self) -> str:
        return self.state_machine_arn.rsplit(":", 1)[1]

    def ref(self) -> StateMachineRef:
        return _ref(self)


@dataclass(frozen=True)
class StateMachineAlias:
    """An alias (``<state machine arn>:<name>``) routing to one or two versions."""

    arn: str
    state_machine_arn: str
    name: str
    description: str | None
    routing: list[dict[str, Any]]
    creation_date: float
    update_date: float | None


def _alias(row: sqlite3.Row) -> StateMachineAlias:
    return StateMachineAlias(
        arn=row["arn"],
        state_machine_arn=row["state_machine_arn"],
        name=row["name"],
        description=row["description"],
        routing=json.loads(row["routing"]),
        creation_date=row["creation_date"],
        update_date=row["update_date"],
    )


@dataclass(frozen=True)
class NewStateMachine:
    """The members of a CreateStateMachine request, normalised."""

    name: str
    definition: str
    role_arn: str
    type: str = "STANDARD"
    logging_configuration: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_LOGGING))
    tracing_configuration: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TRACING))
    encryption_configuration: dict[str, Any] | None = None
    publish: bool = False
    version_description: str | None = None


def _state_machine(row: sqlite3.Row) -> StateMachine:
    encryption = row["encryption_configuration"]
    return StateMachine(
        arn=row["arn"],
        name=row["name"],
        definition=row["definition"],
        role_arn=row["role_arn"],
        type=row["type"],
        creation_date=row["creation_date"],
        update_date=row["update_date"],
        revision_id=row["revision_id"],
        logging_configuration=json.loads(row["logging_configuration"]),
        tracing_configuration=json.loads(row["tracing_configuration"]),
        encryption_configuration=json.loads(encryption) if encryption else None,
        publish=bool(row["publish"]),
        version_description=row["version_description"],
    )


def _version(row: sqlite3.Row) -> StateMachineVersion:
    return StateMachineVersion(
        arn=row["arn"],
        state_machine_arn=row["state_machine_arn"],
        version=row["version"],
        definition=row["definition"],
        role_arn=row["role_arn"],
        type=row["type"],
        creation_date=row["creation_date"],
        revision_id=row["revision_id"],
        description=row["description"],
    )


class Registry:
    """State machines, versions and tags in the shared database."""

    def __init__(
        self,
        db: Database,
        *,
        arns: ArnFactory,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.arns = arns
        self._clock = clock or _utcnow
        db.migrate(SCHEMA)

    def now(self) -> float:
        """The registry clock, in epoch seconds."""
        moment = self._clock()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    # ------------------------------------------------------------------ state machines

    def get_state_machine(self, arn: str) -> StateMachine | None:
        row = self.db.query_one("SELECT * FROM api_state_machines WHERE arn = ?", (arn,))
        return _state_machine(row) if row else None

    def get_state_machine_by_name(self, name: str) -> StateMachine | None:
        row = self.db.query_one("SELECT * FROM api_state_machines WHERE name = ?", (name,))
        return _state_machine(row) if row else None

    def list_state_machines(self) -> list[StateMachine]:
        """Every state machine, sorted by name (AWS lists them in name order)."""
        rows = self.db.query("SELECT * FROM api_state_machines ORDER BY name")
        return [_state_machine(row) for row in rows]

    def insert_state_machine(
        self, new: NewStateMachine, *, tags: dict[str, str]
    ) -> tuple[StateMachine, StateMachineVersion | None]:
        """Store a new state machine (and its first version when ``publish``)."""
        arn = self.arns.state_machine(new.name)
        now = self.now()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_state_machines (arn, name, definition, role_arn, type,"
                " creation_date, update_date, revision_id, logging_configuration,"
                " tracing_configuration, encryption_configuration, publish, version_description)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?)",
                (
                    arn,
                    new.name,
                    new.definition,
                    new.role_arn,
                    new.type,
                    now,
                    _dump(new.logging_configuration),
                    _dump(new.tracing_configuration),
                    _dump(new.encryption_configuration),
                    int(new.publish),
                    new.version_description,
                ),
            )
            self.tag(arn, tags)
            machine = self.get_state_machine(arn)
            assert machine is not None
            version = self.publish(machine, new.version_description) if new.publish else None
        return machine, version

    def update_state_machine(
        self,
        arn: str,
        *,
        definition: str | None = None,
        role_arn: str | None = None,
        logging_configuration: dict[str, Any] | None = None,
        tracing_configuration: dict[str, Any] | None = None,
        encryption_configuration: dict[str, Any] | None = None,
    ) -> StateMachine:
        """Apply the given changes; a change of any kind gives a new revision id."""
        with self.db.transaction() as conn:
            current = self.get_state_machine(arn)
            if current is None:
                raise KeyError(arn)
            given: dict[str, tuple[Any, Any]] = {  # column: (the request's, the current)
                "definition": (definition, current.definition),
                "role_arn": (role_arn, current.role_arn),
                "logging_configuration": (logging_configuration, current.logging_configuration),
                "tracing_configuration": (tracing_configuration, current.tracing_configuration),
                "encryption_configuration": (
                    encryption_configuration,
                    current.encryption_configuration,
                ),
            }
            changes: dict[str, object] = {
                column: value if isinstance(value, str) else _dump(value)
                for column, (value, now) in given.items()
                if value is not None and value != now
            }
            changes["update_date"] = self.now()
            if len(changes) > 1 or current.revision_id is None:
                changes["revision_id"] = str(uuid.uuid4())
            assignments = ", ".join(f"{column} = ?" for column in changes)
            conn.execute(
                f"UPDATE api_state_machines SET {assignments} WHERE arn = ?",
                (*changes.values(), arn),
            )
            updated = self.get_state_machine(arn)
            assert updated is not None
        return updated

    def delete_state_machine(self, arn: str) -> None:
        """Remove a state machine with its versions and tags (no-op when absent)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM api_state_machines WHERE arn = ?", (arn,))
            versions = conn.execute(
                "SELECT arn FROM api_state_machine_versions WHERE state_machine_arn = ?", (arn,)
            ).fetchall()
            conn.execute(
                "DELETE FROM api_state_machine_versions WHERE state_machine_arn = ?", (arn,)
            )
            conn.execute("DELETE FROM api_version_counters WHERE state_machine_arn = ?", (arn,))
            aliases = conn.execute(
                "SELECT arn FROM api_aliases WHERE state_machine_arn = ?", (arn,)
            ).fetchall()
            conn.execute("DELETE FROM api_aliases WHERE state_machine_arn = ?", (arn,))
            versions = [*versions, *aliases]
            for resource in [arn, *(row["arn"] for row in versions)]:
                self.delete_tags(resource)

    # ------------------------------------------------------------------ versions

    def publish(self, machine: StateMachine, description: str | None) -> StateMachineVersion:
        """Publish the state machine's current revision as its next version."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT MAX(COALESCE((SELECT MAX(version) FROM api_state_machine_versions"
                " WHERE state_machine_arn = ?), 0), COALESCE((SELECT last_version FROM"
                " api_version_counters WHERE state_machine_arn = ?), 0)) AS n",
                (machine.arn, machine.arn),
            ).fetchone()
            number = int(row["n"]) + 1  # a deleted version's number is never used again
            arn = f"{machine.arn}:{number}"
            conn.execute(
                "INSERT INTO api_version_counters (state_machine_arn, last_version)"
                " VALUES (?, ?) ON CONFLICT (state_machine_arn)"
                " DO UPDATE SET last_version = excluded.last_version",
                (machine.arn, number),
            )
            conn.execute(
                "INSERT INTO api_state_machine_versions (arn, state_machine_arn, version,"
                " definition, role_arn, type, creation_date, revision_id, description)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    arn,
                    machine.arn,
                    number,
                    machine.definition,
                    machine.role_arn,
                    machine.type,
                    self.now(),
                    machine.revision_id,
                    description,
                ),
            )
        version = self.get_version(arn)
        assert version is not None
        return version

    def get_version(self, arn: str) -> StateMachineVersion | None:
        row = self.db.query_one("SELECT * FROM api_state_machine_versions WHERE arn = ?", (arn,))
        return _version(row) if row else None

    def list_versions(self, state_machine_arn: str) -> list[StateMachineVersion]:
        """A state machine's versions, newest first (as ListStateMachineVersions)."""
        rows = self.db.query(
            "SELECT * FROM api_state_machine_versions WHERE state_machine_arn = ?"
            " ORDER BY version DESC",
            (state_machine_arn,),
        )
        return [_version(row) for row in rows]

    def version_of_revision(self, machine: StateMachine) -> StateMachineVersion | None:
        """The newest version published from the machine's current revision, if any."""
        row = self.db.query_one(
            "SELECT * FROM api_state_machine_versions WHERE state_machine_arn = ?"
            " AND revision_id IS ? ORDER BY version DESC LIMIT 1",
            (machine.arn, machine.revision_id),
        )
        return _version(row) if row else None

    def delete_version(self, arn: str) -> None:
        """Remove one version and its tags (no-op when absent)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM api_state_machine_versions WHERE arn = ?", (arn,))
            self.delete_tags(arn)

    def latest_version(self, state_machine_arn: str) -> StateMachineVersion | None:
        row = self.db.query_one(
            "SELECT * FROM api_state_machine_versions WHERE state_machine_arn = ?"
            " ORDER BY version DESC LIMIT 1",
            (state_machine_arn,),
        )
        return _version(row) if row else None

    # ------------------------------------------------------------------ activities

    def set_activity_encryption(self, activity_arn: str, config: dict[str, Any] | None) -> None:
        """Record (None: forget) the encryption configuration an activity was created with."""
        with self.db.transaction() as conn:
            if config is None:
                conn.execute(
                    "DELETE FROM api_activity_encryption WHERE activity_arn = ?", (activity_arn,)
                )
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO api_activity_encryption (activity_arn, configuration)"
                    " VALUES (?, ?)",
                    (activity_arn, _dump(config)),
                )

    def activity_encryption(self, activity_arn: str) -> dict[str, Any] | None:
        row = self.db.query_one(
            "SELECT configuration FROM api_activity_encryption WHERE activity_arn = ?",
            (activity_arn,),
        )
        return None if row is None else dict(json.loads(row["configuration"]))

    # ------------------------------------------------------------------ aliases

    def get_alias(self, arn: str) -> StateMachineAlias | None:
        row = self.db.query_one("SELECT * FROM api_aliases WHERE arn = ?", (arn,))
        return _alias(row) if row else None

    def list_aliases(self, state_machine_arn: str) -> list[StateMachineAlias]:
        """A state machine's aliases, in name order."""
        rows = self.db.query(
            "SELECT * FROM api_aliases WHERE state_machine_arn = ? ORDER BY name",
            (state_machine_arn,),
        )
        return [_alias(row) for row in rows]

    def insert_alias(
        self,
        state_machine_arn: str,
        name: str,
        description: str | None,
        routing: list[dict[str, Any]],
    ) -> StateMachineAlias:
        arn = f"{state_machine_arn}:{name}"
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_aliases (arn, state_machine_arn, name, description, routing,"
                " creation_date, update_date) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (arn, state_machine_arn, name, description, json.dumps(routing), self.now()),
            )
        alias = self.get_alias(arn)
        assert alias is not None
        return alias

    def update_alias(
        self, arn: str, *, description: str | None, routing: list[dict[str, Any]] | None
    ) -> StateMachineAlias:
        """Change an alias's description and/or routing (None: kept)."""
        changes: dict[str, Any] = {"update_date": self.now()}
        if description is not None:
            changes["description"] = description
        if routing is not None:
            changes["routing"] = json.dumps(routing)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE api_aliases SET {assignments} WHERE arn = ?", (*changes.values(), arn)
            )
        alias = self.get_alias(arn)
        assert alias is not None
        return alias

    def delete_alias(self, arn: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM api_aliases WHERE arn = ?", (arn,))
            self.delete_tags(arn)

    def aliases_routing_to(self, version_arn: str) -> list[StateMachineAlias]:
        """The aliases whose routing names ``version_arn``."""
        machine_arn = version_arn.rsplit(":", 1)[0]
        return [
            alias
            for alias in self.list_aliases(machine_arn)
            if any(route["stateMachineVersionArn"] == version_arn for route in alias.routing)
        ]

    def note_alias_execution(self, execution_arn: str, alias_arn: str, version_arn: str) -> None:
        """Remember which version an execution started on an alias runs (first start wins)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO api_alias_executions (execution_arn, alias_arn,"
                " version_arn) VALUES (?, ?, ?)",
                (execution_arn, alias_arn, version_arn),
            )

    def alias_execution_version(self, execution_arn: str) -> str | None:
        row = self.db.query_one(
            "SELECT version_arn FROM api_alias_executions WHERE execution_arn = ?",
            (execution_arn,),
        )
        return None if row is None else str(row["version_arn"])

    # ------------------------------------------------------------------ redrive tokens

    def redrive_for_token(self, execution_arn: str, token: str, *, within: float) -> float | None:
        """The redrive date a client token already got for an execution, if it was
        first used less than ``within`` seconds ago."""
        row = self.db.query_one(
            "SELECT redrive_date FROM api_redrive_tokens WHERE execution_arn = ? AND token = ?"
            " AND used_at > ?",
            (execution_arn, token, self.now() - within),
        )
        return None if row is None else float(row["redrive_date"])

    def note_redrive_token(
        self, execution_arn: str, token: str, redrive_date: float, *, keep: int
    ) -> None:
        """Remember a token's redrive, with only the execution's last ``keep`` tokens."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_redrive_tokens (execution_arn, token, redrive_date,"
                " used_at) VALUES (?, ?, ?, ?)",
                (execution_arn, token, redrive_date, self.now()),
            )
            conn.execute(
                "DELETE FROM api_redrive_tokens WHERE execution_arn = ? AND token NOT IN"
                " (SELECT token FROM api_redrive_tokens WHERE execution_arn = ?"
                " ORDER BY used_at DESC LIMIT ?)",
                (execution_arn, execution_arn, keep),
            )

    # ------------------------------------------------------------------ tags

    def tag(self, resource_arn: str, tags: dict[str, str]) -> None:
        """Add or overwrite tags on a resource."""
        if not tags:
            return
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO api_tags (resource_arn, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
                [(resource_arn, key, value) for key, value in tags.items()],
            )

    def untag(self, resource_arn: str, keys: list[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM api_tags WHERE resource_arn = ? AND key = ?",
                [(resource_arn, key) for key in keys],
            )

    def tags(self, resource_arn: str) -> dict[str, str]:
        """A resource's tags, in the order they were first added."""
        rows = self.db.query(
            "SELECT key, value FROM api_tags WHERE resource_arn = ? ORDER BY rowid",
            (resource_arn,),
        )
        return {row["key"]: row["value"] for row in rows}

    def delete_tags(self, resource_arn: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM api_tags WHERE resource_arn = ?", (resource_arn,))
