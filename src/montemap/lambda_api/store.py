"""The SQLite records of functions, their versions and aliases.

One row per (function, version): ``$LATEST`` and each published version,
holding its configuration as a JSON document in the API's shape. Aliases
have a table of their own. Tables are created with the database's own
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
            else:
                conn.execute(
                    "DELETE FROM lambda_functions WHERE name = ? AND version = ?", (name, version)
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
        self.db.statement("DELETE FROM lambda_aliases WHERE name = ? AND alias = ?", (name, alias))


def _load(text: str) -> Config:
    value: Config = json.loads(text)
    return value
