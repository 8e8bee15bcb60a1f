"""The SQLite records of functions, their versions and aliases.

One row per (function, version): ``$LATEST`` and each published version,
holding its configuration as a JSON document in the API's shape. Aliases
have a table of their own, and so have the settings that belong to a function
rather than to a version (its tags, its reserved concurrency), and the event invoke
configurations of its versions and aliases. Tables are created with the database's own
``migrate`` and written in its (group-committed) transactions.
"""

from __future__ import annotations

import json
import time
from typing import Any

from montemap.engine.db import Database
from montemap.lambda_api.names import LATEST

SCHEMA = """
CREATE TABLE IF NOT EXISTS lambda_functions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    config TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS lambda_aliases (
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS lambda_counters (
    name TEXT PRIMARY KEY,
    last_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lambda_settings (
    name TEXT PRIMARY KEY,
    tags TEXT NOT NULL DEFAULT '{}',
    reserved INTEGER
);
CREATE TABLE IF NOT EXISTS lambda_policies (
    name TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    sid TEXT NOT NULL,
    statement TEXT NOT NULL,
    PRIMARY KEY (name, qualifier, sid)
);
CREATE TABLE IF NOT EXISTS lambda_event_configs (
    name TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (name, qualifier)
);
"""

Config = dict[str, Any]


class FunctionStore:
    """Reads and writes function versions and aliases."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(SCHEMA)

    def get(self, name: str, version: str = LATEST) -> Config | None:
        row = self.db.query_one(
            "SELECT config FROM lambda_functions WHERE name = ? AND version = ?", (name, version)
        )
        return None if row is None else _load(row["config"])

    def put(self, name: str, version: str, config: Config) -> None:
        self.db.statement(
            "INSERT INTO lambda_functions (name, version, config, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name, version) DO UPDATE SET config = excluded.config",
            (name, version, json.dumps(config), time.time()),
        )

    def names(self, after: str = "", limit: int = 50) -> list[str]:
        rows = self.db.query(
            "SELECT name FROM lambda_functions WHERE version = ? AND name > ? "
            "ORDER BY name LIMIT ?",
            (LATEST, after, limit),
        )
        return [row["name"] for row in rows]

    def versions(self, name: str) -> list[Config]:
        """``$LATEST`` first, then the published versions in number order."""
        rows = self.db.query("SELECT version, config FROM lambda_functions WHERE name = ?", (name,))
        ordered = sorted(rows, key=lambda r: -1 if r["version"] == LATEST else int(r["version"]))
        return [_load(row["config"]) for row in ordered]

    def next_version(self, name: str) -> str:
        """A new version number (never reused, even after a version is deleted)."""
        rows = self.db.statement(
            "INSERT INTO lambda_counters (name, last_version) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET last_version = last_version + 1 "
            "RETURNING last_version",
            (name,),
        )
        return str(rows[0]["last_version"])

    def delete(self, name: str, version: str | None = None) -> None:
        """One version, or (``None``) the whole function with its aliases."""
        with self.db.transaction() as conn:
            if version is None:
                conn.execute("DELETE FROM lambda_functions WHERE name = ?", (name,))
                conn.execute("DELETE FROM lambda_aliases WHERE name = ?", (name,))
                conn.execute("DELETE FROM lambda_counters WHERE name = ?", (name,))
                conn.execute("DELETE FROM lambda_settings WHERE name = ?", (name,))
                conn.execute("DELETE FROM lambda_policies WHERE name = ?", (name,))
                conn.execute("DELETE FROM lambda_event_configs WHERE name = ?", (name,))
            else:
                conn.execute(
                    "DELETE FROM lambda_functions WHERE name = ? AND version = ?", (name, version)
                )
                for table in ("lambda_policies", "lambda_event_configs"):
                    conn.execute(
                        f"DELETE FROM {table} WHERE name = ? AND qualifier = ?", (name, version)
                    )

    def get_alias(self, name: str, alias: str) -> Config | None:
        row = self.db.query_one(
            "SELECT config FROM lambda_aliases WHERE name = ? AND alias = ?", (name, alias)
        )
        return None if row is None else _load(row["config"])

    def put_alias(self, name: str, alias: str, config: Config) -> None:
        self.db.statement(
            "INSERT INTO lambda_aliases (name, alias, config) VALUES (?, ?, ?) "
            "ON CONFLICT (name, alias) DO UPDATE SET config = excluded.config",
            (name, alias, json.dumps(config)),
        )

    def aliases(self, name: str) -> list[Config]:
        rows = self.db.query(
            "SELECT config FROM lambda_aliases WHERE name = ? ORDER BY alias", (name,)
        )
        return [_load(row["config"]) for row in rows]

    def delete_alias(self, name: str, alias: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM lambda_aliases WHERE name = ? AND alias = ?", (name, alias))
            for table in ("lambda_policies", "lambda_event_configs"):
                conn.execute(f"DELETE FROM {table} WHERE name = ? AND qualifier = ?", (name, alias))

    # ------------------------------------------------------------------ function settings

    def tags(self, name: str) -> dict[str, str]:
        row = self.db.query_one("SELECT tags FROM lambda_settings WHERE name = ?", (name,))
        tags: dict[str, str] = {} if row is None else json.loads(row["tags"])
        return tags

    def put_tags(self, name: str, tags: dict[str, str]) -> None:
        self.db.statement(
            "INSERT INTO lambda_settings (name, tags) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET tags = excluded.tags",
            (name, json.dumps(tags)),
        )

    def reserved(self, name: str) -> int | None:
        """The function's reserved concurrency (None: it has none)."""
        row = self.db.query_one("SELECT reserved FROM lambda_settings WHERE name = ?", (name,))
        return None if row is None or row["reserved"] is None else int(row["reserved"])

    def put_reserved(self, name: str, reserved: int | None) -> None:
        self.db.statement(
            "INSERT INTO lambda_settings (name, reserved) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET reserved = excluded.reserved",
            (name, reserved),
        )

    def statements(self, name: str, qualifier: str) -> list[Config]:
        """The resource policy statements of the function (``""``) or of one qualifier."""
        rows = self.db.query(
            "SELECT statement FROM lambda_policies WHERE name = ? AND qualifier = ? ORDER BY rowid",
            (name, qualifier),
        )
        return [_load(row["statement"]) for row in rows]

    def add_statement(self, name: str, qualifier: str, sid: str, statement: Config) -> bool:
        """Add a statement; False when the id is taken."""
        rows = self.db.statement(
            "INSERT INTO lambda_policies (name, qualifier, sid, statement) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING sid",
            (name, qualifier, sid, json.dumps(statement)),
        )
        return bool(rows)

    def remove_statement(self, name: str, qualifier: str, sid: str) -> bool:
        rows = self.db.statement(
            "DELETE FROM lambda_policies WHERE name = ? AND qualifier = ? AND sid = ? "
            "RETURNING sid",
            (name, qualifier, sid),
        )
        return bool(rows)

    def event_config(self, name: str, qualifier: str) -> Config | None:
        """The event invoke configuration of a function's version or alias (or None)."""
        row = self.db.query_one(
            "SELECT config FROM lambda_event_configs WHERE name = ? AND qualifier = ?",
            (name, qualifier),
        )
        return None if row is None else _load(row["config"])

    def put_event_config(self, name: str, qualifier: str, config: Config | None) -> None:
        """Write (None: delete) the event invoke configuration of ``name:qualifier``."""
        if config is None:
            self.db.statement(
                "DELETE FROM lambda_event_configs WHERE name = ? AND qualifier = ?",
                (name, qualifier),
            )
            return
        self.db.statement(
            "INSERT INTO lambda_event_configs (name, qualifier, config) VALUES (?, ?, ?) "
            "ON CONFLICT (name, qualifier) DO UPDATE SET config = excluded.config",
            (name, qualifier, json.dumps(config)),
        )

    def event_configs(self, name: str) -> list[tuple[str, Config]]:
        """(qualifier, configuration) of every event invoke configuration of ``name``."""
        rows = self.db.query(
            "SELECT qualifier, config FROM lambda_event_configs WHERE name = ? ORDER BY qualifier",
            (name,),
        )
        return [(row["qualifier"], _load(row["config"])) for row in rows]

    def usage(self) -> tuple[int, int]:
        """(functions, bytes of code of all their versions)."""
        row = self.db.query_one(
            "SELECT COUNT(DISTINCT name) AS functions, "
            "COALESCE(SUM(json_extract(config, '$.CodeSize')), 0) AS size FROM lambda_functions"
        )
        return (0, 0) if row is None else (int(row["functions"]), int(row["size"]))

    def reserved_total(self, except_name: str = "") -> int:
        """Concurrency reserved by all functions but ``except_name``."""
        row = self.db.query_one(
            "SELECT COALESCE(SUM(reserved), 0) AS total FROM lambda_settings WHERE name != ?",
            (except_name,),
        )
        return 0 if row is None else int(row["total"])


def _load(text: str) -> Config:
    value: Config = json.loads(text)
    return value
