"""Bad ``MONTEMAP_*`` settings are refused at start, all at once, before anything is made.

Found in session 28: ``MONTEMAP_DB_CHECK_SECONDS=abc`` on a new data directory left an
empty ``montemap.db`` behind, which every later start then refused ("is empty: it is not
a montemap database"); ``MONTEMAP_WORKER_POLL_AHEAD=x`` made every worker task exit at
once and be replaced while ``montemap run`` waited for ever at "workers 0/1"; a bad
``MONTEMAP_ECS_WARM_TASKS`` or JSONata limit was taken silently or failed later.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from montemap.engine import dbcheck
from montemap.engine.db import Database
from montemap.engine.dbcheck import DatabaseFileError
from montemap.environment import SettingsError, check_environment
from montemap.testing import free_port
from montemap.testing.commands import run_montemap

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "MONTEMAP_COMMIT_DELAY_MS",
            "abc",
            "MONTEMAP_COMMIT_DELAY_MS must be a number of milliseconds",
        ),
        ("MONTEMAP_COMMIT_DELAY_MS", "500", "from 0 to 100, not '500'"),
        ("MONTEMAP_DB_CHECK_SECONDS", "-1", "MONTEMAP_DB_CHECK_SECONDS must be a number"),
        ("MONTEMAP_JSONATA_WORKERS", "0", "MONTEMAP_JSONATA_WORKERS='0' must be positive"),
        ("MONTEMAP_JSONATA_TIMEOUT_S", "soon", "MONTEMAP_JSONATA_TIMEOUT_S='soon' is not a number"),
        (
            "MONTEMAP_JSONATA_MEMORY_MB",
            "1.5",
            "MONTEMAP_JSONATA_MEMORY_MB='1.5' is not a whole number",
        ),
        ("MONTEMAP_ECS_WARM_TASKS", "yes", "MONTEMAP_ECS_WARM_TASKS must be 0"),
        ("MONTEMAP_WORKER_POLL_AHEAD", "x", "MONTEMAP_WORKER_POLL_AHEAD: 'x' is not a number"),
        ("MONTEMAP_WORKER_POLL_AHEAD", "inf", "must be a finite number of seconds"),
    ],
)
def test_each_bad_setting_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        check_environment({name: value})
    assert message in str(caught.value)


def test_every_bad_setting_is_named_in_one_error() -> None:
    env = {"MONTEMAP_WORKER_POLL_AHEAD": "x", "MONTEMAP_ECS_WARM_TASKS": "2"}
    with pytest.raises(SettingsError) as caught:
        check_environment(env)
    assert "MONTEMAP_WORKER_POLL_AHEAD" in str(caught.value)
    assert "MONTEMAP_ECS_WARM_TASKS" in str(caught.value)


def test_good_and_unset_settings_pass() -> None:
    check_environment({})
    check_environment(
        {
            "MONTEMAP_COMMIT_DELAY_MS": "5",
            "MONTEMAP_DB_CHECK_SECONDS": "inf",
            "MONTEMAP_JSONATA_WORKERS": "3",
            "MONTEMAP_ECS_WARM_TASKS": "0",
            "MONTEMAP_WORKER_POLL_AHEAD": "0.5",
        }
    )


def test_a_bad_check_budget_makes_no_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONTEMAP_DB_CHECK_SECONDS", "abc")
    path = tmp_path / "montemap.db"
    with pytest.raises(DatabaseFileError, match="MONTEMAP_DB_CHECK_SECONDS"):
        Database(path)
    assert sorted(os.listdir(tmp_path)) == []
    monkeypatch.delenv("MONTEMAP_DB_CHECK_SECONDS")
    Database(path).close()  # the next start makes the database


def test_a_new_database_that_could_not_be_made_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(conn: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dbcheck, "record_schema_version", full_disk)
    path = tmp_path / "montemap.db"
    with pytest.raises(OSError, match="No space"):
        Database(path)
    assert sorted(os.listdir(tmp_path)) == []
    monkeypatch.undo()
    Database(path).close()  # not refused as an empty file


def test_an_existing_database_is_kept_when_its_start_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "montemap.db"
    Database(path).close()
    before = path.read_bytes()

    def full_disk(conn: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dbcheck, "record_schema_version", full_disk)
    with pytest.raises(OSError):
        Database(path)
    assert path.read_bytes() == before


def test_run_refuses_a_workers_bad_setting_before_it_generates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run_montemap(
        "run", "--data-dir", str(data), "--loans", "20", "--workers", "1", "--quiet",
        env={"MONTEMAP_WORKER_POLL_AHEAD": "x", "MONTEMAP_DB_CHECK_SECONDS": "abc"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("montemap: error: ") and done.stderr.count("\n") == 1
    assert "MONTEMAP_WORKER_POLL_AHEAD" in done.stderr
    assert "MONTEMAP_DB_CHECK_SECONDS" in done.stderr
    assert not data.exists()  # nothing generated, no database, no server


def test_the_server_refuses_a_bad_setting_before_it_makes_its_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run_montemap(
        "server", "--data-dir", str(data), "--port", str(free_port()),
        env={"MONTEMAP_ECS_WARM_TASKS": "on"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "MONTEMAP_ECS_WARM_TASKS must be 0" in done.stderr
    assert not (data / "montemap.db").exists()
