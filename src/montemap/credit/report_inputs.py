"""The report's inputs: ``summary.json`` (its scenarios, validated) and the per-loan
figures from ``loans.parquet``.

:func:`load_summary` turns the summary into :class:`Scenario` records, raising a
:class:`ReportError` that names what is wrong; :func:`loan_stats` reads the loan file
(through :mod:`montemap.credit.report_loans`) into :class:`LoanStats` per scenario and
the loans with the largest expected loss, or takes the same figures from the reduction
that wrote the file (:func:`figure_feed`, in the same process).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from montemap.credit.report_loans import FigureFeed, Figures, scan_loans
from montemap.errors import MontemapError

#: Debt-to-income above which a personal borrower counts as stretched.
DTI_LINE = 0.43
#: Debt-service cover below which a commercial loan counts as stretched.
DSCR_LINE = 1.25
#: Loans listed with the largest expected loss.
TOP_LOANS = 15
#: The loans.parquet columns the report reads.
_LOAN_COLUMNS = [
    "key",
    "AccountID",
    "LoanType",
    "RateType",
    "shock_bp",
    "balance",
    "payment",
    "shocked_payment",
    "dti",
    "dscr",
    "crossed",
    "pd0",
    "pd_stressed",
    "expected_loss",
    "WillDefault",
]


class ReportError(MontemapError):
    """A run folder whose outputs cannot make a report (missing or malformed)."""


def _num(obj: Mapping[str, Any], name: str, where: str) -> float:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(f"summary.json: {where}.{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass
class Scenario:
    """One scenario's figures from summary.json."""

    shock_bp: int
    exposure: float
    expected_loss: float
    expected_loss_se: float | None
    unexpected_loss: float | None
    var: dict[str, float]
    es: dict[str, float]
    mean_pd: float
    mean_pd0: float
    flagged: int
    default_mean: float
    default_q99: float | None
    loss_histogram: tuple[list[float], list[int]] | None
    pd_histogram: tuple[list[float], list[int]] | None
    breakdowns: dict[str, list[dict[str, Any]]]
    var_ci: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    es_ci: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


def _bound(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _intervals(raw: Any) -> dict[str, tuple[float | None, float | None]]:
    """``{"0.99": [low, high]}`` entries that are well formed (older summaries have none);
    a bound the run could not estimate is ``null`` there, ``None`` here."""
    if not isinstance(raw, dict):
        return {}
    out = {}
    for k, v in raw.items():
        if (
            isinstance(v, list)
            and len(v) == 2
            and all(x is None or _bound(x) is not None for x in v)
        ):
            out[str(k)] = (_bound(v[0]), _bound(v[1]))
    return out


@dataclass
class LoanStats:
    """Figures computed from loans.parquet for one scenario."""

    loans: int = 0
    variable: int = 0
    variable_payment_change: float = 0.0  # mean relative change
    variable_payment_increase: float = 0.0  # mean currency change
    personal: int = 0
    personal_over_dti: int = 0
    commercial: int = 0
    commercial_under_dscr: int = 0
    crossed: int = 0
    segment_el: dict[tuple[str, str], float] = field(default_factory=dict)


def load_summary(path: Path) -> tuple[dict[str, Any], list[Scenario]]:
    """summary.json and its scenarios, validated (a clear error names what is wrong)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (is this a run's output folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ReportError(f"{path}: expected a JSON object")
    raw = doc.get("scenarios")
    if not isinstance(raw, list) or not raw:
        raise ReportError(f"{path}: 'scenarios' must be a non-empty list")
    scenarios = [_scenario(s, i) for i, s in enumerate(raw)]
    scenarios.sort(key=lambda s: s.shock_bp)
    return doc, scenarios


def _scenario(raw: Any, i: int) -> Scenario:
    where = f"scenarios[{i}]"
    if not isinstance(raw, dict):
        raise ReportError(f"summary.json: {where} must be an object")
    shock = raw.get("shock_bp")
    if isinstance(shock, bool) or not isinstance(shock, int):
        raise ReportError(f"summary.json: {where}.shock_bp must be an integer, got {shock!r}")
    levels: dict[str, dict[str, float]] = {}
    for name in ("var", "es"):
        table = raw.get(name)
        if not isinstance(table, dict) or not table:
            raise ReportError(f"summary.json: {where}.{name} must be an object of levels")
        levels[name] = {str(k): _num(table, k, f"{where}.{name}") for k in table}
    counts = raw.get("default_count") if isinstance(raw.get("default_count"), dict) else {}
    assert isinstance(counts, dict)
    quantiles = counts.get("quantiles") if isinstance(counts.get("quantiles"), dict) else {}
    assert isinstance(quantiles, dict)
    q99 = quantiles.get("0.99")
    breakdowns = raw.get("breakdowns") if isinstance(raw.get("breakdowns"), dict) else {}
    assert isinstance(breakdowns, dict)
    return Scenario(
        shock_bp=shock,
        exposure=_num(raw, "exposure", where),
        expected_loss=_num(raw, "expected_loss", where),
        expected_loss_se=_bound(raw.get("expected_loss_se")),
        unexpected_loss=_bound(raw.get("unexpected_loss")),
        var=levels["var"],
        es=levels["es"],
        mean_pd=_num(raw, "mean_pd", where),
        mean_pd0=float(raw.get("mean_pd0") or 0.0),
        flagged=int(raw.get("defaults_flagged") or 0),
        default_mean=float(counts.get("mean") or 0.0),
        default_q99=float(q99) if isinstance(q99, int | float) else None,
        loss_histogram=_histogram(raw.get("loss_histogram"), f"{where}.loss_histogram"),
        pd_histogram=_histogram(raw.get("pd_histogram"), f"{where}.pd_histogram"),
        breakdowns={
            k: [e for e in v if isinstance(e, dict)]
            for k, v in breakdowns.items()
            if isinstance(v, list)
        },
        var_ci=_intervals(raw.get("var_ci")),
        es_ci=_intervals(raw.get("es_ci")),
    )


def _histogram(raw: Any, where: str) -> tuple[list[float], list[int]] | None:
    if raw is None:
        return None
    edges = raw.get("edges") if isinstance(raw, dict) else None
    counts = raw.get("counts") if isinstance(raw, dict) else None
    if (
        not isinstance(edges, list)
        or not isinstance(counts, list)
        or len(edges) != len(counts) + 1
        or not counts
        or not all(isinstance(e, int | float) and math.isfinite(e) for e in edges)
        or not all(isinstance(c, int | float) and c >= 0 for c in counts)
    ):
        raise ReportError(f"summary.json: {where} needs 'edges' (n+1 numbers) and 'counts' (n)")
    return [float(e) for e in edges], [int(c) for c in counts]


def figure_feed(shocks: Sequence[int]) -> FigureFeed:
    """What the reduction feeds ``loans.parquet``'s rows to, as it writes them, for the
    figures :func:`loan_stats` would read back from the file."""
    return FigureFeed(shocks, _LOAN_COLUMNS, top=TOP_LOANS, lines=(DTI_LINE, DSCR_LINE))


def loan_stats(
    path: Path, shocks: Sequence[int], figures: Figures | None = None
) -> tuple[dict[int, LoanStats], list[dict]]:
    """Per-scenario figures from loans.parquet, and the top loans at the largest shock:
    ``figures`` (from the reduction that wrote the file) where they are those of these
    scenarios, else read from the file."""
    if figures is not None and set(figures[0]) == set(shocks) and len(set(shocks)) == len(shocks):
        return {shock: LoanStats(**figures[0][shock]) for shock in shocks}, list(figures[1])
    try:
        file = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise ReportError(f"{path}: not a readable Parquet file: {exc}") from None
    try:
        missing = [c for c in _LOAN_COLUMNS if c not in file.schema_arrow.names]
        if missing:
            raise ReportError(f"{path}: missing column(s) {', '.join(missing)}")
    finally:
        file.close()
    try:
        scanned, top = scan_loans(
            path, shocks, _LOAN_COLUMNS, top=TOP_LOANS, lines=(DTI_LINE, DSCR_LINE)
        )
    except (OSError, pa.ArrowException) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    return {shock: LoanStats(**f) for shock, f in scanned.items()}, top
