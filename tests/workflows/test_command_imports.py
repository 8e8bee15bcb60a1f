"""A command imports only what it needs: every ECS task runs ``montemap worker``.

Each worker task pays its imports at a quarter of a core before it can poll,
so the ``montemap`` command line loads only the ``cli`` module of the package
that registers the command it names (:data:`montemap.cli.COMMANDS`), and the
worker command loads neither the server (Starlette, uvicorn, the engine, the
APIs) nor the numeric stack (NumPy, SciPy, pyarrow) nor boto3 before it loads
its handler. The handler itself may import what it needs.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from montemap import cli
from montemap.testing import eventually

#: What the worker command must not load before its handler.
HEAVY = (
    "scipy",
    "numpy",
    "pyarrow",
    "boto3",
    "starlette",
    "uvicorn",
    "montemap.engine",
    "montemap.api",
    "montemap.ecs",
    "montemap.credit",
    "montemap.workflows",
)


def _heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY)))


def _choices(parser: argparse.ArgumentParser) -> set[str]:
    subparsers = parser._subparsers
    assert subparsers is not None
    action = subparsers._group_actions[0]
    assert isinstance(action, argparse._SubParsersAction)
    return set(action.choices)


def test_every_command_is_mapped_to_the_package_that_registers_it() -> None:
    registered = {
        command: package
        for package in cli.COMMAND_PACKAGES
        for command in _choices(
            cli.parser_for([next(c for c, p in cli.COMMANDS.items() if p == package)])
        )
    }
    assert registered == cli.COMMANDS
    assert _choices(cli.build_parser()) == set(cli.COMMANDS)


def test_an_unknown_command_still_gets_the_full_parser() -> None:
    assert _choices(cli.parser_for(["no-such-command"])) == set(cli.COMMANDS)
    assert _choices(cli.parser_for([])) == set(cli.COMMANDS)


_HANDLER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    here = Path(__file__).parent
    (here / "loaded.tmp").write_text(json.dumps(sorted(sys.modules)))
    os.replace(here / "loaded.tmp", here / "loaded.json")

    def handle(event, context):
        return event
    """
)


def test_the_worker_command_loads_nothing_heavy_before_its_handler(tmp_path: Path) -> None:
    (tmp_path / "probe_handler.py").write_text(_HANDLER)
    loaded = tmp_path / "loaded.json"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "montemap.cli",
            "worker",
            "--activity-arn",
            "arn:aws:states:us-east-1:123456789012:activity:probe",
            "--handler",
            "probe_handler:handle",
            "--app-dir",
            str(tmp_path),
            "--endpoint",
            "http://127.0.0.1:9",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        text = eventually(
            lambda: loaded.exists() and loaded.read_text(), timeout=60, what="handler imported"
        )
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    assert isinstance(text, str)
    modules: list[str] = json.loads(text)
    assert "montemap.worker.worker" in modules  # the probe ran inside the worker
    assert _heavy(modules) == []
