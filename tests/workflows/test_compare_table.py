"""``montemap compare``'s terminal table keeps its columns apart."""

from __future__ import annotations

from montemap.workflows.compare import figures, html_page, ratios, table


def _record(name: str, cpu_units: int, memory_mib: int, duration: float) -> dict[str, object]:
    return {
        "name": name,
        "status": "SUCCEEDED",
        "duration_seconds": duration,
        "task_definition": "small" if cpu_units == 256 else "large",
        "cpu_units": cpu_units,
        "memory_mib": memory_mib,
        "workers": 8,
        "loans": 3000,
        "cost": {"vcpu_seconds": 120.0, "gb_seconds": 240.0, "usd": 0.0005},
    }


def test_a_cell_wider_than_the_names_does_not_run_into_the_next() -> None:
    a = figures(_record("small-run", 256, 512, 1.2))
    b = figures(_record("large-run", 512, 1024, 0.8))
    text = table(a, b, ratios(a, b))
    size_row = next(line for line in text.splitlines() if line.startswith("vCPU / memory"))
    assert "0.25 vCPU / 0.5 GB  " in size_row
    assert size_row.endswith("0.5 vCPU / 1 GB")
    widths = {len(line) for line in text.splitlines()[: len(text.splitlines()) - 4]}
    assert len(widths) == 1


def _row(text: str, label: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(label))
    return line[len(label) :].split()


def test_durations_under_a_second_are_shown_to_the_hundredth() -> None:
    a = figures(_record("small-run", 256, 512, 0.8437))
    b = figures(_record("large-run", 512, 1024, 0.42))
    text = table(a, b, ratios(a, b))
    assert _row(text, "Duration (s)") == ["0.84", "0.42"]
    assert _row(text, "Loans per second") == ["3,555.8", "7,142.9"]


def test_ratios_come_from_the_measured_durations_not_the_shown_ones() -> None:
    a = figures(_record("small-run", 256, 512, 0.84))
    b = figures(_record("large-run", 512, 1024, 0.76))
    r = ratios(a, b)
    assert r["speedup"] == 1.105
    assert r["time_saved_percent"] == 9.5


def test_a_run_too_short_to_measure_shows_n_a_on_the_page() -> None:
    a = figures(_record("small-run", 256, 512, 1.5))
    b = figures(_record("large-run", 512, 1024, 0.0))
    page = html_page(a, b, ratios(a, b))
    assert "None" not in page
    assert "n/a" in page


def test_dollars_and_slow_rates_keep_a_sensible_precision() -> None:
    record = _record("small-run", 256, 512, 7200.0)
    record["loans"] = 3600
    record["cost"] = {"vcpu_seconds": 1800.0, "gb_seconds": 3600.0, "usd": 12.345678}
    shown = figures(record)
    text = table(shown, shown, ratios(shown, shown))
    assert _row(text, "Loans per second") == ["0.5", "0.5"]
    assert _row(text, "Estimated Fargate Spot cost (USD)") == ["12.35", "12.35"]
    assert _row(text, "Duration (s)") == ["7,200.0", "7,200.0"]
