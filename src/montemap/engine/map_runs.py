"""Map Run records: what DescribeMapRun, ListMapRuns and UpdateMapRun report and change."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from montemap.engine.db import Database
from montemap.errors import ApiError

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
    tolerated_failure_count INTEGER NOT NULL DEFAULT 0,
    tolerated_failure_percentage REAL NOT NULL DEFAULT 0,
    counts TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS map_runs_by_execution ON map_runs(execution_arn, seq);
"""


@dataclass
class MapRunCounts:
    """Item and child-execution counters of one Map Run (kept in memory, saved often)."""

    items: dict[str, int] = field(default_factory=lambda: _zero())
    executions: dict[str, int] = field(default_factory=lambda: _zero())

    def total(self, n_items: int) -> None:
        self.items["total"] = n_items

    def started(self, n_items: int) -> None:
        self.items["running"] += n_items
        self.items["pending"] = max(0, self.items["total"] - self._closed_or_running(self.items))
        self.executions["running"] += 1
        self.executions["total"] += 1

    def resumed(self, n_items: int) -> None:
        pass

    def finished(self, status: str, n_items: int) -> None:
        key = {
            "SUCCEEDED": "succeeded",
            "FAILED": "failed",
            "TIMED_OUT": "timedOut",
            "ABORTED": "aborted",
        }.get(status, "failed")
        self.items["running"] = max(0, self.items["running"] - n_items)
        self.items[key] += n_items
        self.executions["running"] = max(0, self.executions["running"] - 1)
        self.executions[key] += 1

    @property
    def items_failed(self) -> int:
        return self.items["failed"] + self.items["timedOut"] + self.items["aborted"]

    @staticmethod
    def _closed_or_running(c: dict[str, int]) -> int:
        return c["running"] + c["succeeded"] + c["failed"] + c["timedOut"] + c["aborted"]

    def finalize(self) -> None:
        for c in (self.items, self.executions):
            c["pending"] = 0
            c["resultsWritten"] = c["succeeded"] + c["failed"] + c["timedOut"] + c["aborted"]
            c["failuresNotRedrivable"] = 0
            c["pendingRedrive"] = 0


def _zero() -> dict[str, int]:
    return {
        k: 0
        for k in (
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
    }


class MapRunStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(SCHEMA)
        self._counts: dict[str, MapRunCounts] = {}

    def create(
        self,
        arn: str,
        *,
        execution_arn: str,
        state_name: str,
        max_concurrency: int,
        tolerated_failure_count: int,
        tolerated_failure_percentage: float,
        now: datetime,
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO map_runs (arn, execution_arn, state_name, status, start_date,"
                " max_concurrency, tolerated_failure_count, tolerated_failure_percentage)"
                " VALUES (?, ?, ?, 'RUNNING', ?, ?, ?, ?)",
                (
                    arn,
                    execution_arn,
                    state_name,
                    now.timestamp(),
                    max_concurrency,
                    tolerated_failure_count,
                    tolerated_failure_percentage,
                ),
            )

    def _get(self, arn: str) -> dict[str, Any]:
        row = self.db.query_one("SELECT * FROM map_runs WHERE arn = ?", (arn,))
        if row is None:
            raise ApiError("ResourceNotFound", f"Map Run Does Not Exist: '{arn}'")
        return dict(row)

    def counts(self, arn: str) -> MapRunCounts:
        if arn not in self._counts:
            raw = json.loads(self._get(arn)["counts"])
            self._counts[arn] = MapRunCounts(**raw) if raw else MapRunCounts()
        return self._counts[arn]

    def save_counts(self, arn: str, counts: MapRunCounts) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE map_runs SET counts = ? WHERE arn = ?", (json.dumps(asdict(counts)), arn)
            )

    def max_concurrency(self, arn: str) -> int:
        value = int(self._get(arn)["max_concurrency"])
        return value if value > 0 else 10_000

    def children(self, arn: str) -> dict[int, str]:
        """Child executions already started, by item index (from their names)."""
        out: dict[int, str] = {}
        for r in self.db.query("SELECT arn, name FROM executions WHERE map_run_arn = ?", (arn,)):
            try:
                out[int(r["name"].rsplit("-", 1)[1])] = r["arn"]
            except (IndexError, ValueError):
                continue
        return out

    def finish(self, arn: str, status: str, now: datetime) -> None:
        counts = self.counts(arn)
        counts.finalize()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE map_runs SET status = ?, stop_date = ?, counts = ? WHERE arn = ?",
                (status, now.timestamp(), json.dumps(asdict(counts)), arn),
            )
        self._counts.pop(arn, None)

    def describe(self, arn: str) -> dict[str, Any]:
        row = self._get(arn)
        counts = self._counts.get(arn) or MapRunCounts(**(json.loads(row["counts"]) or {}))
        out: dict[str, Any] = {
            "mapRunArn": row["arn"],
            "executionArn": row["execution_arn"],
            "status": row["status"],
            "startDate": datetime.fromtimestamp(row["start_date"], UTC),
            "maxConcurrency": row["max_concurrency"],
            "toleratedFailurePercentage": row["tolerated_failure_percentage"],
            "toleratedFailureCount": row["tolerated_failure_count"],
            "itemCounts": counts.items,
            "executionCounts": counts.executions,
            "redriveCount": 0,
        }
        if row["stop_date"] is not None:
            out["stopDate"] = datetime.fromtimestamp(row["stop_date"], UTC)
        return out

    def list(self, execution_arn: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT * FROM map_runs WHERE execution_arn = ? ORDER BY seq", (execution_arn,)
        )
        return [
            {
                "executionArn": r["execution_arn"],
                "mapRunArn": r["arn"],
                "stateMachineArn": "",
                "startDate": datetime.fromtimestamp(r["start_date"], UTC),
                **(
                    {"stopDate": datetime.fromtimestamp(r["stop_date"], UTC)}
                    if r["stop_date"]
                    else {}
                ),
            }
            for r in rows
        ]

    def update(
        self,
        arn: str,
        *,
        max_concurrency: int | None,
        tolerated_failure_count: int | None,
        tolerated_failure_percentage: float | None,
    ) -> None:
        self._get(arn)
        sets: dict[str, Any] = {}
        if max_concurrency is not None:
            sets["max_concurrency"] = max_concurrency
        if tolerated_failure_count is not None:
            sets["tolerated_failure_count"] = tolerated_failure_count
        if tolerated_failure_percentage is not None:
            sets["tolerated_failure_percentage"] = tolerated_failure_percentage
        if sets:
            with self.db.transaction() as conn:
                conn.execute(
                    f"UPDATE map_runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE arn = ?",
                    (*sets.values(), arn),
                )
