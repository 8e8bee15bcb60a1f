"""``montemap compare RUN_A RUN_B``: two runs side by side on time and cost.

This is the original workshop's "Reviewing the Results" step: the same job with
the ``small`` and the ``large`` task definition, how long each took and what
each would cost on Fargate Spot. Prints a table and writes an HTML page.
"""

from __future__ import annotations

import argparse
import html
import json
import math
from pathlib import Path
from typing import Any

from montemap.errors import MontemapError
from montemap.workflows.data_dir_default import DATA_DIR_HELP, default_data_dir


class CompareError(MontemapError):
    """A run that cannot be compared (missing, unreadable, incomplete)."""


ROWS: list[tuple[str, str]] = [
    ("status", "Status"),
    ("task_definition", "Task definition"),
    ("task_size", "vCPU / memory per worker"),
    ("workers", "Workers"),
    ("loans", "Loans"),
    ("duration", "Duration (s)"),
    ("loans_per_second", "Loans per second"),
    ("vcpu_seconds", "vCPU-seconds"),
    ("gb_seconds", "GB-seconds"),
    ("cost", "Estimated Fargate Spot cost (USD)"),
]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare two runs on duration and cost",
        description="Two runs side by side: duration, loans per second, vCPU- and "
        "GB-seconds and the estimated Fargate Spot cost, then B's speed-up over A and "
        "its cost relative to A's; also written as an HTML page.",
    )
    p.add_argument(
        "run_a", metavar="RUN_A", help="run name (in DIR/runs), run folder or its run.json"
    )
    p.add_argument("run_b", metavar="RUN_B", help="the run to compare with RUN_A (same forms)")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default_data_dir(),
        help=DATA_DIR_HELP,
    )
    p.add_argument(
        "--html",
        metavar="FILE",
        help="where to write the HTML page (default DIR/runs/compare-RUN_A-RUN_B.html)",
    )
    p.set_defaults(func=main)


def load_run(ref: str, data_dir: Path) -> dict[str, Any]:
    """A run's ``run.json``: the file itself, its folder, or a run name under
    ``DATA_DIR/runs``."""
    path = Path(ref).expanduser()
    if not path.is_file():
        folder = path
        if not (folder / "run.json").exists():
            folder = data_dir / "runs" / ref
        path = folder / "run.json"
    if not path.exists():
        raise CompareError(f"no run {ref!r}: neither {ref}/run.json nor {path} exists")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path} is not readable JSON: {exc}")
    if not isinstance(record, dict):
        raise CompareError(
            f"{path} holds {_kind(record)}, not a run record: was it written by montemap run?"
        )
    for key in ("name", "status", "duration_seconds", "task_definition", "workers", "cost"):
        if key not in record:
            raise CompareError(f"{path} has no {key!r}: was it written by montemap run?")
    problem = _record_problem(record)
    if problem:
        raise CompareError(f"{path}: {problem}")
    return dict(record)


#: The figures a run record holds as numbers: required, then optional ones.
_REQUIRED_NUMBERS = (
    "duration_seconds",
    "workers",
    "cost.vcpu_seconds",
    "cost.gb_seconds",
    "cost.usd",
)
_OPTIONAL_NUMBERS = ("cpu_units", "memory_mib", "loans", "summary.loans")


def _record_problem(record: dict[str, Any]) -> str | None:
    """What makes a run record unusable here (a figure that is no number...), or None."""
    for key in ("cost", "summary"):
        value = record.get(key)
        if not isinstance(value, dict) and (key == "cost" or value is not None):
            return f"{key!r} is {_kind(value)}, not an object"
    for key in (*_REQUIRED_NUMBERS, *_OPTIONAL_NUMBERS):
        outer, _, inner = key.rpartition(".")
        holder = record.get(outer) or {} if outer else record
        if inner not in holder:
            if key in _OPTIONAL_NUMBERS:
                continue
            return f"has no {key!r}"
        value = holder.get(inner)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{key!r} is {_kind(value)}, not a number"
        if not math.isfinite(value) or value < 0:
            return f"{key!r} is {value}, not a number of at least 0"
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value!r}"
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), repr(value))


def figures(record: dict[str, Any]) -> dict[str, Any]:
    """The compared figures of one run."""
    duration = float(record["duration_seconds"])
    loans = (record.get("summary") or {}).get("loans", record.get("loans", 0))
    cost = record["cost"]
    return {
        "name": record["name"],
        "status": record["status"],
        "task_definition": record["task_definition"],
        "task_size": f"{record.get('cpu_units', 0) / 1024:g} vCPU / "
        f"{record.get('memory_mib', 0) / 1024:g} GB",
        "workers": record["workers"],
        "loans": loans,
        "duration": duration,
        "loans_per_second": loans / duration if duration > 0 else 0.0,
        "vcpu_seconds": cost["vcpu_seconds"],
        "gb_seconds": cost["gb_seconds"],
        "cost": cost["usd"],
    }


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    """Speed-up of B over A (A's time / B's time) and B's cost relative to A's."""
    speedup = a["duration"] / b["duration"] if b["duration"] else None
    cost_ratio = b["cost"] / a["cost"] if a["cost"] else None
    return {
        "speedup": round(speedup, 3) if speedup is not None else None,
        "cost_ratio": round(cost_ratio, 3) if cost_ratio is not None else None,
        "time_saved_percent": round((1 - b["duration"] / a["duration"]) * 100, 1)
        if a["duration"]
        else None,
    }


def table(a: dict[str, Any], b: dict[str, Any], r: dict[str, float | None]) -> str:
    width = max(len(label) for _, label in ROWS) + 2
    cells = [str(run["name"]) for run in (a, b)]
    cells += [_cell(key, run[key]) for run in (a, b) for key, _ in ROWS]
    col = max(14, *(len(cell) + 2 for cell in cells))
    lines = [f"{'':<{width}}{a['name']:>{col}}{b['name']:>{col}}"]
    for key, label in ROWS:
        lines.append(f"{label:<{width}}{_cell(key, a[key]):>{col}}{_cell(key, b[key]):>{col}}")
    lines.append("")
    lines.append(f"B is {r['speedup']}x as fast as A" if r["speedup"] else "speed-up: n/a")
    if r["time_saved_percent"] is not None:
        lines.append(f"time saved: {r['time_saved_percent']}%")
    lines.append(
        f"B costs {r['cost_ratio']}x what A costs" if r["cost_ratio"] else "cost ratio: n/a"
    )
    return "\n".join(lines)


def _cell(key: str, value: Any) -> str:
    """One figure as the table shows it: seconds to the hundredth below 10 s (a tenth
    above), rates and resource-seconds to a tenth, dollars to four decimals below $1."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if key == "cost":
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.2f}"
    if key == "duration" and abs(value) < 10:
        return f"{value:,.2f}"
    return f"{value:,.1f}"


def html_page(a: dict[str, Any], b: dict[str, Any], r: dict[str, float | None]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><th>{esc(label)}</th><td>{esc(_cell(key, a[key]))}</td>"
        f"<td>{esc(_cell(key, b[key]))}</td></tr>"
        for key, label in ROWS
    )
    bars = _bars(a, b)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>montemap: {esc(str(a["name"]))} vs {esc(str(b["name"]))}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:56rem;color:#1c2430}}
table{{border-collapse:collapse;margin:1rem 0}}th,td{{padding:.35rem .8rem;border-bottom:1px solid #dde}}
th{{text-align:left;font-weight:500}}td{{text-align:right;font-variant-numeric:tabular-nums}}
.k{{font-size:1.3rem;margin:.3rem 0}}
</style></head><body>
<h1>Comparing two runs</h1>
<p>A = <b>{esc(str(a["name"]))}</b>, B = <b>{esc(str(b["name"]))}</b>.</p>
<p class="k">B is <b>{_ratio(r["speedup"], "x")}</b> as fast as A
(time saved {_ratio(r["time_saved_percent"], "%")}) and costs
<b>{_ratio(r["cost_ratio"], "x")}</b> what A costs.</p>
<table><tr><th></th><th>A</th><th>B</th></tr>{rows}</table>
{bars}
<p>Cost: Fargate Spot per-second billing (one-minute minimum per task) of the workers'
vCPU and memory, at the prices recorded in each run.</p>
</body></html>
"""


def _ratio(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value}{unit}"


def _bars(a: dict[str, Any], b: dict[str, Any]) -> str:
    out = []
    for key, label in (("duration", "Duration (s)"), ("cost", "Cost (USD)")):
        top = max(a[key], b[key]) or 1
        svg = [f'<svg width="520" height="70" role="img" aria-label="{html.escape(label)}">']
        for i, (run, colour) in enumerate(((a, "#4a7bd0"), (b, "#e08a2e"))):
            w = 360 * run[key] / top
            y = 8 + i * 30
            svg.append(f'<text x="0" y="{y + 15}" font-size="13">{"AB"[i]}</text>')
            svg.append(f'<rect x="20" y="{y}" width="{w:.1f}" height="22" fill="{colour}"/>')
            svg.append(
                f'<text x="{26 + w:.1f}" y="{y + 15}" font-size="13">'
                f"{html.escape(_cell(key, run[key]))}</text>"
            )
        svg.append("</svg>")
        out.append(f"<h2>{html.escape(label)}</h2>" + "".join(svg))
    return "\n".join(out)


def main(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser()
    a = figures(load_run(args.run_a, data_dir))
    b = figures(load_run(args.run_b, data_dir))
    r = ratios(a, b)
    print(table(a, b, r))
    out = (
        Path(args.html).expanduser()
        if args.html
        else data_dir / "runs" / f"compare-{a['name']}-{b['name']}.html"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html_page(a, b, r))
    print(f"\nHTML: {out}")
    return 0
