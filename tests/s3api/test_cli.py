"""The AWS CLI's high-level ``aws s3`` commands against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from montemap.testing import DUMMY_AWS_ENV, MontemapServer

AWS = Path(sys.executable).with_name("aws")


def aws(server: MontemapServer, *args: str) -> str:
    done = subprocess.run(
        [str(AWS), "--endpoint-url", server.url, "s3", *args],
        env={**os.environ, **DUMMY_AWS_ENV},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"aws s3 {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "small.txt").write_text("hello\n")
    (root / "name with spaces+plus.csv").write_text("a,b\n1,2\n")
    (root / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024))  # over the CLI's 8 MiB: multipart
    # S3 keeps whole seconds: a file written in the second of its upload would look newer
    # than its object to the next sync (as on AWS), so the files are dated a minute back
    for path in root.rglob("*"):
        os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))
    return root


@pytest.mark.skipif(not AWS.exists(), reason="the AWS CLI is not installed in this environment")
def test_mb_sync_ls_cp_rm(s3_server: MontemapServer, s3: Any, tree: Path, tmp_path: Path) -> None:
    aws(s3_server, "mb", "s3://cli-bucket")
    aws(s3_server, "sync", str(tree), "s3://cli-bucket/in/")
    listed = aws(s3_server, "ls", "--recursive", "s3://cli-bucket/in/")
    assert {line.split(maxsplit=3)[3] for line in listed.splitlines()} == {
        "in/big.bin",
        "in/name with spaces+plus.csv",
        "in/sub/small.txt",
    }
    top = aws(s3_server, "ls", "s3://cli-bucket/in/")
    assert "PRE sub/" in top
    big = s3.head_object(Bucket="cli-bucket", Key="in/big.bin")
    assert big["ETag"].endswith('-2"')  # uploaded in two parts
    assert aws(s3_server, "sync", str(tree), "s3://cli-bucket/in/") == ""  # nothing changed
    back = tmp_path / "back"
    aws(s3_server, "cp", "--recursive", "s3://cli-bucket/in/", str(back))
    for path in tree.rglob("*"):
        if path.is_file():
            assert (back / path.relative_to(tree)).read_bytes() == path.read_bytes()
    aws(s3_server, "cp", str(tree / "sub" / "small.txt"), "s3://cli-bucket/single.txt")
    assert s3.get_object(Bucket="cli-bucket", Key="single.txt")["Body"].read() == b"hello\n"
    aws(s3_server, "rm", "--recursive", "s3://cli-bucket/in/")
    aws(s3_server, "rm", "s3://cli-bucket/single.txt")
    assert s3.list_objects_v2(Bucket="cli-bucket")["KeyCount"] == 0
    assert "cli-bucket" in aws(s3_server, "ls")
    aws(s3_server, "rb", "s3://cli-bucket")
    assert "cli-bucket" not in aws(s3_server, "ls")


@pytest.mark.skipif(not AWS.exists(), reason="the AWS CLI is not installed in this environment")
def test_sync_down_with_exact_timestamps_skips_what_it_fetched(
    s3_server: MontemapServer, s3: Any, tmp_path: Path
) -> None:
    # the CLI gives a fetched file the object's Last-Modified (whole seconds) and then
    # compares it with the listing's LastModified: S3 keeps whole seconds in both
    s3.create_bucket(Bucket="exact-times")
    for n in range(12):
        s3.put_object(Bucket="exact-times", Key=f"d/f{n}.txt", Body=b"same size")
    listed = s3.list_objects_v2(Bucket="exact-times")["Contents"]
    assert all(obj["LastModified"].microsecond == 0 for obj in listed)
    local = tmp_path / "mirror"
    first = aws(s3_server, "sync", "--exact-timestamps", "s3://exact-times/", str(local))
    assert first.count("download:") == 12
    assert aws(s3_server, "sync", "--exact-timestamps", "s3://exact-times/", str(local)) == ""
