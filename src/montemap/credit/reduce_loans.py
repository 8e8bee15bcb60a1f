"""The reduction's per-loan passes, one scenario at a time, in bounded memory.

Pass 2 reads every batch's rows of the scenario in canonical (key) order, a chunk at a
time (:func:`montemap.credit.reduce_merge.scenario_chunks`): it writes them to
``loans.parquet`` (on a second thread, :mod:`reduce_writer`), adds them to the
scenario's loan-level totals (:class:`LoanTotals`), and computes each loan's raw Euler
contributions on the same slices as :func:`contributions.allocate`, spilling them with
the few columns pass 3 needs. Pass 3 reads the spill back once the scaling factors are
known (they need every loan's raw contribution) and writes ``contributions.parquet``,
the segment totals, the top contributors and the capital per segment. Every sum over
loans is exact as in :mod:`montemap.credit.exact_sum`, so the figures are the same bits
as the whole-table code's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from montemap.credit.contributions import (
    SCORE_BANDS,
    bin_mix,
    es_path_weights,
    factor_bins,
    raw_contributions,
    score_band,
    slice_rows,
    var_path_weights,
)
from montemap.credit.estimators import Tail
from montemap.credit.exact_sum import GroupSums, PairwiseSum, TopN
from montemap.credit.reduce_writer import BackgroundParquet

TOP = 10
SEGMENTS = ("loan_type", "rate_type", "region", "score_band")
_LOAN_SUMS = ("ead", "expected_loss", "pd_stressed", "pd0", "irb_capital")
_GROUP_STATS = ("ead", "expected_loss", "sim_expected_loss", "pd_stressed", "flagged")
#: Slices of contributions computed ahead of their use at most.
_AHEAD = 2
_SIDE = ("key", "AccountID", "shock_bp", "LoanType", "ead", "sim_expected_loss", "irb_capital")


def _col(rows: pa.Table | pa.RecordBatch, name: str) -> NDArray[Any]:
    return np.asarray(rows.column(name).to_numpy(zero_copy_only=False))


class LoanTotals:
    """A scenario's sums over loans: totals, flagged count, PD histogram, breakdowns."""

    def __init__(self, n: int, breakdowns: Mapping[str, str], pd_edges: NDArray[np.float64]):
        self.n = n
        self.sums = {name: PairwiseSum(n) for name in _LOAN_SUMS}
        self.flagged = 0
        self.pd_edges = pd_edges
        self.pd_hist = np.zeros(pd_edges.shape[0] - 1, dtype=np.int64)
        self.columns = dict(breakdowns)
        self.groups = {name: GroupSums(_GROUP_STATS) for name in breakdowns}

    def add(self, rows: pa.Table) -> None:
        col = {name: _col(rows, name) for name in (*_LOAN_SUMS, "sim_expected_loss")}
        flagged = _col(rows, "WillDefault") == "YES"
        for name in _LOAN_SUMS:
            self.sums[name].add(col[name])
        self.flagged += int(flagged.sum())
        clipped = np.clip(col["pd_stressed"], self.pd_edges[0], self.pd_edges[-1])
        self.pd_hist += np.histogram(clipped, bins=self.pd_edges)[0]
        values = {**col, "flagged": flagged}
        for name, column in self.columns.items():
            groups = self.groups[name]
            groups.add(groups.codes(rows.column(column)), values)

    def total(self, name: str) -> float:
        return self.sums[name].value()

    def breakdown(self, name: str, order: tuple[str, ...] | None) -> list[dict[str, Any]]:
        """Per-group loans, exposure, expected losses, mean PD and flagged count."""
        groups = self.groups[name]
        keys = list(order) if order is not None else sorted(groups.names)
        out = []
        for key in keys:
            i = groups.names.get(key)
            n = int(groups.count[i]) if i is not None else 0
            sums = {stat: float(groups.sums[stat][i]) if n else 0.0 for stat in _GROUP_STATS}
            out.append(
                {
                    "key": key,
                    "loans": n,
                    "exposure": sums["ead"],
                    "expected_loss": sums["expected_loss"],
                    "sim_expected_loss": sums["sim_expected_loss"],
                    "mean_pd": sums["pd_stressed"] / n if n else 0.0,
                    "flagged": int(sums["flagged"]),
                }
            )
        return out


def segment_labels(rows: pa.Table) -> dict[str, pa.Array]:
    """Each loan's segment under every segmentation (as :func:`capital.segment_labels`)."""
    zips = pc.cast(rows.column("ZipCode"), pa.string())
    region = pc.binary_join_element_wise("zip ", pc.utf8_slice_codeunits(zips, 0, 1), "xxxx", "")
    return {
        "loan_type": pc.cast(rows.column("LoanType"), pa.string()),
        "rate_type": pc.cast(rows.column("RateType"), pa.string()),
        "region": region,
        "score_band": pa.array(score_band(_col(rows, "credit_score").astype(np.float64))),
    }


class Contributions:
    """Euler contributions of one scenario: pass 2 (:meth:`add`) spills the raw
    per-loan figures, pass 3 (:meth:`finish`) scales and summarises them."""

    def __init__(
        self,
        n: int,
        losses: NDArray[np.float64],
        weights: NDArray[np.float64],
        factor: NDArray[np.float64],
        tails: Mapping[float, Tail],
        scratch: Path,
    ) -> None:
        self.figures: list[tuple[str, float]] = []
        omegas = []
        for a, t in tails.items():
            omegas.append(es_path_weights(losses, weights, a, t.var))
            self.figures.append((f"es_{a}", t.es))
            omegas.append(var_path_weights(losses, weights, t.var, t.var_se))
            self.figures.append((f"var_{a}", t.var))
        self.centres, masses = factor_bins(factor, omegas)
        self.active = n > 0 and self.centres.shape[0] > 0
        self.mix = bin_mix(masses) if self.active else np.zeros((0, len(self.figures)))
        self.step = slice_rows(self.centres) if self.active else 1
        self.n = n
        self.got = [PairwiseSum(n) for _ in self.figures]
        self.labels = {seg: GroupSums(()) for seg in SEGMENTS}
        self._inputs: list[NDArray[np.float64]] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="reduce-contrib")
        self._work: deque[Future[NDArray[np.float64]]] = deque()
        self._raw_path = scratch / "raw.bin"
        self._side_path = scratch / "side.arrow"
        self._raw: BinaryIO = open(self._raw_path, "wb")  # noqa: SIM115
        self._side: pa.ipc.RecordBatchStreamWriter | None = None

    def add(self, rows: pa.Table) -> None:
        """Pass 2: one chunk of loans in canonical order."""
        labels = segment_labels(rows)
        side = {name: rows.column(name) for name in _SIDE}
        side["LoanType"] = labels["loan_type"]
        for seg in SEGMENTS:
            codes = self.labels[seg].codes(labels[seg])
            self.labels[seg].add(codes, {})
            side[f"seg_{seg}"] = pa.array(codes.astype(np.int32))
        table = pa.table(side)
        if self._side is None:
            self._side = pa.ipc.new_stream(str(self._side_path), table.schema)
        self._side.write_table(table)
        if self.active:
            lgd_ead = _col(rows, "lgd").astype(np.float64) * _col(rows, "ead").astype(np.float64)
            block = np.stack(
                [_col(rows, "pd_repriced").astype(np.float64), _col(rows, "rho"), lgd_ead], axis=1
            )
            self._inputs.append(block.astype(np.float64))
            self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        """Hand full slices (every slice when ``final``) to the worker thread, and take
        in the results that are ready (all of them when ``final``), in order."""
        held = sum(b.shape[0] for b in self._inputs)
        if self._inputs and (held >= self.step or final):
            buf = np.concatenate(self._inputs)
            start = 0
            while buf.shape[0] - start >= self.step or (final and start < buf.shape[0]):
                part = buf[start : start + self.step]
                self._work.append(self._pool.submit(self._slice, part))
                start += part.shape[0]
            self._inputs = [buf[start:]] if start < buf.shape[0] else []
        while self._work and (final or len(self._work) > _AHEAD or self._work[0].done()):
            raw = self._work.popleft().result()
            for f, total in enumerate(self.got):
                total.add(np.ascontiguousarray(raw[:, f]))
            self._raw.write(raw.tobytes())

    def _slice(self, part: NDArray[np.float64]) -> NDArray[np.float64]:
        """One slice's raw contributions (on the worker thread: NumPy and SciPy release
        the GIL, so this overlaps the main thread's reading and summing)."""
        pd, rho, lgd_ead = (np.ascontiguousarray(part[:, i]) for i in range(3))
        raw = raw_contributions(pd, rho, self.centres, self.mix)
        raw *= lgd_ead[:, None]
        return np.ascontiguousarray(raw)

    def finish(self, out: BackgroundParquet) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Pass 3: write this scenario's ``contributions.parquet`` rows to ``out``;
        returns the summary and the capital sums."""
        if self.active:
            self._flush(final=True)
        spilled = self._side is not None
        self.close()
        scales = [self._scale(i, total) for i, (_, total) in enumerate(self.figures)]
        acc = _Pass3(self, scales)
        if spilled:
            # an explicit file, not the path: given a path, Arrow memory-maps the spill and
            # every page read stays in the resident set until the reader closes
            with (
                open(self._raw_path, "rb") as raw_file,
                pa.OSFile(str(self._side_path)) as side_file,
                pa.ipc.open_stream(side_file) as r,
            ):
                for side in r:
                    acc.add(side, raw_file, out)
        return acc.summary(), acc.capital_sums()

    def close(self) -> None:
        """Close the spill files and the worker thread (again: no effect; after an error:
        what pass 2 left is dropped)."""
        for work in self._work:
            work.cancel()
        self._pool.shutdown()
        self._work.clear()
        self._raw.close()
        if self._side is not None:
            self._side.close()
            self._side = None

    def _scale(self, f: int, total: float) -> float:
        if not self.active:
            return 1.0
        got = self.got[f].value()
        return total / got if got > 0 else 1.0


class _Pass3:
    """Pass 3's accumulators: per figure the total, the segments and the top loans; per
    segment the loan count, exposure, simulated EL and IRB capital."""

    def __init__(self, contrib: Contributions, scales: list[float]) -> None:
        self.c = contrib
        self.scales = scales
        n = contrib.n
        counts = {seg: contrib.labels[seg].count for seg in SEGMENTS}
        self.totals = [PairwiseSum(n) for _ in contrib.figures]
        self.parts = [
            {seg: [PairwiseSum(int(m)) for m in counts[seg]] for seg in SEGMENTS}
            for _ in contrib.figures
        ]
        self.top = [TopN(TOP) for _ in contrib.figures]
        self.capital = {
            seg: {
                stat: [PairwiseSum(int(m)) for m in counts[seg]]
                for stat in ("ead", "sim_expected_loss", "irb_capital")
            }
            for seg in SEGMENTS
        }
        self.position = 0

    def add(self, side: pa.RecordBatch, raw_file: BinaryIO, out: BackgroundParquet) -> None:
        m, width = side.num_rows, len(self.c.figures)
        if self.c.active:
            raw = np.fromfile(raw_file, dtype=np.float64, count=m * width).reshape(m, width)
        values = [
            raw[:, f] * scale if self.c.active else np.zeros(m)
            for f, scale in enumerate(self.scales)
        ]
        orders = {seg: _group_order(_col(side, f"seg_{seg}")) for seg in SEGMENTS}
        keys, accounts, types = (
            side.column("key"),
            side.column("AccountID"),
            side.column("LoanType"),
        )

        def payload(i: int) -> tuple[Any, Any, Any]:
            return keys[i].as_py(), accounts[i].as_py(), types[i].as_py()

        for f, vals in enumerate(values):
            self.totals[f].add(vals)
            self.top[f].add(vals, self.position, payload)
            for seg, (order, bounds) in orders.items():
                _add_groups(self.parts[f][seg], vals[order], bounds)
        for seg, (order, bounds) in orders.items():
            for stat, sums in self.capital[seg].items():
                _add_groups(sums, _col(side, stat).astype(np.float64)[order], bounds)
        self.position += m
        table = pa.table(
            {
                "key": keys,
                "AccountID": accounts,
                "shock_bp": side.column("shock_bp"),
                **{name: pa.array(v) for (name, _), v in zip(self.c.figures, values, strict=True)},
            }
        )
        out.write(table)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f, (name, total) in enumerate(self.c.figures):
            summed = self.totals[f].value()
            out[name] = {
                "total": total,
                "scale": self.scales[f],
                "segments": {
                    seg: [
                        {
                            "key": key,
                            "contribution": part,
                            "share": part / summed if summed else 0.0,
                        }
                        for key, part in self._segment_values(seg, self.parts[f][seg])
                    ]
                    for seg in SEGMENTS
                },
                "top": [
                    {
                        "key": key,
                        "AccountID": account,
                        "loan_type": loan_type,
                        "contribution": v,
                        "share": v / total if total else 0.0,
                    }
                    for v, (key, account, loan_type) in self.top[f].items()
                ],
            }
        return out

    def _segment_values(self, seg: str, sums: list[PairwiseSum]) -> list[tuple[str, float]]:
        names = self.c.labels[seg].names
        ordered = segment_names(seg, names)
        return [(name, sums[names[name]].value()) for name in ordered]

    def capital_sums(self) -> dict[str, dict[str, Any]]:
        """Per segmentation, per segment name: loans, exposure, simulated EL, IRB capital."""
        out: dict[str, dict[str, Any]] = {}
        for seg in SEGMENTS:
            names = self.c.labels[seg].names
            counts = self.c.labels[seg].count
            out[seg] = {
                name: {
                    "loans": int(counts[names[name]]),
                    **{stat: s[names[name]].value() for stat, s in self.capital[seg].items()},
                }
                for name in segment_names(seg, names)
            }
        return out


def segment_names(seg: str, names: Mapping[str, int]) -> list[str]:
    """A segmentation's names in report order (score bands by score, others sorted)."""
    if seg == "score_band":
        return [b for b in SCORE_BANDS if b in names]
    return sorted(names)


def _group_order(codes: NDArray[np.int32]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row order grouping equal codes (stable) and each code's bounds in it."""
    order = np.argsort(codes, kind="stable")
    top = int(codes.max()) + 1 if codes.shape[0] else 0
    return order, np.searchsorted(codes[order], np.arange(top + 1))


def _add_groups(
    sums: list[PairwiseSum], values: NDArray[np.float64], bounds: NDArray[np.intp]
) -> None:
    for code in range(bounds.shape[0] - 1):
        if bounds[code + 1] > bounds[code]:
            sums[code].add(values[bounds[code] : bounds[code + 1]])
