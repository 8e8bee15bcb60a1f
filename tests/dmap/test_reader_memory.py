"""Reading a 1,000,000-row S3 Inventory keeps memory flat (measured in a fresh process)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROWS = 1_000_000
FILES = 4

#: Run in a child process so that its peak RSS belongs to this read alone.
CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from montemap.engine.item_reader import read_items
    from montemap.storage import LocalObjectStore

    def peak_kib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    store = LocalObjectStore(sys.argv[1])
    items = read_items(store, {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": "inventory", "Key": "manifest.json"},
        "ReaderConfig": {"InputType": "MANIFEST"},
    })
    count = 0
    for item in items:  # warm up: buffers, first file open
        count += 1
        if count == 10_000:
            break
    before = peak_kib()
    last = None
    for last in items:
        count += 1
    print(json.dumps({"count": count, "growth_kib": peak_kib() - before, "last": last}))
    """
)


def write_inventory(root: Path) -> None:
    bucket = root / "inventory"
    bucket.mkdir(parents=True)
    per_file = ROWS // FILES
    files = []
    for f in range(FILES):
        start = f * per_file
        text = "".join(
            f'"portfolio","data/loan-{i:08d}.csv","{200 + i % 97}"\n'
            for i in range(start, start + per_file)
        )
        key = f"data/part-{f}.csv.gz"
        (bucket / "data").mkdir(exist_ok=True)
        (bucket / key).write_bytes(gzip.compress(text.encode(), compresslevel=1))
        files.append({"key": key, "size": (bucket / key).stat().st_size, "MD5checksum": "-"})
    manifest = {
        "sourceBucket": "portfolio",
        "destinationBucket": "arn:aws:s3:::inventory",
        "version": "2016-11-30",
        "creationTimestamp": "0",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": files,
    }
    (bucket / "manifest.json").write_text(json.dumps(manifest))


def test_million_row_manifest_streams_in_constant_memory(tmp_path: Path) -> None:
    write_inventory(tmp_path / "buckets")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "buckets")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["count"] == ROWS
    assert report["last"] == {
        "Bucket": "portfolio",
        "Key": f"data/loan-{ROWS - 1:08d}.csv",
        "Size": str(200 + (ROWS - 1) % 97),
    }
    # Holding the items would take hundreds of MiB; streaming keeps the peak flat.
    assert report["growth_kib"] < 16 * 1024, report
