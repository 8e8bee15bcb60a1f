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
from collections.abc import Mapping, Sequence
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
    score_band_index,
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
#: Rows of pass 3 whose segment sums are added at once (a few chunks).
_GROUP_ROWS = 1 << 16
#: Slices of contributions computed ahead of their use at most.
_AHEAD = 2
_CAPITAL = ("ead", "sim_expected_loss", "irb_capital")
_SIDE = ("key", "AccountID", "shock_bp", "LoanType", *_CAPITAL)


def _col(rows: pa.Table | pa.RecordBatch, name: str) -> NDArray[Any]:
    return np.asarray(rows.column(name).to_numpy(zero_copy_only=False))


def _flags(labels: pa.ChunkedArray) -> NDArray[np.bool_]:
    """Whether each label is ``"YES"`` (a null is not)."""
    yes = pc.fill_null(pc.equal(labels, pa.scalar("YES", labels.type)), False)
    return np.asarray(yes.to_numpy(zero_copy_only=False), dtype=bool)


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
        #: The last chunk's codes per breakdown (:meth:`labels`).
        self.codes: dict[str, NDArray[np.intp]] = {}

    def labels(self, name: str) -> tuple[NDArray[np.intp], list[str]]:
        """The last chunk's labels of a breakdown: each row's code and the names by code
        (so other sums over the same column need not encode it again)."""
        return self.codes[name], list(self.groups[name].names)

    def add(self, rows: pa.Table) -> None:
        col = {name: _col(rows, name) for name in (*_LOAN_SUMS, "sim_expected_loss")}
        flagged = _flags(rows.column("WillDefault"))
        for name in _LOAN_SUMS:
            self.sums[name].add(col[name])
        self.flagged += int(flagged.sum())
        clipped = np.clip(col["pd_stressed"], self.pd_edges[0], self.pd_edges[-1])
        self.pd_hist += np.histogram(clipped, bins=self.pd_edges)[0]
        values = {**col, "flagged": flagged}
        for name, column in self.columns.items():
            groups = self.groups[name]
            self.codes[name] = groups.codes(rows.column(column))
            groups.add(self.codes[name], values)

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


class SegmentCodes:
    """Each loan's segment under every segmentation (as :func:`capital.segment_labels`)
    as an index into a list of names, from the codes a :class:`LoanTotals` made of the
    same chunk: the region is the first digit of ``zip3`` (the first three of
    ``ZipCode``), kept per ``zip3`` code as the codes appear."""

    def __init__(self) -> None:
        self.regions: list[str] = []
        self._region_ids: dict[str, int] = {}
        self._region_of_zip3: list[int] = []

    def of(self, rows: pa.Table, totals: LoanTotals) -> dict[str, tuple[NDArray[Any], list[str]]]:
        zip3, zip3_names = totals.labels("zip3")
        for name in zip3_names[len(self._region_of_zip3) :]:
            region = f"zip {name[:1]}xxxx"
            if region not in self._region_ids:
                self._region_ids[region] = len(self.regions)
                self.regions.append(region)
            self._region_of_zip3.append(self._region_ids[region])
        region_of = np.array(self._region_of_zip3, dtype=np.intp)
        return {
            "loan_type": totals.labels("loan_type"),
            "rate_type": totals.labels("rate_type"),
            "region": (region_of[zip3] if zip3.shape[0] else zip3, list(self.regions)),
            "score_band": (score_band_index(_col(rows, "credit_score")), list(SCORE_BANDS)),
        }


def label_codes(groups: GroupSums, index: NDArray[Any], names: Sequence[str]) -> NDArray[np.intp]:
    """``groups.codes`` of the labels ``names[index]``, without making them: a label new to
    ``groups`` gets the next code in the order of its first row, as there."""
    m = index.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.intp)
    first = np.full(len(names), m, dtype=np.intp)
    np.minimum.at(first, index, np.arange(m, dtype=np.intp))
    present = np.flatnonzero(first < m)
    mapping = np.zeros(len(names), dtype=np.intp)
    for i in present[np.argsort(first[present], kind="stable")].tolist():
        mapping[i] = groups.names.setdefault(names[i], len(groups.names))
    return np.asarray(mapping[index], dtype=np.intp)


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
            omegas.append(var_path_weights(losses, weights, t.var, t.bandwidth))
            self.figures.append((f"var_{a}", t.var))
        self.centres, masses = factor_bins(factor, omegas)
        self.active = n > 0 and self.centres.shape[0] > 0
        self.mix = bin_mix(masses) if self.active else np.zeros((0, len(self.figures)))
        self.step = slice_rows(self.centres) if self.active else 1
        self.n = n
        self.got = [PairwiseSum(n) for _ in self.figures]
        self.labels = {seg: GroupSums(()) for seg in SEGMENTS}
        self._segments = SegmentCodes()
        #: Pass 2's inputs not yet handed out: per chunk PD, rho and LGD x EAD.
        self._inputs: list[tuple[NDArray[np.float64], ...]] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="reduce-contrib")
        self._work: deque[Future[NDArray[np.float64]]] = deque()
        self._raw_path = scratch / "raw.bin"
        self._side_path = scratch / "side.arrow"
        self._raw: BinaryIO = open(self._raw_path, "wb")  # noqa: SIM115
        self._side: pa.ipc.RecordBatchStreamWriter | None = None

    def add(self, rows: pa.Table, totals: LoanTotals) -> None:
        """Pass 2: one chunk of loans in canonical order (``totals``: the same chunk's,
        added just before, whose label codes this reuses)."""
        labels = self._segments.of(rows, totals)
        side = {name: rows.column(name) for name in _SIDE}
        side["LoanType"] = pc.cast(rows.column("LoanType"), pa.string())
        for seg in SEGMENTS:
            codes = label_codes(self.labels[seg], *labels[seg])
            self.labels[seg].add(codes, {})
            side[f"seg_{seg}"] = pa.array(codes.astype(np.int32))
        table = pa.table(side)
        if self._side is None:
            self._side = pa.ipc.new_stream(str(self._side_path), table.schema)
        self._side.write_table(table)
        if self.active:
            lgd_ead = _col(rows, "lgd").astype(np.float64) * _col(rows, "ead").astype(np.float64)
            pd = np.asarray(_col(rows, "pd_repriced"), dtype=np.float64)
            self._inputs.append((pd, np.asarray(_col(rows, "rho"), dtype=np.float64), lgd_ead))
            self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        """Hand full slices (every slice when ``final``) to the worker thread, and take
        in the results that are ready (all of them when ``final``), in order."""
        held = sum(b[0].shape[0] for b in self._inputs)
        if self._inputs and (held >= self.step or final):
            columns = [np.concatenate([b[i] for b in self._inputs]) for i in range(3)]
            start = 0
            while held - start >= self.step or (final and start < held):
                part = tuple(c[start : start + self.step] for c in columns)
                self._work.append(self._pool.submit(self._slice, *part))
                start += part[0].shape[0]
            self._inputs = [tuple(c[start:] for c in columns)] if start < held else []
        while self._work and (final or len(self._work) > _AHEAD or self._work[0].done()):
            raw = self._work.popleft().result()
            for f, total in enumerate(self.got):
                total.add(np.ascontiguousarray(raw[:, f]))
            self._raw.write(raw.data)  # C-contiguous: its bytes, not a copy

    def _slice(
        self, pd: NDArray[np.float64], rho: NDArray[np.float64], lgd_ead: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """One slice's raw contributions (on the worker thread: NumPy and SciPy release
        the GIL, so this overlaps the main thread's reading and summing)."""
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
            acc.sum_groups()
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
            seg: {stat: [PairwiseSum(int(m)) for m in counts[seg]] for stat in _CAPITAL}
            for seg in SEGMENTS
        }
        self.position = 0
        self._pending: list[tuple[NDArray[np.float64], dict[str, NDArray[Any]]]] = []
        self._held = 0

    def add(self, side: pa.RecordBatch, raw_file: BinaryIO, out: BackgroundParquet) -> None:
        m, width = side.num_rows, len(self.c.figures)
        # one row per figure, then one per capital statistic: every segmentation
        # reorders all of them with one gather (each value is the same product as
        # ``raw[:, f] * scale``)
        matrix = np.zeros((width + len(_CAPITAL), m))
        if self.c.active:
            raw = np.fromfile(raw_file, dtype=np.float64, count=m * width).reshape(m, width)
            scales = np.asarray(self.scales, dtype=np.float64)[:, None]
            np.multiply(raw.T, scales, out=matrix[:width])
        for i, stat in enumerate(_CAPITAL):
            matrix[width + i] = _col(side, stat)
        values = matrix[:width]
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
        self._pending.append((matrix, {seg: _col(side, f"seg_{seg}") for seg in SEGMENTS}))
        self._held += m
        if self._held >= _GROUP_ROWS:
            self.sum_groups()
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

    def sum_groups(self) -> None:
        """Add the held chunks to the segments' sums (several chunks at a time: the
        sums are the same for any cut, and fewer, longer pieces cost less)."""
        if not self._pending:
            return
        matrix = np.concatenate([m for m, _ in self._pending], axis=1)
        width = len(self.c.figures)
        for seg in SEGMENTS:
            order, bounds = _group_order(np.concatenate([c[seg] for _, c in self._pending]))
            # row by row: a gather of one row is cheaper than one of the whole matrix
            for f in range(width):
                _add_groups(self.parts[f][seg], matrix[f][order], bounds)
            for i, stat in enumerate(_CAPITAL):
                _add_groups(self.capital[seg][stat], matrix[width + i][order], bounds)
        self._pending, self._held = [], 0

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
    # a stable order is unique, so NumPy's radix sort of one-byte codes gives the same one
    small = codes.shape[0] > 0 and int(codes.min()) >= 0 and int(codes.max()) < 256
    order = np.argsort(codes.astype(np.uint8) if small else codes, kind="stable")
    top = int(codes.max()) + 1 if codes.shape[0] else 0
    return order, np.searchsorted(codes[order], np.arange(top + 1))


def _add_groups(
    sums: list[PairwiseSum], values: NDArray[np.float64], bounds: NDArray[np.intp]
) -> None:
    for code in range(bounds.shape[0] - 1):
        if bounds[code + 1] > bounds[code]:
            sums[code].add(values[bounds[code] : bounds[code + 1]])
