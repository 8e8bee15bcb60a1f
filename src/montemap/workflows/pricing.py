"""What a run would cost on AWS Fargate Spot, from the worker time it used.

Fargate bills each task per second (one-minute minimum) for its vCPU and its
memory. The default prices are Fargate Spot's published Linux/x86 rates (see
``docs/cost.md`` for the source and date); Spot prices move with supply and
demand, so every command that prints a cost lets you override them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Fargate Spot, Linux/x86, USD per vCPU-hour and per GB-hour (docs/cost.md).
SPOT_VCPU_HOUR = 0.01334053
SPOT_GB_HOUR = 0.00146489
#: Fargate on-demand, us-east-1, Linux/x86, for comparison.
ON_DEMAND_VCPU_HOUR = 0.04048
ON_DEMAND_GB_HOUR = 0.004445
PRICES_AS_OF = "2026-11-27"
MINIMUM_BILLED_SECONDS = 60.0


@dataclass(frozen=True)
class TaskUsage:
    """One worker task's size and how long it ran."""

    cpu_units: int  # 1/1024 vCPU
    memory_mib: int
    seconds: float


@dataclass(frozen=True)
class Cost:
    tasks: int
    vcpu_seconds: float
    gb_seconds: float
    vcpu_hour_price: float
    gb_hour_price: float
    usd: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate(
    usage: list[TaskUsage],
    *,
    vcpu_hour: float = SPOT_VCPU_HOUR,
    gb_hour: float = SPOT_GB_HOUR,
) -> Cost:
    """The billed vCPU- and GB-seconds of ``usage`` and their price."""
    if vcpu_hour < 0 or gb_hour < 0:
        raise ValueError("prices must not be negative")
    vcpu_s = gb_s = 0.0
    for task in usage:
        billed = max(task.seconds, MINIMUM_BILLED_SECONDS)
        vcpu_s += task.cpu_units / 1024 * billed
        gb_s += task.memory_mib / 1024 * billed
    usd = vcpu_s / 3600 * vcpu_hour + gb_s / 3600 * gb_hour
    return Cost(len(usage), round(vcpu_s, 3), round(gb_s, 3), vcpu_hour, gb_hour, round(usd, 6))
