"""Ctrl-C while ``montemap run`` starts its embedded server, or just after (boto3's
import, the first calls), stops that server: it was started before the part of the run
that stops it on the way out, so an interrupt there left the server, its database and
its function processes to the interpreter's exit (which could wait half a minute)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

#: ``montemap run`` with Ctrl-C arriving the moment the embedded server listens; each
#: stop of the embedded server says so on stderr.
_INTERRUPTED_AT_START = """
import sys
from montemap.workflows import embedded
started, stopped = embedded.EmbeddedServer.start, embedded.EmbeddedServer.stop
def start(self, timeout=30.0):
    started(self, timeout)
    raise KeyboardInterrupt
def stop(self, timeout=60.0):
    stopped(self, timeout)
    print("embedded server stopped", file=sys.stderr)
embedded.EmbeddedServer.start, embedded.EmbeddedServer.stop = start, stop
from montemap.cli import main
sys.exit(main())
"""


def test_ctrl_c_as_the_embedded_server_starts_stops_it(tmp_path: Path) -> None:
    data = (tmp_path / "montemap-data").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    command = ["run", "--data-dir", str(data), "--loans", "20", "--workers", "1", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_AT_START, *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 130, done.stderr
    assert "embedded server stopped" in done.stderr
    assert "montemap: interrupted" in done.stderr and "Traceback" not in done.stderr
    assert not (data / "runs").exists()  # nothing ran
