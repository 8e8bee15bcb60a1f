"""The Partition function counts an inventory's rows as iterating over its lines would:
a last line without its newline counts, empty files and several gzip members too."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.workflows.functions import partition_inventory

ROW = b'"montemap-source","data/loan-%07d.json","812"\n'


def _write(folder: Path, name: str, data: bytes, *, members: int = 1) -> dict[str, str]:
    """A gzipped inventory file of ``data`` in ``members`` gzip members."""
    step = -(-len(data) // members) if data else 1
    parts = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    (folder / name).write_bytes(b"".join(gzip.compress(part) for part in parts))
    return {"key": f"inventory/{name}"}


@pytest.mark.parametrize("partitions", [1, 3])
def test_rows_are_counted_like_lines(tmp_path: Path, monkeypatch: Any, partitions: int) -> None:
    folder = tmp_path / "buckets" / "montemap-source" / "inventory"
    folder.mkdir(parents=True)
    big = b"".join(ROW % i for i in range(60_000))  # ~2.7 MB: several 1 MiB blocks
    contents = {
        "whole.csv.gz": (big, 1),
        "unterminated.csv.gz": (big + b'"montemap-source","data/last.json","9"', 1),
        "members.csv.gz": (big[: 25 * len(ROW % 0)] + b"x", 4),
        "empty.csv.gz": (b"", 1),
        "one.csv.gz": (b"single line without a newline", 1),
        "blank-lines.csv.gz": (b"\n\n\n", 1),
    }
    files = [_write(folder, name, data, members=m) for name, (data, m) in contents.items()]
    expected = 0
    for name in contents:  # the reference: the lines gzip's own iterator yields
        with gzip.open(folder / name, "rb") as f:
            expected += sum(1 for _ in f)
    assert expected == 60_000 + 60_001 + 26 + 0 + 1 + 3
    (folder / "manifest.json").write_text(json.dumps({"files": files}))
    monkeypatch.setenv("MONTEMAP_DATA_DIR", str(tmp_path))
    result = partition_inventory(
        {
            "source_bucket": "montemap-source",
            "inventory_manifest": "inventory/manifest.json",
            "results_bucket": "results",
            "run_name": f"rows{partitions}",
            "partitions": partitions,
        }
    )
    assert result["objects"] == expected
    assert len(result["manifests"]) == partitions
