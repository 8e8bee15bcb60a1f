"""A large folder's sorted entries are kept between listing pages (listing it was
quadratic), and never at the cost of a stale listing: a write or a deletion after the
folder was cached is seen by the next listing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from montemap.storage import LocalObjectStore, local_walk


@pytest.fixture
def small_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache folders of 20 entries and more, settled 0.2 s after their last change."""
    monkeypatch.setattr(local_walk, "CACHE_MIN_ENTRIES", 20)
    monkeypatch.setattr(local_walk, "SETTLED_NS", 200_000_000)
    local_walk._cache.clear()


def _all_keys(store: LocalObjectStore, prefix: str, page: int) -> list[str]:
    keys: list[str] = []
    token = None
    while True:
        listed = store.list_page("bkt", prefix, token=token, max_keys=page)
        keys.extend(o.key for o in listed.objects)
        token = listed.next_token
        if token is None:
            return keys


def _settle(directory: Path) -> None:
    """Wait until the folder has been unchanged for longer than the settling time."""
    while time.time_ns() - os.stat(directory).st_mtime_ns <= local_walk.SETTLED_NS:
        time.sleep(0.05)


def test_pages_of_a_cached_folder_are_the_whole_folder_in_order(
    tmp_path: Path, small_cache: None
) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("bkt")
    names = [f"f/k{i:03d}" for i in range(60)] + ["f/sub/a", "f/sub/b", "f/k 5", "g/x"]
    for key in names:
        store.put("bkt", key, b"x")
    _settle(tmp_path / "buckets" / "bkt" / "f")
    expected = sorted(k for k in names if k.startswith("f/"))
    assert _all_keys(store, "f/", 7) == expected
    assert local_walk._cache  # the folder was kept
    assert _all_keys(store, "f/", 1000) == expected
    assert _all_keys(store, "f/k05", 3) == [k for k in expected if k.startswith("f/k05")]
    assert _all_keys(store, "", 11) == sorted(names)


def test_a_change_after_the_folder_was_cached_is_listed(tmp_path: Path, small_cache: None) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("bkt")
    for i in range(40):
        store.put("bkt", f"f/k{i:03d}", b"x")
    _settle(tmp_path / "buckets" / "bkt" / "f")
    assert len(_all_keys(store, "f/", 1000)) == 40
    assert local_walk._cache
    store.put("bkt", "f/new", b"x")  # at once, in the same clock tick as the listing
    store.delete("bkt", "f/k000")
    keys = _all_keys(store, "f/", 1000)
    assert "f/new" in keys and "f/k000" not in keys and len(keys) == 40
