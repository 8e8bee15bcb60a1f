"""The main job's floor (issue 13), measured beside each repetition of the commands.

The floor is plain Python reading every loan object's bytes once (warm cache: the
objects are read once before, untimed), plus a plain NumPy float32 one-factor copula
over the same loans x 1,000 paths x 4 shocks (normal draws, compare, weighted sum), the
two added and divided by the cores. This VM's speed moves by ±20% over minutes, so
``bench_main_job.py`` measures it again in every repetition, right before that
repetition's commands, and divides each ``run`` by its own repetition's floor
(``ratio_run_over_floor_pairs``) as well as the medians by each other.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PATHS = 1000
SHOCKS = (0, 100, 200, 300)


@dataclass(frozen=True)
class Floor:
    """One measurement of the floor: its two parts' seconds (one core each)."""

    read_s: float
    copula_s: float
    objects: int
    object_bytes: int
    cores: int

    @property
    def seconds(self) -> float:
        return (self.read_s + self.copula_s) / self.cores


def measure_floor(folder: Path, cores: int) -> Floor:
    """The floor over the loan objects in ``folder``."""
    read_s, objects, size = read_floor(folder)
    return Floor(read_s, copula_floor(objects), objects, size, cores)


def read_floor(folder: Path) -> tuple[float, int, int]:
    """Seconds to read every object's bytes once (plain Python), objects, bytes."""
    names = sorted(os.listdir(folder))
    total = 0
    for name in names:  # warm the cache, untimed
        with open(folder / name, "rb") as f:
            f.read()
    started = time.perf_counter()
    for name in names:
        with open(folder / name, "rb") as f:
            total += len(f.read())
    return time.perf_counter() - started, len(names), total


def copula_floor(loans: int, paths: int = PATHS, shocks: int = len(SHOCKS)) -> float:
    """Seconds for a plain float32 one-factor copula: per block of loans, normal draws,
    then per shock a compare against the conditional threshold and a weighted sum."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal(paths, dtype=np.float32)
    block = max(1, (1 << 17) // paths)
    started = time.perf_counter()
    loss = np.zeros((shocks, paths), dtype=np.float64)
    for start in range(0, loans, block):
        n = min(block, loans - start)
        a = rng.uniform(-3.0, -1.5, n).astype(np.float32)
        b = rng.uniform(0.1, 0.5, n).astype(np.float32)
        w = rng.uniform(1e3, 1e6, n)
        eps = rng.standard_normal((n, paths), dtype=np.float32)
        for k in range(shocks):
            bar = a[:, None] - b[:, None] * (z[None, :] + np.float32(0.15 * k))
            loss[k] += w @ (eps < bar).astype(np.float64)
    return time.perf_counter() - started


def floor_fields(floors: list[Floor]) -> dict[str, object]:
    """The result's floor fields: medians over the repetitions, and each one's floor."""
    first = floors[0]
    read_s = statistics.median(f.read_s for f in floors)
    return {
        "floor_read_seconds": round(read_s, 2),
        "floor_read_us_per_object": round(read_s / first.objects * 1e6, 1),
        "floor_object_bytes": first.object_bytes,
        "floor_copula_seconds": round(statistics.median(f.copula_s for f in floors), 2),
        "floor_seconds": round(statistics.median(f.seconds for f in floors), 2),
        "floor_seconds_each": [round(f.seconds, 2) for f in floors],
    }


def pair_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of each repetition's numerator over its own denominator."""
    pairs = zip(numerators, denominators, strict=True)
    return round(statistics.median(n / d for n, d in pairs), 3)
