"""The main job's floor as ``bench_main_job.py`` measures it in each repetition."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench._floor import Floor, floor_fields, measure_floor, pair_ratio


def test_the_floor_reads_every_object_and_divides_by_the_cores(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"loan-{i}.csv").write_bytes(b"x" * (10 + i))
    floor = measure_floor(tmp_path, cores=2)
    assert (floor.objects, floor.object_bytes) == (5, 60)
    assert floor.read_s > 0 and floor.copula_s > 0
    assert floor.seconds == pytest.approx((floor.read_s + floor.copula_s) / 2)


def test_each_run_is_divided_by_its_own_repetitions_floor() -> None:
    # a machine that slows down between repetitions: each pair keeps its ratio
    assert pair_ratio([10.0, 20.0, 33.0], [5.0, 10.0, 11.0]) == 2.0
    with pytest.raises(ValueError):
        pair_ratio([1.0], [1.0, 2.0])


def test_the_floor_fields_are_medians_with_each_repetitions_floor() -> None:
    floors = [
        Floor(4.0, 6.0, 100, 1000, 2),
        Floor(8.0, 6.0, 100, 1000, 2),
        Floor(6.0, 8.0, 100, 1000, 2),
    ]
    fields = floor_fields(floors)
    assert fields["floor_seconds_each"] == [5.0, 7.0, 7.0]
    assert fields["floor_seconds"] == 7.0
    assert fields["floor_read_seconds"] == 6.0
    assert fields["floor_copula_seconds"] == 6.0
    assert fields["floor_read_us_per_object"] == 60000.0
