"""A portfolio is never replaced under a run that reads it: ``generate --force`` and
``import --force`` are refused (one line) while ``simulate --data-dir`` or ``run`` reads
the data directory's portfolio, and a run is refused while a portfolio is being written
there. Before, a ``--force`` during a run removed the objects the run was reading and
wrote others: the run mixed two portfolios."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from montemap.cli import main
from montemap.credit.generator import generate
from montemap.credit.params import RunParams
from montemap.credit.portfolio import GeneratorError, local_destination
from montemap.credit.portfolio_lock import PortfolioBusy, PortfolioLock, reading_portfolio
from montemap.credit.simulate import run_simulation
from tests.credit.helpers import csv_bytes, portfolio

AS_OF = dt.date(2026, 11, 27)


def _digest(data: Path) -> str:
    """The source bucket's files and contents, hashed."""
    bucket = data / "buckets" / "montemap-source"
    h = hashlib.sha256()
    for path in sorted(bucket.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(bucket)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    generate(local_destination(root), 30, layout="realistic", seed=1, as_of=AS_OF)
    return root


def test_generate_and_import_force_are_refused_while_a_run_reads(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_bytes(csv_bytes(portfolio(5), [*portfolio(1)[0].keys(), "NOI"]))
    before = _digest(data)
    with reading_portfolio(data):
        for command in (
            ["generate", "--loans", "40", "--seed", "2", "--force"],
            ["import", str(tape), "--force"],
        ):
            assert main([*command, "--data-dir", str(data), "--quiet"]) != 0
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0 and "Traceback" not in err
            assert "is in use (a 'montemap simulate' or 'montemap run' reads it" in err
            assert _digest(data) == before  # nothing removed, nothing written
    # the run over, the portfolio can be replaced
    assert main(["generate", "--loans", "40", "--data-dir", str(data), "--quiet", "--force"]) == 0
    assert _digest(data) != before


def test_a_simulation_holds_the_portfolio_until_its_batches_are_read(
    data: Path, tmp_path: Path
) -> None:
    """Between two batches of a real run (the progress callback, in-process workers) a
    replacement is refused; after the run it goes through."""
    refused: list[str] = []

    def progress(done: int, total: int) -> None:
        with pytest.raises(GeneratorError) as caught:
            generate(local_destination(data), 30, seed=9, as_of=AS_OF, replace=True)
        refused.append(str(caught.value))

    params = RunParams(paths=20, seed=0, as_of=AS_OF, shocks_bp=(0,))
    out = run_simulation(
        tmp_path / "out", params, data_dir=data, batch_size=10, report=False, progress=progress
    )
    assert out.summary["loans"] + out.summary["matured"] + out.summary["rejected"] == 30
    assert len(refused) == 3 and all("is in use" in r for r in refused)
    generate(local_destination(data), 30, seed=9, as_of=AS_OF, replace=True)


def test_a_simulation_is_refused_while_the_portfolio_is_being_written(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with PortfolioLock(data, write=True):
        code = main(
            ["simulate", "--data-dir", str(data), "--out", str(tmp_path / "o"), "--workers", "1",
             "--paths", "10", "--no-report", "--as-of", AS_OF.isoformat()]
        )  # fmt: skip
        err = capsys.readouterr().err.strip()
        assert code != 0 and err.count("\n") == 0
        assert "being written by 'montemap generate' or 'montemap import'" in err
        with pytest.raises(PortfolioBusy, match="is in use"):  # nor a second writer
            PortfolioLock(data, write=True)
    assert not (tmp_path / "o" / "summary.json").exists()
    with PortfolioLock(data, write=True):  # released: free again
        pass


def test_readers_share_the_portfolio(data: Path) -> None:
    with reading_portfolio(data), reading_portfolio(data):
        pass
    with reading_portfolio(None), reading_portfolio(data / "missing"):
        pass
    assert not (data / "missing").exists()


def test_run_is_refused_while_the_portfolio_is_being_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert main(["generate", "--loans", "20", "--data-dir", str(data), "--quiet"]) == 0
    with PortfolioLock(data, write=True):
        code = main(
            ["run", "--data-dir", str(data), "--loans", "20", "--paths", "10", "--quiet",
             "--no-cgroups", "--name", "locked"]
        )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code != 0 and "being written by 'montemap generate'" in err
    assert not (data / "runs" / "locked").exists()
