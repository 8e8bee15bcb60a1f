"""``--credentials`` from a pipe, a FIFO or a device: read when written, never a hung start.

``--credentials <(command)`` names a pipe (``/dev/fd/63``) that the command writes and
closes: it is read. A FIFO that no process writes to, or one whose writer never closes
it, used to block the server's start forever (opening a FIFO waits for a writer):
now the start is refused after a bounded wait, naming the file and the reason.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from montemap.api.credentials import CredentialsError, load_credentials_file

SECRET = "pipe-secret-0123456789abcdef"
KEYS = json.dumps([{"access_key_id": "PIPED", "secret_access_key": SECRET}]).encode()


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "keys.fifo"
    os.mkfifo(path)
    yield path


def test_a_fifo_nothing_writes_to_is_refused_after_the_wait(fifo: Path) -> None:
    began = time.monotonic()
    with pytest.raises(CredentialsError) as info:
        load_credentials_file(fifo, wait=0.05)
    assert time.monotonic() - began < 5
    message = str(info.value)
    assert message.startswith(f"credentials file {fifo}: nothing written and closed within")
    assert "regular file" in message


def test_a_fifo_whose_writer_never_closes_is_refused(fifo: Path) -> None:
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so that the writer's open returns
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, KEYS[:10])
        with pytest.raises(CredentialsError, match="nothing written and closed within"):
            load_credentials_file(fifo, wait=0.05)
    finally:
        os.close(writer)
        os.close(reader)


def test_a_process_substitution_pipe_is_read() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, KEYS)
        os.close(write_end)
        keys = load_credentials_file(Path(f"/dev/fd/{read_end}"), wait=5)
    finally:
        os.close(read_end)
    assert [key.access_key_id for key in keys] == ["PIPED"]


def test_a_fifo_written_and_closed_is_read(fifo: Path) -> None:
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)
    os.write(writer, KEYS)
    os.close(writer)
    try:
        keys = load_credentials_file(fifo, wait=5)
    finally:
        os.close(reader)
    assert [key.access_key_id for key in keys] == ["PIPED"]


def test_an_endless_device_is_refused_by_size() -> None:
    with pytest.raises(CredentialsError, match=r"^credentials file /dev/zero: more than \d+ bytes"):
        load_credentials_file(Path("/dev/zero"), wait=5)


def test_a_regular_file_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(KEYS)
    path.chmod(0o600)
    assert [key.access_key_id for key in load_credentials_file(path)] == ["PIPED"]
