"""``montemap compare`` refuses a run record it cannot use in one line naming the file
and the field (a hand-edited or truncated ``run.json``), never as a bug report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from montemap import cli


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": "r",
        "status": "SUCCEEDED",
        "duration_seconds": 2.5,
        "task_definition": "small",
        "cpu_units": 256,
        "memory_mib": 512,
        "workers": 2,
        "cost": {"vcpu_seconds": 30.0, "gb_seconds": 60.0, "usd": 0.0001},
        "summary": {"loans": 1000},
    }
    record.update(changes)
    return record


def _run_folder(root: Path, name: str, content: Any) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(content))
    return folder


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_record(duration_seconds="abc"), "'duration_seconds' is the string 'abc', not a number"),
        (_record(duration_seconds=None), "'duration_seconds' is null, not a number"),
        (_record(duration_seconds=-1), "'duration_seconds' is -1, not a number of at least 0"),
        (_record(workers=True), "'workers' is a boolean, not a number"),
        (_record(cost={"usd": 1.0}), "has no 'cost.vcpu_seconds'"),
        (_record(cost=[1, 2]), "'cost' is a list, not an object"),
        (_record(summary="x"), "'summary' is the string 'x', not an object"),
        (_record(summary={"loans": "many"}), "'summary.loans' is the string 'many'"),
        ([1, 2], "holds a list, not a run record"),
    ],
)
def test_an_unusable_run_record_is_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    bad = _run_folder(tmp_path, "bad", content)
    good = _run_folder(tmp_path, "good", _record())
    code = cli.main(["compare", str(good), str(bad), "--html", str(tmp_path / "c.html")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "this is a bug" not in err
    assert f"{bad / 'run.json'}" in err and message in err


def test_optional_figures_may_be_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = _record()
    for key in ("cpu_units", "memory_mib", "summary"):
        del plain[key]
    a = _run_folder(tmp_path, "a", plain)
    b = _run_folder(tmp_path, "b", _record(summary=None))
    assert cli.main(["compare", str(a), str(b), "--html", str(tmp_path / "c.html")]) == 0
    assert "B is 1.0x as fast as A" in capsys.readouterr().out


def test_a_run_may_be_named_by_its_run_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run_folder(tmp_path, "a", _record(name="a"))
    b = _run_folder(tmp_path, "b", _record(name="b", duration_seconds=1.25))
    html = tmp_path / "c.html"
    assert cli.main(["compare", str(a / "run.json"), str(b), "--html", str(html)]) == 0
    assert "B is 2.0x as fast as A" in capsys.readouterr().out
