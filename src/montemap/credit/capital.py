"""Capital per segment: Basel IRB capital and RWA (summed from the per-loan figures of
``loans.parquet``) beside the economic capital (the segment's Euler contribution to VaR
minus its simulated expected loss), for the segments of the contributions (loan type,
rate type, ZIP region, score band)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from montemap.credit.contributions import SCORE_BANDS, region, score_band

#: Basel: risk-weighted assets are 12.5 times the capital requirement (1 / 8%).
RWA_FACTOR = 12.5
SEGMENTS = ("loan_type", "rate_type", "region", "score_band")


def segment_labels(rows: pa.Table) -> dict[str, NDArray[np.object_]]:
    """Each loan's segment under every segmentation."""

    def col(name: str) -> NDArray[Any]:
        return np.asarray(rows.column(name).to_numpy(zero_copy_only=False))

    return {
        "loan_type": col("LoanType").astype(object),
        "rate_type": col("RateType").astype(object),
        "region": region(col("ZipCode").astype(object)),
        "score_band": score_band(col("credit_score").astype(np.float64)),
    }


def segment_capital(
    rows: pa.Table, contributions: Mapping[str, Any], levels: tuple[str, ...]
) -> dict[str, list[dict[str, Any]]]:
    """Per segmentation, per segment: loans, exposure, simulated expected loss, IRB
    capital, RWA and economic capital at each level (``var_<a>`` contribution - EL)."""
    labels = segment_labels(rows)
    ead = np.asarray(rows.column("ead").to_numpy(), dtype=np.float64)
    sim_el = np.asarray(rows.column("sim_expected_loss").to_numpy(), dtype=np.float64)
    irb = np.asarray(rows.column("irb_capital").to_numpy(), dtype=np.float64)
    out: dict[str, list[dict[str, Any]]] = {}
    for seg in SEGMENTS:
        lab = labels[seg]
        present = set(lab.tolist())
        names = [b for b in SCORE_BANDS if b in present] if seg == "score_band" else sorted(present)
        var_parts = {
            level: {
                e["key"]: float(e["contribution"])
                for e in contributions.get(f"var_{level}", {}).get("segments", {}).get(seg, [])
            }
            for level in levels
        }
        entries = []
        for name in names:
            mask = lab == name
            el = float(sim_el[mask].sum())
            capital = float(irb[mask].sum())
            entries.append(
                {
                    "key": name,
                    "loans": int(mask.sum()),
                    "exposure": float(ead[mask].sum()),
                    "sim_expected_loss": el,
                    "irb_capital": capital,
                    "rwa": RWA_FACTOR * capital,
                    "economic_capital": {
                        level: var_parts[level][name] - el
                        for level in levels
                        if name in var_parts[level]
                    },
                }
            )
        out[seg] = entries
    return out


def segment_capital_from_sums(
    sums: Mapping[str, Mapping[str, Mapping[str, Any]]],
    contributions: Mapping[str, Any],
    levels: tuple[str, ...],
) -> dict[str, list[dict[str, Any]]]:
    """:func:`segment_capital` from per-segment sums already taken (``sums[seg][name]``:
    ``loans``, ``ead``, ``sim_expected_loss``, ``irb_capital``), names in report order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for seg in SEGMENTS:
        var_parts = {
            level: {
                e["key"]: float(e["contribution"])
                for e in contributions.get(f"var_{level}", {}).get("segments", {}).get(seg, [])
            }
            for level in levels
        }
        entries = []
        for name, got in sums[seg].items():
            el = float(got["sim_expected_loss"])
            capital = float(got["irb_capital"])
            entries.append(
                {
                    "key": name,
                    "loans": int(got["loans"]),
                    "exposure": float(got["ead"]),
                    "sim_expected_loss": el,
                    "irb_capital": capital,
                    "rwa": RWA_FACTOR * capital,
                    "economic_capital": {
                        level: var_parts[level][name] - el
                        for level in levels
                        if name in var_parts[level]
                    },
                }
            )
        out[seg] = entries
    return out
