"""``montemap run`` refuses bad options in one line before it starts anything.

A value the workers refuse (a shock past 5,000 bp, a negative seed, an as-of date
Python reads but the batch parser does not) used to fail each batch only after its
retries, minutes later, and leave the execution running for the next run to resume;
a name the engine refuses, or a negative price, was reported as a bug; a name whose
output folder is still there had that folder written over.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap import cli


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--shocks", "0,6000"], "--shocks must be from -5000 to 5000 basis points, got 6000"),
        (["--shocks", "-9999"], "--shocks must be from -5000 to 5000 basis points, got -9999"),
        (["--seed", "-1"], "--seed must be from 0 to 2**64-1, got -1"),
        (["--seed", str(1 << 64)], "--seed must be from 0 to 2**64-1"),
        (["--portfolio-seed", "-5"], "--portfolio-seed must be from 0 to 2**64-1, got -5"),
        (["--as-of", "20260630"], "--as-of '20260630' is not a date YYYY-MM-DD"),
        (["--as-of", "2026-W01-1"], "--as-of '2026-W01-1' is not a date YYYY-MM-DD"),
        (["--price-vcpu-hour", "-1"], "--price-vcpu-hour must be a price of at least 0"),
        (["--price-gb-hour", "nan"], "--price-gb-hour must be a price of at least 0"),
        (["--price-gb-hour", "inf"], "--price-gb-hour must be a price of at least 0"),
        (["--workers", "5001"], "--workers must be from 0 to 5,000"),
        (["--name", "../elsewhere"], "--name '../elsewhere' must be 1-80 letters"),
        (["--name", "a/b"], "--name 'a/b' must be 1-80 letters"),
        (["--name", ""], "--name '' must be 1-80 letters"),
        (["--name", "x" * 81], "must be 1-80 letters"),
        (["--name", "café"], "--name 'café' must be 1-80 letters"),
        (["--server", "localhost:8083"], "--server 'localhost:8083' must be the server's http://"),
        (["--server", "ftp://host"], "--server 'ftp://host' must be the server's http://"),
        (["--server", "http://"], "--server 'http://' must be the server's http://"),
        (["--server", "http://h:port"], "--server 'http://h:port' must be the server's"),
    ],
)
def test_a_bad_option_is_one_line_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    data = tmp_path / "data"
    code = cli.main(["run", "--data-dir", str(data), "--loans", "10", "--quiet", *options])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("montemap: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not data.exists()  # nothing generated, no server started


def test_a_name_whose_outputs_are_there_is_refused_and_they_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    earlier = data / "runs" / "quarterly"
    earlier.mkdir(parents=True)
    (earlier / "summary.json").write_text('{"mine": true}\n')
    code = cli.main(["run", "--data-dir", str(data), "--name", "quarterly", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "already holds the outputs of a run named 'quarterly'" in err
    assert (earlier / "summary.json").read_text() == '{"mine": true}\n'
    assert sorted(p.name for p in data.iterdir()) == ["runs"]  # nothing generated


def test_batches_of_an_earlier_run_under_the_name_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    batches = data / "buckets" / "montemap-results" / "runs" / "q1" / "batches"
    batches.mkdir(parents=True)
    (batches / "b1").write_text("x")
    assert cli.main(["run", "--data-dir", str(data), "--name", "q1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "montemap-results/runs/q1 already holds" in err
    assert (batches / "b1").read_text() == "x"


def test_a_data_dir_that_is_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("mine")
    assert cli.main(["run", "--data-dir", str(a_file), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a directory" in err
    assert a_file.read_text() == "mine"


def test_a_bad_drop_pages_variable_is_one_line_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONTEMAP_DROP_OBJECT_PAGES", "maybe")
    data = tmp_path / "data"
    assert cli.main(["run", "--data-dir", str(data), "--loans", "10", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == "montemap: error: MONTEMAP_DROP_OBJECT_PAGES must be 0 or 1, not 'maybe'\n"
    assert not data.exists()


@pytest.mark.parametrize("command", [["run"], ["generate", "--loans", "10"]])
def test_someone_elses_folder_is_not_used_as_a_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("mine")
    (home / "portfolio.json.bak").write_text("mine")
    assert cli.main([*command, "--data-dir", str(home), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds other files (portfolio.json.bak, thesis.tex)" in err
    assert sorted(p.name for p in home.iterdir()) == ["portfolio.json.bak", "thesis.tex"]
