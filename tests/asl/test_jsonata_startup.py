"""An evaluator process that cannot start says why, instead of "memory limit exceeded"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from montemap.asl.jsonata_pool import startup_failure

# A template the in-process fast path gives up on, so it needs an evaluator process.
_SCRIPT = """
import asyncio
from montemap.asl import jsonata_runner
from montemap.errors import EvaluationError

def main():
    try:
        value = asyncio.run(jsonata_runner.evaluate_field(
            "{% $string([1, 2]) %}", field="Output", states={"input": {}}, variables={}))
    except EvaluationError as error:
        print("ERROR", error.error, error.cause)
    else:
        print("VALUE", value)
    jsonata_runner.shutdown()
"""


def _run(tmp_path: Path, body: str) -> str:
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(_SCRIPT) + body, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=90, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(("ERROR", "VALUE"))]
    assert len(lines) == 1, (done.stdout, done.stderr)
    return lines[0]


def test_a_program_without_a_main_guard_is_told_what_to_add(tmp_path: Path) -> None:
    line = _run(tmp_path, "main()\n")
    assert line.startswith("ERROR States.QueryEvaluationError")
    assert "memory limit" not in line
    assert "exited with code 1 before it started" in line
    assert 'if __name__ == "__main__":' in line


def test_the_same_program_with_the_guard_evaluates(tmp_path: Path) -> None:
    line = _run(tmp_path, 'if __name__ == "__main__":\n    main()\n')
    assert line == "VALUE [1,2]"


def test_a_killed_evaluator_reads_as_killed() -> None:
    assert "was killed before it started" in startup_failure(-9)
    assert "was killed before it started" in startup_failure(None)
    assert "exited with code 3 before it started" in startup_failure(3)
