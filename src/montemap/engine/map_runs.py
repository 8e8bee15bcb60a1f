"""Map Run records: what DescribeMapRun, ListMapRuns and UpdateMapRun report and change.

A Map Run's row holds its settings (MaxConcurrency and the tolerated failure
thresholds), its status and its counters. While a Map Run is driven, its
:class:`MapRunControl` lives in memory: the driver reads the settings from it
for every child it starts, and :meth:`MapRunStore.update` changes them there
and wakes the driver, so UpdateMapRun takes effect at once.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from montemap.engine.db import Database
from montemap.engine.errors import MapRunDoesNotExist

#: MaxConcurrency 0 means this many children at once (AWS's maximum).
MAX_CONCURRENCY = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS map_runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL UNIQUE,
    execution_arn TEXT NOT NULL,
    state_name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_date REAL NOT NULL,
    stop_date REAL,
    max_concurrency INTEGER NOT NULL,
    tolerated_failure_count INTEGER,
    tolerated_failure_percentage REAL,
    counts TEXT NOT NULL DEFAULT '{}',
    state_machine_arn TEXT NOT NULL DEFAULT '',
    redrive_count INTEGER NOT NULL DEFAULT 0,
    redrive_date REAL
);
CREATE INDEX IF NOT EXISTS map_runs_by_execution ON map_runs(execution_arn, seq);
"""

#: Columns added after the first schema, for databases created before them.
_ADDED_COLUMNS = {
    "state_machine_arn": "TEXT NOT NULL DEFAULT ''",
    "redrive_count": "INTEGER NOT NULL DEFAULT 0",
    "redrive_date": "REAL",
}

#: Map Run statuses from which the parent's redrive restarts the Map Run.
REDRIVABLE = ("FAILED", "ABORTED")

_COUNTER_NAMES = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "timedOut",
    "aborted",
    "total",
    "resultsWritten",
    "failuresNotRedrivable",
    "pendingRedrive",
)

#: Child execution status -> counter.
_STATUS_KEY = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "TIMED_OUT": "timedOut",
    "ABORTED": "aborted",
}


def _zero() -> dict[str, int]:
    return dict.fromkeys(_COUNTER_NAMES, 0)


@dataclass
class MapRunCounts:
    """Item and child-execution counters of one Map Run (kept in memory, saved often).

    ``pending`` is what the reader has produced that no child has taken yet.
    """

    items: dict[str, int] = field(default_factory=_zero)
    executions: dict[str, int] = field(default_factory=_zero)

    @classmethod
    def from_json(cls, text: str | None) -> MapRunCounts:
        raw = json.loads(text or "{}") or {}
        counts = cls()
        for name, target in (("items", counts.items), ("executions", counts.executions)):
            for key, value in (raw.get(name) or {}).items():
                if key in target and isinstance(value, int):
                    target[key] = value
        return counts

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def seen(self, n_items: int) -> None:
        """The reader produced ``n_items`` more items (one child's worth)."""
        self.items["total"] += n_items
        self.items["pending"] += n_items
        self.executions["total"] += 1
        self.executions["pending"] += 1

    def started(self, n_items: int) -> None:
        self.items["pending"] -= n_items
        self.items["running"] += n_items
        self.executions["pending"] -= 1
        self.executions["running"] += 1

    def finished(self, status: str, n_items: int, *, was_running: bool = True) -> None:
        key = _STATUS_KEY.get(status, "failed")
        source = "running" if was_running else "pending"
        self.items[source] -= n_items
        self.executions[source] -= 1
        self.items[key] += n_items
        self.executions[key] += 1
        self.items["resultsWritten"] += n_items
        self.executions["resultsWritten"] += 1

    def abort_running(self) -> None:
        """The Map Run was aborted with its parent: the children running count as aborted."""
        for counters in (self.items, self.executions):
            counters["aborted"] += counters["running"]
            counters["running"] = 0

    @property
    def items_failed(self) -> int:
        return self.items["failed"] + self.items["timedOut"] + self.items["aborted"]


@dataclass
class MapRunControl:
    """The live settings of a Map Run being driven; ``changed`` fires on UpdateMapRun."""

    max_concurrency: int
    tolerated_count: int | None
    tolerated_percentage: float | None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def limit(self) -> int:
        """Children allowed at once (MaxConcurrency 0 means AWS's maximum)."""
        return self.max_concurrency if self.max_concurrency > 0 else MAX_CONCURRENCY

    def exceeded(self, failed: int, total: int, *, final: bool) -> bool:
        """Whether ``failed`` of ``total`` items passes the tolerated thresholds.

        With no threshold set any failure is too many. The percentage is only
        decided once the reader is exhausted (``final``): before that the
        total is not known.
        """
        if self.tolerated_count is None and self.tolerated_percentage is None:
            return failed > 0
        if self.tolerated_count is not None and failed > self.tolerated_count:
            return True
        if self.tolerated_percentage is not None and final:
            return failed * 100.0 / max(total, 1) > self.tolerated_percentage
        return False


def _date(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class MapRunStore:
    """Map Run rows, their live controls and their in-memory counters."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(SCHEMA)
        have = {r["name"] for r in db.query("PRAGMA table_info(map_runs)")}
        for column, decl in _ADDED_COLUMNS.items():
            if column not in have:
                with db.transaction() as conn:
                    conn.execute(f"ALTER TABLE map_runs ADD COLUMN {column} {decl}")
        self._counts: dict[str, MapRunCounts] = {}
        self._live: dict[str, MapRunControl] = {}

    # ------------------------------------------------------------------ lifecycle
    def create(
        self,
        arn: str,
        *,
        execution_arn: str,
        state_machine_arn: str,
        state_name: str,
        max_concurrency: int,
        tolerated_failure_count: int | None,
        tolerated_failure_percentage: float | None,
        now: datetime,
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO map_runs (arn, execution_arn, state_machine_arn, state_name, status,"
                " start_date, max_concurrency, tolerated_failure_count,"
                " tolerated_failure_percentage) VALUES (?, ?, ?, ?, 'RUNNING', ?, ?, ?, ?)",
                (
                    arn,
                    execution_arn,
                    state_machine_arn,
                    state_name,
                    now.timestamp(),
                    max_concurrency,
                    tolerated_failure_count,
                    tolerated_failure_percentage,
                ),
            )

    def get(self, arn: str) -> dict[str, Any]:
        row = self.db.query_one("SELECT * FROM map_runs WHERE arn = ?", (arn,))
        if row is None:
            raise MapRunDoesNotExist(arn)
        return dict(row)

    def open(self, arn: str) -> MapRunControl:
        """The live control of a Map Run about to be driven (from its stored settings)."""
        row = self.get(arn)
        control = MapRunControl(
            max_concurrency=int(row["max_concurrency"]),
            tolerated_count=row["tolerated_failure_count"],
            tolerated_percentage=row["tolerated_failure_percentage"],
        )
        self._live[arn] = control
        return control

    def close(self, arn: str) -> None:
        """The driver stopped (finished, failed or cancelled)."""
        self._live.pop(arn, None)
        self._counts.pop(arn, None)

    def redrive(self, arn: str, now: datetime) -> int:
        """Mark a FAILED or ABORTED Map Run RUNNING again; its new redrive count."""
        row = self.get(arn)
        count = int(row["redrive_count"]) + 1
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE map_runs SET status = 'RUNNING', stop_date = NULL, redrive_count = ?,"
                " redrive_date = ? WHERE arn = ?",
                (count, now.timestamp(), arn),
            )
        return count

    def finish(self, arn: str, status: str, now: datetime, counts: MapRunCounts) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE map_runs SET status = ?, stop_date = ?, counts = ? WHERE arn = ?",
                (status, now.timestamp(), counts.to_json(), arn),
            )
        self.close(arn)

    # ------------------------------------------------------------------ counters
    def track(self, arn: str, counts: MapRunCounts) -> None:
        """Report ``counts`` (the driver's live counters) in DescribeMapRun."""
        self._counts[arn] = counts

    def save_counts(self, arn: str, counts: MapRunCounts) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE map_runs SET counts = ? WHERE arn = ?", (counts.to_json(), arn))

    # ------------------------------------------------------------------ API
    def describe(self, arn: str) -> dict[str, Any]:
        row = self.get(arn)
        counts = self._counts.get(arn) or MapRunCounts.from_json(row["counts"])
        out: dict[str, Any] = {
            "mapRunArn": row["arn"],
            "executionArn": row["execution_arn"],
            "status": row["status"],
            "startDate": _date(row["start_date"]),
            "maxConcurrency": row["max_concurrency"],
            "toleratedFailurePercentage": float(row["tolerated_failure_percentage"] or 0.0),
            "toleratedFailureCount": int(row["tolerated_failure_count"] or 0),
            "itemCounts": {k: max(0, v) for k, v in counts.items.items()},
            "executionCounts": {k: max(0, v) for k, v in counts.executions.items()},
            "redriveCount": row["redrive_count"],
        }
        if row["stop_date"] is not None:
            out["stopDate"] = _date(row["stop_date"])
        if row["redrive_date"] is not None:
            out["redriveDate"] = _date(row["redrive_date"])
        return out

    def list(
        self, execution_arn: str, *, after_seq: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """Map Runs of an execution, oldest first, after ``after_seq``; each with ``seq``."""
        rows = self.db.query(
            "SELECT * FROM map_runs WHERE execution_arn = ? AND seq > ? ORDER BY seq LIMIT ?",
            (execution_arn, after_seq or 0, limit),
        )
        out = []
        for r in rows:
            item: dict[str, Any] = {
                "seq": r["seq"],
                "executionArn": r["execution_arn"],
                "mapRunArn": r["arn"],
                "stateMachineArn": r["state_machine_arn"],
                "startDate": _date(r["start_date"]),
            }
            if r["stop_date"] is not None:
                item["stopDate"] = _date(r["stop_date"])
            out.append(item)
        return out

    def update(
        self,
        arn: str,
        *,
        max_concurrency: int | None,
        tolerated_failure_count: int | None,
        tolerated_failure_percentage: float | None,
    ) -> None:
        """UpdateMapRun: store the new settings and apply them to a running driver."""
        self.get(arn)
        sets: dict[str, Any] = {}
        if max_concurrency is not None:
            sets["max_concurrency"] = max_concurrency
        if tolerated_failure_count is not None:
            sets["tolerated_failure_count"] = tolerated_failure_count
        if tolerated_failure_percentage is not None:
            sets["tolerated_failure_percentage"] = tolerated_failure_percentage
        if not sets:
            return
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE map_runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE arn = ?",
                (*sets.values(), arn),
            )
        control = self._live.get(arn)
        if control is not None:
            if max_concurrency is not None:
                control.max_concurrency = max_concurrency
            if tolerated_failure_count is not None:
                control.tolerated_count = tolerated_failure_count
            if tolerated_failure_percentage is not None:
                control.tolerated_percentage = tolerated_failure_percentage
            control.changed.set()
