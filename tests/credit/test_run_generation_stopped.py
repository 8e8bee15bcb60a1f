"""SIGTERM (``timeout``, ``docker stop``) or SIGHUP while ``montemap run`` generates the
portfolio of an empty data directory stops it as Ctrl-C does: the objects written so
far are removed. Before, the process died with them in place, and every later ``run``
refused the directory ("holds objects but no inventory")."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from montemap.credit.generator import generate
from montemap.credit.portfolio import local_destination
from tests.credit.test_generate_stopped import _files, _stopped_midway

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_while_run_generates_leaves_no_partial_portfolio(
    tmp_path: Path, stop: signal.Signals
) -> None:
    data = tmp_path / "data"
    command = ["run", "--data-dir", str(data), "--loans", "3000000", "--quiet", "--no-cgroups"]
    err = _stopped_midway(data, command, stop)
    assert f"montemap: stopped by {stop.name}" in err and "Traceback" not in err
    assert not _files(data) and not (data / "portfolio.json").exists()
    generate(local_destination(data), 5)  # no --force needed: the directory is as it was
