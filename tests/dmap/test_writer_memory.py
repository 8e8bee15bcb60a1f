"""Writing 1,000,000 child results keeps memory flat: results are spooled to files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from montemap.engine.result_writer import ResultWriter
    from montemap.storage import LocalObjectStore

    def peak_kib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    store = LocalObjectStore(sys.argv[1])
    store.create_bucket("out")
    arn = "arn:aws:states:us-east-1:123456789012:mapRun:sm/Map:run-1"
    writer = ResultWriter(store, bucket="out", prefix="r", map_run_arn=arn,
                          spool_dir=sys.argv[2], max_file_bytes=40_000_000)
    def rec(i, status):
        return {"ExecutionArn": f"{arn}:{i}", "Input": '{"i":%d}' % i, "Name": str(i),
                "Status": status, "Output": '{"loss":%d.5}' % i}
    for i in range(10_000):
        writer.add("SUCCEEDED", rec(i, "SUCCEEDED"))
    before = peak_kib()
    for i in range(10_000, 1_000_000):
        status = "FAILED" if i % 100 == 0 else "SUCCEEDED"
        writer.add(status, rec(i, status))
    result = writer.close()
    print(json.dumps({"growth_kib": peak_kib() - before, "result": result}))
    """
)


@pytest.mark.slow
def test_million_results_are_spooled_not_kept(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "buckets"), str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["growth_kib"] < 16 * 1024, report
    manifest_key = report["result"]["ResultWriterDetails"]["Key"]
    manifest = json.loads((tmp_path / "buckets" / "out" / manifest_key).read_bytes())
    succeeded = manifest["ResultFiles"]["SUCCEEDED"]
    assert len(succeeded) > 1  # split at max_file_bytes
    assert len(manifest["ResultFiles"]["FAILED"]) == 1
    last = json.loads((tmp_path / "buckets" / "out" / succeeded[-1]["Key"]).read_bytes())
    assert last[-1]["Name"] == "999999"
    failed = json.loads(
        (tmp_path / "buckets" / "out" / manifest["ResultFiles"]["FAILED"][0]["Key"]).read_bytes()
    )
    assert len(failed) == 9_900
