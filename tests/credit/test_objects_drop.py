"""Loan objects dropped from the page cache once read (``objects.drop_after_reading``),
for a portfolio too large to stay cached (``simulate.too_large_to_cache``).

Residency in the page cache is read with ``mincore`` over a mapping of each file, which
reads nothing (a ``RWF_NOWAIT`` probe would itself fetch the page). Files are made cold
for real as in ``test_objects_cold.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from montemap.credit import page_cache
from montemap.credit.batch import handle_batch
from montemap.credit.objects import Item, drop_after_reading, read_objects
from montemap.credit.page_cache import too_large_to_cache
from montemap.credit.params import INVALID_BATCH, BatchInputError, RunParams
from montemap.credit.simulate import _run_store_batch, _run_store_batch_dropping
from montemap.storage import LocalObjectStore
from montemap.workflows.run_command import workers_drop_object_pages
from tests.credit.test_objects_cold import (
    AS_OF,
    _cached_pages,
    _expected,
    _make_cold,
    _path,
    _portfolio,
)


def _resident_count(store: LocalObjectStore, items: list[Item]) -> int:
    return sum(_cached_pages(_path(store, it)) > 0 for it in items)


def _cold_portfolio(tmp_path: Path) -> tuple[LocalObjectStore, list[Item]]:
    store, items = _portfolio(tmp_path)
    _make_cold(store, items)
    if _resident_count(store, items):  # mincore must see what the probe saw
        pytest.skip("mincore reports dropped pages as resident here")
    return store, items


@pytest.mark.parametrize("drop", [True, False])
def test_objects_dropped_once_read_only_when_asked(tmp_path: Path, drop: bool) -> None:
    store, items = _cold_portfolio(tmp_path)
    half = len(items) // 2
    read_objects(store, items[:half])  # cached: the plain path
    drop_after_reading(drop)
    try:
        got = read_objects(store, items)  # the cached half, then the window path
    finally:
        drop_after_reading(False)
    assert _resident_count(store, items) == (0 if drop else len(items))
    assert got == _expected(store, items)


def test_only_a_portfolio_larger_than_half_the_memory_is_dropped() -> None:
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert not too_large_to_cache(500_000 if memory > 8 * 2**30 else 1)
    assert not too_large_to_cache(memory // 2 // 4096)
    assert too_large_to_cache(memory // 2 // 4096 + 1)


def _outputs(work: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(work)): path.read_bytes()
        for path in sorted(work.rglob("*"))
        if path.is_file()
    }


def test_a_simulate_batch_that_drops_its_objects_writes_the_same_bytes(tmp_path: Path) -> None:
    store, items = _cold_portfolio(tmp_path)
    odd = [Item(items[0].bucket, "data/missing.csv"), Item(items[0].bucket, "../escape.csv")]
    params = RunParams(output_bucket="montemap-results", as_of=AS_OF)
    event = {
        "Items": [{"Bucket": it.bucket, "Key": it.key} for it in [*odd, *items]],
        "BatchInput": params.to_batch_input(),
    }
    results = {}
    for drop in (True, False):
        work = tmp_path / f"work-{drop}"
        run = _run_store_batch_dropping if drop else _run_store_batch
        results[drop] = run(event, str(store.root), str(work))
        results[drop].pop("seconds", None)  # the batch's wall time
        assert _resident_count(store, items) == (0 if drop else len(items))
        _make_cold(store, items)
    assert results[True] == results[False] and results[True]["rejected"] == 2
    assert _outputs(tmp_path / "work-True") == _outputs(tmp_path / "work-False")
    read_objects(store, items)  # the switch is off again once the batch is done
    assert _resident_count(store, items) == len(items)


def _batch_event(items: list[Item]) -> dict[str, object]:
    params = RunParams(output_bucket="montemap-results", as_of=AS_OF)
    return {
        "Items": [{"Bucket": it.bucket, "Key": it.key} for it in items],
        "BatchInput": params.to_batch_input(),
    }


@pytest.mark.parametrize(("value", "dropped"), [("1", True), ("0", False), (None, False)])
def test_the_worker_handler_obeys_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, dropped: bool
) -> None:
    store, items = _cold_portfolio(tmp_path)
    if value is None:
        monkeypatch.delenv(page_cache.VARIABLE, raising=False)
    else:
        monkeypatch.setenv(page_cache.VARIABLE, value)
    try:
        result = handle_batch(_batch_event(items), store=store)
    finally:
        drop_after_reading(False)
    assert result["objects"] == len(items) and result["rejected"] == 0
    assert _resident_count(store, items) == (0 if dropped else len(items))


def test_a_bad_value_fails_the_batch_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, items = _portfolio(tmp_path)
    monkeypatch.setenv(page_cache.VARIABLE, "yes")
    with pytest.raises(BatchInputError) as caught:
        handle_batch(_batch_event(items[:3]), store=store)
    assert caught.value.error == INVALID_BATCH
    assert "MONTEMAP_DROP_OBJECT_PAGES must be 0 or 1, not 'yes'" in str(caught.value.cause)


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({page_cache.VARIABLE: ""}, False),
        ({page_cache.VARIABLE: " 0"}, False),
        ({page_cache.VARIABLE: "1"}, True),
        ({page_cache.VARIABLE: "1 "}, True),
    ],
)
def test_drop_requested(environ: dict[str, str], wanted: bool) -> None:
    assert page_cache.drop_requested(environ) is wanted


@pytest.mark.parametrize("value", ["2", "true", "on", "-1"])
def test_drop_requested_refuses_other_values(value: str) -> None:
    with pytest.raises(ValueError, match=page_cache.VARIABLE):
        page_cache.drop_requested({page_cache.VARIABLE: value})


def test_run_sets_the_variable_only_for_a_portfolio_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    huge = memory // page_cache.PAGE_BYTES  # a page each: all the memory
    monkeypatch.delenv(page_cache.VARIABLE, raising=False)
    with workers_drop_object_pages(huge):
        assert os.environ[page_cache.VARIABLE] == "1"
    assert page_cache.VARIABLE not in os.environ  # gone with the run
    with workers_drop_object_pages(1_000):
        assert page_cache.VARIABLE not in os.environ
    monkeypatch.setenv(page_cache.VARIABLE, "0")  # the user's choice stays
    with workers_drop_object_pages(huge):
        assert os.environ[page_cache.VARIABLE] == "0"
    assert os.environ[page_cache.VARIABLE] == "0"


def _cgroups(tmp_path: Path, proc: str, files: dict[str, str]) -> int | None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc").write_text(proc)
    for name, text in files.items():
        path = tmp_path / "cg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return page_cache.memory_bytes(proc_cgroup=tmp_path / "proc", cgroup_root=tmp_path / "cg")


def _machine() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_a_container_s_memory_limit_counts(tmp_path: Path) -> None:
    gib = 2**30
    # cgroup v2 inside a container (its group is the root of what it sees)
    assert _cgroups(tmp_path, "0::/\n", {"memory.max": f"{gib}\n"}) == min(gib, _machine())
    # cgroup v2, a limit on an ancestor of the process's group
    v2 = {"a/memory.max": f"{2 * gib}\n", "a/b/memory.max": "max\n"}
    assert _cgroups(tmp_path / "v2", "0::/a/b\n", v2) == min(2 * gib, _machine())
    # cgroup v1: the memory controller's hierarchy, "no limit" shown as a huge number
    v1 = {"memory/x/memory.limit_in_bytes": f"{3 * gib}\n"}
    v1["memory/x/y/memory.limit_in_bytes"] = "9223372036854771712\n"
    proc = "9:name=systemd:/\n4:cpu,memory:/x/y\n"
    assert _cgroups(tmp_path / "v1", proc, v1) == min(3 * gib, _machine())


def test_without_a_limit_the_machine_s_memory_counts(tmp_path: Path) -> None:
    assert _cgroups(tmp_path, "0::/\n", {"memory.max": "max\n"}) == _machine()
    assert _cgroups(tmp_path / "a", "garbage\n4:memory:/gone\n", {}) == _machine()
    assert _cgroups(tmp_path / "b", "0::/\n", {"memory.max": "lots\n"}) == _machine()
    missing = page_cache.memory_bytes(proc_cgroup=tmp_path / "none", cgroup_root=tmp_path)
    assert missing == _machine()
