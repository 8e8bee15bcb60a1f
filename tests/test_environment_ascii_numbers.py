"""Every numeric ``MONTEMAP_*`` setting takes plain ASCII numbers only, refused at start.

``float``/``int`` read ``1_0``, the digits of other scripts (``١٠٠``, fullwidth ``５``),
``nan`` and ``inf``: ``MONTEMAP_JSONATA_MEMORY_MB=١٠٠``, ``MONTEMAP_DB_CHECK_SECONDS=1_0``
and ``MONTEMAP_WORKER_POLL_AHEAD=١`` were read silently as 100, 10 and 1; a bad JSONata
limit hid the others behind it; ``MONTEMAP_CUSTOM_RESOURCE_TIMEOUT=nan`` was taken (every
custom resource then waited for ever) and was not checked with the other settings.
"""

from __future__ import annotations

import pytest

from montemap.asl.jsonata_limits import LimitsError, limits_from_env
from montemap.cloudformation.errors import TemplateError
from montemap.cloudformation.wiring import custom_resource_timeout
from montemap.engine.dbcheck import DatabaseFileError, check_budget
from montemap.engine.group_delay import group_delay
from montemap.environment import SettingsError, check_environment
from montemap.worker.errors import WorkerError
from montemap.worker.poll_ahead import poll_ahead_setting

NUMERIC = [
    "MONTEMAP_COMMIT_DELAY_MS",
    "MONTEMAP_DB_CHECK_SECONDS",
    "MONTEMAP_JSONATA_TIMEOUT_S",
    "MONTEMAP_JSONATA_MEMORY_MB",
    "MONTEMAP_JSONATA_WORKERS",
    "MONTEMAP_WORKER_POLL_AHEAD",
    "MONTEMAP_CUSTOM_RESOURCE_TIMEOUT",
]
NOT_ASCII = ["١٠", "５", "1_0", "٣", "nan", "0x10", "Ⅴ"]


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("value", NOT_ASCII)
def test_a_number_not_in_ascii_digits_is_refused_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        check_environment({name: value})
    assert name in str(caught.value) and repr(value) in str(caught.value)


def test_the_reported_settings_are_all_named_at_once() -> None:
    env = {
        "MONTEMAP_JSONATA_MEMORY_MB": "١٠٠",
        "MONTEMAP_DB_CHECK_SECONDS": "1_0",
        "MONTEMAP_WORKER_POLL_AHEAD": "١",
        "MONTEMAP_JSONATA_TIMEOUT_S": "1e999",
        "MONTEMAP_JSONATA_WORKERS": "٢",
        "MONTEMAP_CUSTOM_RESOURCE_TIMEOUT": "inf",
    }
    with pytest.raises(SettingsError) as caught:
        check_environment(env)
    for name in env:
        assert name in str(caught.value)
    assert "(ASCII digits 0-9)" in str(caught.value)


def test_each_reader_refuses_them_on_its_own() -> None:
    """Read where no start-up check ran (a worker started by hand, an embedded engine)."""
    with pytest.raises(DatabaseFileError):
        group_delay({"MONTEMAP_COMMIT_DELAY_MS": "５"})
    with pytest.raises(DatabaseFileError):
        check_budget({"MONTEMAP_DB_CHECK_SECONDS": "1_0"})
    with pytest.raises(LimitsError):
        limits_from_env({"MONTEMAP_JSONATA_MEMORY_MB": "١٠٠"})
    with pytest.raises(WorkerError):
        poll_ahead_setting({"MONTEMAP_WORKER_POLL_AHEAD": "١"})
    with pytest.raises(TemplateError):
        custom_resource_timeout({"MONTEMAP_CUSTOM_RESOURCE_TIMEOUT": "nan"})


def test_plain_ascii_numbers_are_read() -> None:
    env = {
        "MONTEMAP_COMMIT_DELAY_MS": "2.5",
        "MONTEMAP_DB_CHECK_SECONDS": "inf",
        "MONTEMAP_JSONATA_TIMEOUT_S": "1e1",
        "MONTEMAP_JSONATA_MEMORY_MB": " 256 ",
        "MONTEMAP_JSONATA_WORKERS": "+3",
        "MONTEMAP_WORKER_POLL_AHEAD": "0.5",
        "MONTEMAP_CUSTOM_RESOURCE_TIMEOUT": "60",
    }
    check_environment(env)
    assert group_delay(env) == 0.0025
    assert check_budget(env) == float("inf")
    limits = limits_from_env(env)
    assert (limits.timeout_s, limits.memory_mb, limits.workers) == (10.0, 256, 3)
    assert poll_ahead_setting(env) == 0.5
    assert custom_resource_timeout(env) == 60.0
