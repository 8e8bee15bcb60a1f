"""``montemap compare``'s terminal table keeps its columns apart."""

from __future__ import annotations

from montemap.workflows.compare import figures, ratios, table


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
