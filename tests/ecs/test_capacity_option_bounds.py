"""``montemap server``'s capacity options have upper bounds: what one machine can have.

``--capacity-memory 99999999999999999999999`` (and as large a ``--capacity-cpu`` or
``--max-tasks``) used to start the server, offering tasks more than any host has.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.api.cli import ServerConfigError, check_options
from montemap.cli import main, parser_for
from montemap.ecs.capacity import MAX_CPU_UNITS, MAX_MEMORY_MIB, MAX_TASKS, Capacity

BOUNDS = [
    ("--capacity-cpu", MAX_CPU_UNITS, "1 to 8,388,608 (the CPU units of 8,192 cores)"),
    ("--capacity-memory", MAX_MEMORY_MIB, "1 to 1,073,741,824 (1 PiB in MiB)"),
    ("--max-tasks", MAX_TASKS, "1 to 4,194,304 (Linux's most processes)"),
]


@pytest.mark.parametrize(("option", "most", "says"), BOUNDS)
def test_a_capacity_past_its_bound_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, most: int, says: str
) -> None:
    data = tmp_path / "data"
    for value in (str(most + 1), "99999999999999999999999"):
        code = main(["server", "--data-dir", str(data), option, value])
        err = capsys.readouterr().err
        assert code == 1, err
        assert err == f"montemap: error: {option} must be from {says}, got {value}\n"
    assert not data.exists()


@pytest.mark.parametrize(("option", "most", "says"), BOUNDS)
def test_a_capacity_at_its_bound_is_taken(
    tmp_path: Path, option: str, most: int, says: str
) -> None:
    argv = ["server", "--data-dir", str(tmp_path / "data"), option, str(most)]
    check_options(parser_for(argv).parse_args(argv))
    argv[-1] = "0"
    with pytest.raises(ServerConfigError, match=f"{option} must be from 1 to"):
        check_options(parser_for(argv).parse_args(argv))


def test_the_capacity_itself_refuses_a_part_past_its_bound() -> None:
    Capacity(cpu_units=MAX_CPU_UNITS, memory_mib=MAX_MEMORY_MIB, max_tasks=MAX_TASKS)
    with pytest.raises(ValueError, match="memory_mib must be from 1 to 1,073,741,824"):
        Capacity(cpu_units=1024, memory_mib=MAX_MEMORY_MIB + 1, max_tasks=8)
