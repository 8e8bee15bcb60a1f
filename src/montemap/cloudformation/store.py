"""Stacks, their resources, events, exports and change sets, kept in the shared SQLite database.

Tables are prefixed ``cfn_``. Rows hold JSON documents in the shapes the API
answers with, so a restarted server describes the same stacks.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from montemap.engine.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS cfn_stacks (
    stack_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cfn_stacks_name ON cfn_stacks (name, deleted);
CREATE TABLE IF NOT EXISTS cfn_resources (
    stack_id TEXT NOT NULL,
    logical_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (stack_id, logical_id)
);
CREATE TABLE IF NOT EXISTS cfn_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stack_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cfn_events_stack ON cfn_events (stack_id, seq);
CREATE TABLE IF NOT EXISTS cfn_exports (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    stack_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cfn_change_sets (
    change_set_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    stack_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
"""

Doc = dict[str, Any]


def now() -> float:
    return time.time()


class StackStore:
    """Reads and writes the ``cfn_`` tables; documents in, documents out."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(SCHEMA)

    # ------------------------------------------------------------------ stacks

    def put_stack(self, stack: Doc) -> None:
        deleted = int(stack["StackStatus"] == "DELETE_COMPLETE")
        self.db.statement(
            "INSERT OR REPLACE INTO cfn_stacks (stack_id, name, status, deleted, doc)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                stack["StackId"],
                stack["StackName"],
                stack["StackStatus"],
                deleted,
                json.dumps(stack),
            ),
        )

    def stack(self, name_or_id: str, *, include_deleted: bool = False) -> Doc | None:
        """The live stack of that name, or the stack of that id (deleted ones only by id)."""
        row = self.db.query_one(
            "SELECT doc FROM cfn_stacks WHERE stack_id = ?", (name_or_id,)
        ) or self.db.query_one(
            "SELECT doc FROM cfn_stacks WHERE name = ? AND deleted = 0", (name_or_id,)
        )
        if row is None:
            return None
        doc: Doc = json.loads(row["doc"])
        if doc["StackStatus"] == "DELETE_COMPLETE" and not include_deleted:
            return None
        return doc

    def stacks(self, *, include_deleted: bool = False) -> list[Doc]:
        sql = "SELECT doc FROM cfn_stacks"
        if not include_deleted:
            sql += " WHERE deleted = 0"
        return [json.loads(r["doc"]) for r in self.db.query(sql + " ORDER BY rowid")]

    # ------------------------------------------------------------------ resources

    def put_resource(self, stack_id: str, resource: Doc) -> None:
        self.db.statement(
            "INSERT OR REPLACE INTO cfn_resources (stack_id, logical_id, doc) VALUES (?, ?, ?)",
            (stack_id, resource["LogicalResourceId"], json.dumps(resource)),
        )

    def drop_resource(self, stack_id: str, logical_id: str) -> None:
        self.db.statement(
            "DELETE FROM cfn_resources WHERE stack_id = ? AND logical_id = ?",
            (stack_id, logical_id),
        )

    def resources(self, stack_id: str) -> list[Doc]:
        rows = self.db.query(
            "SELECT doc FROM cfn_resources WHERE stack_id = ? ORDER BY rowid", (stack_id,)
        )
        return [json.loads(r["doc"]) for r in rows]

    # ------------------------------------------------------------------ events

    def add_event(
        self,
        stack: Doc,
        logical_id: str,
        resource_type: str,
        status: str,
        *,
        physical_id: str = "",
        reason: str = "",
        properties: Any = None,
    ) -> None:
        event: Doc = {
            "StackId": stack["StackId"],
            "EventId": str(uuid.uuid4()),
            "StackName": stack["StackName"],
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": physical_id,
            "ResourceType": resource_type,
            "Timestamp": now(),
            "ResourceStatus": status,
        }
        if reason:
            event["ResourceStatusReason"] = reason
        if properties is not None:
            event["ResourceProperties"] = json.dumps(properties)
        self.db.statement(
            "INSERT INTO cfn_events (stack_id, doc) VALUES (?, ?)",
            (stack["StackId"], json.dumps(event)),
        )

    def events(self, stack_id: str) -> list[Doc]:
        """Newest first, as DescribeStackEvents lists them."""
        rows = self.db.query(
            "SELECT doc FROM cfn_events WHERE stack_id = ? ORDER BY seq DESC", (stack_id,)
        )
        return [json.loads(r["doc"]) for r in rows]

    # ------------------------------------------------------------------ exports

    def exports(self) -> dict[str, tuple[str, str]]:
        """Export name -> (value, exporting stack id)."""
        rows = self.db.query("SELECT name, value, stack_id FROM cfn_exports ORDER BY name")
        return {r["name"]: (r["value"], r["stack_id"]) for r in rows}

    def set_exports(self, stack_id: str, exports: dict[str, str]) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM cfn_exports WHERE stack_id = ?", (stack_id,))
            conn.executemany(
                "INSERT INTO cfn_exports (name, value, stack_id) VALUES (?, ?, ?)",
                [(name, value, stack_id) for name, value in exports.items()],
            )

    # ------------------------------------------------------------------ change sets

    def put_change_set(self, change_set: Doc) -> None:
        self.db.statement(
            "INSERT OR REPLACE INTO cfn_change_sets (change_set_id, name, stack_id, doc)"
            " VALUES (?, ?, ?, ?)",
            (
                change_set["ChangeSetId"],
                change_set["ChangeSetName"],
                change_set["StackId"],
                json.dumps(change_set),
            ),
        )

    def change_set(self, name_or_id: str, stack_id: str | None) -> Doc | None:
        row = self.db.query_one(
            "SELECT doc FROM cfn_change_sets WHERE change_set_id = ?", (name_or_id,)
        )
        if row is None and stack_id is not None:
            row = self.db.query_one(
                "SELECT doc FROM cfn_change_sets WHERE name = ? AND stack_id = ?",
                (name_or_id, stack_id),
            )
        return json.loads(row["doc"]) if row else None

    def change_sets(self, stack_id: str) -> list[Doc]:
        rows = self.db.query(
            "SELECT doc FROM cfn_change_sets WHERE stack_id = ? ORDER BY rowid", (stack_id,)
        )
        return [json.loads(r["doc"]) for r in rows]

    def drop_change_set(self, change_set_id: str) -> None:
        self.db.statement("DELETE FROM cfn_change_sets WHERE change_set_id = ?", (change_set_id,))

    def drop_change_sets(self, stack_id: str) -> None:
        self.db.statement("DELETE FROM cfn_change_sets WHERE stack_id = ?", (stack_id,))
