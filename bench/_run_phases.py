"""The phases of one ``montemap run``, and the server's CPU in its Distributed Map phase.

``run``'s wall time over ``simulate``'s is decided in the map phase: the machine is busy
there (no idle core to fill), so every second of the embedded server's CPU is taken from
the workers. :func:`run_phases` reads the run's execution history (the data directory's
database, after the command ended) for the phase boundaries and a timeline of samples
taken while it ran (the command's process CPU, which holds the server, and the machine's
busy CPU) for the CPU spent in each:

* ``startup_s``: the command's start to ExecutionStarted (imports, the server, the
  state machines);
* ``before_map_s``: to the first Distributed Map child's start (partitions, scaling out);
* ``map_s``: the first child's start to the last child's end;
* ``reduce_s``: the "Reduce and Report" state (the reduction and the report);
* ``end_s``: the execution's end to the command's (``run.json``, stopping the server);
* ``server_cpu_map_s`` and ``server_ms_per_batch``: the command's process CPU over the
  map phase (its server thread, mostly), and per child;
* ``server_share_of_map``: that CPU over the machine's busy CPU in the map phase (the
  part of the phase ``simulate`` does not spend: ~0.18 means the map phase of ``run``
  takes ~1/(1-0.18) of the same work without a server).

A sample is ``(epoch seconds, command's user+system CPU, machine busy CPU)``; values at a
moment are those of the last sample at or before it (samples are ~0.2 s apart, so each
figure is within one interval).
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Sample", "history_marks", "phases_from", "run_phases"]

#: (epoch seconds, the command's process CPU seconds, the machine's busy CPU seconds)
Sample = tuple[float, float, float]

#: The state whose Entered/Exited events bound the reduce phase.
REDUCE_STATE = "Reduce and Report"
_REDUCE_BOUNDS = {"TaskStateEntered": "reduce_from", "TaskStateExited": "reduce_to"}


def _named(details: str, name: str) -> bool:
    """Whether an event's details (JSON) name the state ``name``."""
    value = json.loads(details)
    return isinstance(value, dict) and value.get("name") == name


def history_marks(database: Path, name: str) -> dict[str, float] | None:
    """Epoch seconds of the run's phase boundaries, from its history in ``database``
    (None when the execution is not there). Read only."""
    uri = f"file:{database}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        found = conn.execute(
            "SELECT arn FROM executions WHERE name = ? AND parent_arn IS NULL", (name,)
        ).fetchone()
        if found is None:
            return None
        arn = found[0]
        marks: dict[str, float] = {}
        for kind, stamp, details in conn.execute(
            "SELECT type, timestamp, details FROM events WHERE execution_arn = ? ORDER BY id",
            (arn,),
        ):
            if kind == "ExecutionStarted":
                marks["started"] = stamp
            elif kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted"):
                marks["ended"] = stamp
            elif kind in _REDUCE_BOUNDS and details and _named(details, REDUCE_STATE):
                marks[_REDUCE_BOUNDS[kind]] = stamp
        first, last, children = conn.execute(
            "SELECT min(c.start_date), max(c.stop_date), count(*) FROM executions c"
            " JOIN map_runs m ON c.map_run_arn = m.arn WHERE m.execution_arn = ?",
            (arn,),
        ).fetchone()
        if first is not None and last is not None:
            marks.update(map_from=first, map_to=last, children=float(children))
        return marks
    finally:
        conn.close()


def _at(samples: Sequence[Sample], when: float) -> Sample:
    """The last sample at or before ``when`` (the first one before them all)."""
    i = bisect.bisect_right([s[0] for s in samples], when)
    return samples[max(i - 1, 0)]


def phases_from(
    marks: dict[str, float], samples: Sequence[Sample], *, began: float, ended: float
) -> dict[str, Any]:
    """The phases (see the module) from ``marks`` (:func:`history_marks`) and ``samples``;
    ``began`` and ``ended``: the command's start and end (epoch seconds)."""
    out: dict[str, Any] = {}

    def span(name: str, start: str | float, stop: str | float) -> None:
        a = marks.get(start) if isinstance(start, str) else start
        b = marks.get(stop) if isinstance(stop, str) else stop
        if a is not None and b is not None:
            out[name] = round(b - a, 2)

    span("startup_s", began, "started")
    span("before_map_s", "started", "map_from")
    span("map_s", "map_from", "map_to")
    span("reduce_s", "reduce_from", "reduce_to")
    span("end_s", "ended", ended)
    if samples and "map_from" in marks and "map_to" in marks:
        first, last = _at(samples, marks["map_from"]), _at(samples, marks["map_to"])
        server = last[1] - first[1]
        machine = last[2] - first[2]
        out["server_cpu_map_s"] = round(server, 2)
        children = marks.get("children", 0.0)
        if children:
            out["server_ms_per_batch"] = round(1000 * server / children, 2)
        if machine > 0:
            out["server_share_of_map"] = round(server / machine, 3)
    return out


def run_phases(
    database: Path, name: str, samples: Sequence[Sample], *, began: float, ended: float
) -> dict[str, Any]:
    """:func:`phases_from` the history of the run ``name`` in ``database`` (empty when
    the run is not there)."""
    marks = history_marks(database, name)
    if marks is None:
        return {}
    return phases_from(marks, samples, began=began, ended=ended)
