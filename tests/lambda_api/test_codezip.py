"""Deployment package checks on real zip files: bombs, traversal, links, replacement."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from montemap.lambda_api import codezip
from montemap.lambda_api.errors import LambdaError
from tests.lambda_api.helpers import package


def _bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    block = bytes(1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as entry,
    ):
        for _ in range(size >> 20):
            entry.write(block)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    data = _bomb(codezip.MAX_UNZIPPED + (1 << 20))
    assert len(data) < 2 * 1024 * 1024  # small zipped, huge unzipped
    with pytest.raises(LambdaError, match="Unzipped size must be smaller than"):
        codezip.validate(data)
    with pytest.raises(LambdaError, match="Unzipped size must be smaller than"):
        codezip.unpack(data, tmp_path / "fn")
    assert not (tmp_path / "fn").exists()
    assert list(tmp_path.iterdir()) == []  # no staging directory left behind


def test_unpack_replaces_the_code_whole(tmp_path: Path) -> None:
    target = tmp_path / "fn" / "$LATEST"
    codezip.unpack(package({"a.py": "A = 1\n", "pkg/b.py": "B = 2\n"}), target)
    assert (target / "pkg" / "b.py").read_text() == "B = 2\n"
    codezip.unpack(package({"c.py": "C = 3\n"}), target)
    assert sorted(p.name for p in target.iterdir()) == ["c.py"]
    info = codezip.validate(package({"c.py": "C = 3\n"}))
    assert info.size > 0 and len(info.sha256) == 44


@pytest.mark.parametrize("name", ["../x.py", "/etc/x.py", "a/../../x.py", "a\\..\\x.py"])
def test_names_leaving_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(LambdaError, match="points outside"):
        codezip.unpack(package({name: "x = 1\n"}), tmp_path / "fn")
    assert not (tmp_path / "x.py").exists()


def test_too_large_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(LambdaError, match="not a valid zip"):
        codezip.validate(b"PK\x03\x04 truncated")
    with pytest.raises(LambdaError) as large:
        codezip.validate(bytes(codezip.MAX_ZIPPED + 1))
    assert large.value.code == "RequestEntityTooLargeException"
