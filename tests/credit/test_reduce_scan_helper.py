"""The first pass in two processes (a forked helper reads the last batches) gives what one
process gives, bit for bit, meets the same errors, and never leaves its helper behind."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from montemap.credit import reduce_fork, reduce_scan
from montemap.credit.params import RunParams
from montemap.credit.quality import DuplicateAccountError
from montemap.credit.reduce import reduce_run
from montemap.credit.reduce_scan import (
    AccountSpill,
    ReduceError,
    Scan,
    _start_helper,
    id_array,
    open_spill_dir,
    scan_batches,
)
from montemap.credit.simulate import _run_tape_batch, read_tape
from montemap.engine.lambdas import FunctionRegistry
from montemap.storage import LocalObjectStore
from montemap.storage.s3 import S3ObjectStore
from montemap.testing import eventually
from tests.credit.helpers import csv_bytes, portfolio, record

AS_OF = dt.date(2026, 11, 27)
PARAMS = RunParams(
    output_bucket="res", output_prefix="run", paths=50, seed=3, as_of=AS_OF,
    shocks_bp=(0, 200),
)  # fmt: skip
BATCHES, SIZE = 40, 10


def _tape(root: Path, rows: list[dict[str, str]]) -> tuple[LocalObjectStore, list[str]]:
    """A loan tape in batches of ``SIZE`` rows (keys ``tape.csv#1``, ``#10``...: the
    batches' key ranges overlap)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "tape.csv"
    path.write_bytes(csv_bytes(rows, [*portfolio(1)[0].keys(), "NOI"]))
    records = read_tape(path)
    ids = []
    for start in range(0, len(records), SIZE):
        batch_id = f"rows-{start:06d}"
        _run_tape_batch(records[start : start + SIZE], PARAMS, batch_id, str(root / "work"))
        ids.append(batch_id)
    return LocalObjectStore(root / "work"), ids


def _rows() -> list[dict[str, str]]:
    rows = portfolio(BATCHES * SIZE, seed=8)
    rows[3] = record(AccountID="3", Rate="abc")  # rejected, on this process's side
    rows[-4] = record(AccountID="4", Rate="abc")  # and on the helper's
    for i in (7, BATCHES * SIZE - 7):  # matured on both sides
        rows[i] = record(AccountID=str(900_000 + i), LoanTerm="12", OriginationDate="01/01/2010")
    return rows


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalObjectStore, list[str]]:
    return _tape(tmp_path_factory.mktemp("book"), _rows())


@pytest.fixture
def helper_from(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(reduce_scan, "HELPER_BATCHES", 2)
    yield


def _after_the_helper(take_front: Any) -> Any:
    """``Split.take_front`` that, for the first position, waits until the helper has taken
    one (or given up): on a busy machine this process could otherwise read every batch
    before the forked helper is scheduled, and the tests could not see both sides."""

    def first_waits(split: reduce_fork.Split, position: int) -> bool:
        deadline = time.monotonic() + 60
        while position == 0 and time.monotonic() < deadline:
            _, back, given_up = reduce_fork._STATE.unpack_from(split._map)
            if back < split.count or given_up:
                break
            time.sleep(0.002)
        return bool(take_front(split, position))

    return first_waits


def _scan(store: LocalObjectStore, ids: list[str], helper: bool) -> tuple[Scan, list[Any]]:
    """The first pass, with or without a helper (which then reads at least one batch);
    the scan and the spill's repeats."""
    saved = reduce_scan.HELPER_BATCHES
    take_front = reduce_fork.Split.take_front
    reduce_scan.HELPER_BATCHES = 2 if helper else len(ids) + 1
    reduce_fork.Split.take_front = _after_the_helper(take_front)  # type: ignore[method-assign]
    try:
        with open_spill_dir() as scratch:
            spill = AccountSpill(Path(scratch), len(ids))
            scan = scan_batches(store, PARAMS, id_array(ids), spill)
            repeats = sorted(r.tobytes() for part in spill.repeats() for r in part)
    finally:
        reduce_scan.HELPER_BATCHES = saved
        reduce_fork.Split.take_front = take_front  # type: ignore[method-assign]
    return scan, repeats


def _figures(scan: Scan) -> tuple[Any, ...]:
    b = scan.batches
    return (
        scan.loss.tobytes(),
        scan.defaults.tobytes(),
        scan.quality,
        scan.rejected,
        b.rows.tobytes(),
        b.distinct.tobytes(),
        b.low.to_pylist(),
        b.high.to_pylist(),
        b.key_order().tolist(),
    )


def test_two_processes_scan_as_one(book: tuple[LocalObjectStore, list[str]]) -> None:
    store, ids = book
    one, one_repeats = _scan(store, ids, helper=False)
    two, two_repeats = _scan(store, ids, helper=True)
    assert one.helped == 0 and 0 < two.helped < len(ids)
    assert _figures(two) == _figures(one)
    assert two_repeats == one_repeats
    assert one.rejected == 2 and one.quality.matured_count == 2 and one.quality.examples


def test_a_helper_forked_from_another_thread(book: tuple[LocalObjectStore, list[str]]) -> None:
    store, ids = book
    one, _ = _scan(store, ids, helper=False)
    scans: list[Scan] = []
    thread = threading.Thread(target=lambda: scans.append(_scan(store, ids, helper=True)[0]))
    thread.start()
    thread.join()
    assert scans[0].helped > 0 and _figures(scans[0]) == _figures(one)


def test_run_files_byte_identical(book: tuple[LocalObjectStore, list[str]], tmp_path: Path) -> None:
    store, ids = book
    saved = reduce_scan.HELPER_BATCHES
    try:
        for name, helper_from in (("one", len(ids) + 1), ("two", 2)):
            reduce_scan.HELPER_BATCHES = helper_from
            reduce_run(store, PARAMS, ids, out_dir=tmp_path / name)
    finally:
        reduce_scan.HELPER_BATCHES = saved
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert "loans.parquet" in names and names == sorted(
        p.name for p in (tmp_path / "two").iterdir()
    )
    for name in names:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_repeated_accounts_across_the_sides_named_as_by_one_process(
    tmp_path: Path, helper_from: None
) -> None:
    rows = _rows()
    last = len(rows) - 1
    for i, j in ((0, last), (1, last - 1), (SIZE, SIZE + 1)):  # across, and on one side
        rows[j]["AccountID"] = rows[i]["AccountID"]
    store, ids = _tape(tmp_path, rows)
    messages = []
    for helper in (False, True):
        scan, _ = _scan(store, ids, helper)
        assert (scan.helped > 0) == helper
        with pytest.raises(DuplicateAccountError) as caught:
            reduce_run(store, PARAMS, ids, out_dir=tmp_path / f"out-{helper}")
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "3 AccountIDs appear more than once" in messages[0]


class _Watched(LocalObjectStore):
    """The batch outputs, with the reads of the helper process (any process but the one
    that made this store) made visible: at its read number ``at`` its id is written to
    ``marker`` and, by ``helper_does``, it reads on (``"read"``), blocks forever
    (``"block"``) or is killed (``"die"``). With ``wait``, this process's reads wait for
    the marker (so the helper surely reads that far)."""

    def __init__(
        self, root: Path, marker: Path, helper_does: str, *, at: int = 1, wait: bool = False
    ) -> None:
        super().__init__(root)
        self.parent, self.marker, self.helper_does = os.getpid(), marker, helper_does
        self.at, self.wait = at, wait
        self.reads = 0

    def get(self, bucket: str, key: str) -> bytes:
        if os.getpid() == self.parent:
            if self.wait:
                eventually(self.marker.exists, timeout=60, what="the helper's reads")
            return super().get(bucket, key)
        self.reads += 1
        if self.reads == self.at:
            partial = self.marker.with_name("partial")
            partial.write_text(str(os.getpid()))
            partial.rename(self.marker)
            if self.helper_does == "block":
                time.sleep(3600)
            if self.helper_does == "die":
                os.kill(os.getpid(), signal.SIGKILL)
        return super().get(bucket, key)


def _reaped(pid: int) -> bool:
    """Whether the child ``pid`` was waited for (else it is killed: no test leaves it)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # not a child any more: waited for
    _kill(pid)
    return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_helper_killed_midway_leaves_its_batches_to_this_process(
    book: tuple[LocalObjectStore, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ids = book
    one, one_repeats = _scan(store, ids, helper=False)
    # killed in its third batch (two gets a batch), its AccountIDs of two written
    monkeypatch.setattr(reduce_scan, "SPILL_RECORDS", 1)
    watched = _Watched(store.root, tmp_path / "helper", "die", at=5, wait=True)
    two, two_repeats = _scan(watched, ids, helper=True)
    assert _reaped(int((tmp_path / "helper").read_text()))
    assert two.helped == 0
    assert _figures(two) == _figures(one) and two_repeats == one_repeats


def test_a_hung_helper_is_killed_and_its_batches_read_here(
    book: tuple[LocalObjectStore, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ids = book
    one, one_repeats = _scan(store, ids, helper=False)
    monkeypatch.setattr(reduce_fork, "PATIENCE", 0.2)  # it never ends: any wait will do
    watched = _Watched(store.root, tmp_path / "helper", "block", wait=True)
    two, two_repeats = _scan(watched, ids, helper=True)
    assert _reaped(int((tmp_path / "helper").read_text()))
    assert two.helped == 0
    assert _figures(two) == _figures(one) and two_repeats == one_repeats


def _corrupt(root: Path, copy: Path, ids: list[str], position: int) -> Path:
    """A copy (in ``copy``) of the batches whose batch at ``position`` has an unreadable
    paths.npz."""
    for batch_id in ids:
        folder = Path(PARAMS.batch_key(batch_id, ""))
        (copy / "res" / folder).mkdir(parents=True)
        for f in (Path(str(root)) / "res" / folder).iterdir():
            os.link(f, copy / "res" / folder / f.name)
    npz = copy / "res" / PARAMS.batch_key(ids[position], "paths.npz")
    npz.unlink()
    npz.write_bytes(b"PK\x03\x04 not a zip")
    return copy


@pytest.mark.parametrize("where", ["first", "last"])
def test_an_unreadable_batch_fails_as_in_one_process(
    book: tuple[LocalObjectStore, list[str]], tmp_path: Path, where: str
) -> None:
    store, ids = book
    position = 0 if where == "first" else len(ids) - 1
    copy = _corrupt(store.root, tmp_path / "copy", ids, position)
    messages = []
    for helper in (False, True):
        # the helper's reads go on (the last batch is its first) or, while this process
        # meets the first batch, block: it is killed then
        watched = _Watched(
            copy, tmp_path / f"helper-{helper}", "read" if where == "last" else "block", wait=helper
        )
        with pytest.raises(ReduceError) as caught:
            _scan(watched, ids, helper)
        messages.append(str(caught.value))
        if helper:
            assert _reaped(int((tmp_path / f"helper-{helper}").read_text()))
    assert messages[0] == messages[1] and ids[position] in messages[0]


_KILLED = """
import sys
from pathlib import Path
from montemap.credit import reduce_fork, reduce_scan
from montemap.credit.reduce_scan import AccountSpill, id_array, open_spill_dir, scan_batches
from tests.credit.test_reduce_scan_helper import PARAMS, _Watched
root, marker, ids = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
reduce_scan.HELPER_BATCHES = 2
store = _Watched(root, marker, "block", wait=True)
with open_spill_dir() as scratch:
    scan_batches(store, PARAMS, id_array(ids), AccountSpill(Path(scratch), len(ids)))
"""


def test_a_killed_process_takes_its_helper_along(
    book: tuple[LocalObjectStore, list[str]], tmp_path: Path
) -> None:
    store, ids = book
    marker = tmp_path / "helper"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(store.root), str(marker), *ids], env=env
    )
    try:
        eventually(marker.exists, timeout=60, what="the helper's first read")
        helper = int(marker.read_text())
        proc.kill()
    finally:
        proc.kill()
        proc.wait()

    def gone() -> bool:
        try:
            state = Path(f"/proc/{helper}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state in ("Z", "X")  # ended, not yet waited for by its new parent

    try:
        eventually(gone, timeout=30, what=f"the end of helper {helper}")
    finally:
        _kill(helper)


def test_other_stores_scan_in_one_process(book: tuple[LocalObjectStore, list[str]]) -> None:
    _, ids = book
    s3 = S3ObjectStore(endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    try:
        with open_spill_dir() as scratch:
            spill = AccountSpill(Path(scratch), len(ids))
            assert _start_helper(s3, PARAMS, "x", id_array(ids), spill) is None
    finally:
        s3.close()


def pool_scan(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Runs in the function pool's process: the first pass with a helper."""
    reduce_scan.HELPER_BATCHES = 2
    scan, _ = _scan(LocalObjectStore(event["root"]), event["ids"], helper=True)
    return {"helped": scan.helped, "loss": scan.loss.tolist(), "rows": scan.batches.rows.tolist()}


def test_a_helper_from_the_function_pool_process(
    book: tuple[LocalObjectStore, list[str]],
) -> None:
    store, ids = book
    one, _ = _scan(store, ids, helper=False)
    registry = FunctionRegistry({"Scan": f"{__name__}:pool_scan"})
    try:
        event = {"root": str(store.root), "ids": ids}
        payload, error = asyncio.run(registry.invoke("Scan", event, {}))
    finally:
        registry.close()
    assert error is None, payload
    assert 0 < payload["helped"] < len(ids)
    assert np.array_equal(np.array(payload["loss"]), one.loss)
    assert np.array_equal(np.array(payload["rows"]), one.batches.rows)
