"""What ``montemap run`` prints when its execution ends: the results, or why it failed.

A run that succeeded shows its loans, each shock's expected loss, VaR and ES, the data
quality and the Fargate Spot estimate; one that failed shows its error and cause on one
line (a function's error document by its message; ``run.json`` keeps the whole cause).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from montemap.workflows.progress import format_money


def cause_text(cause: Any) -> str:
    """A failed execution's cause as one line: a function's error document (``errorType``,
    ``errorMessage``, ``stackTrace``) shows its message; the whole cause is in run.json."""
    text = "" if cause is None else str(cause)
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
        text = document["errorMessage"]
    return " ".join(text.split())


def print_result(record: dict[str, Any], run_dir: Path) -> None:
    out = sys.stdout.write
    status = record["status"]
    out(f"\n{record['name']}: {status} in {record['duration_seconds']:.1f} s\n")
    if status != "SUCCEEDED":
        out(f"  error: {record.get('error')}: {cause_text(record.get('cause'))}\n")
        out(f"  details: {run_dir / 'run.json'}\n")
        return
    summary = record.get("summary") or {}
    out(
        f"  loan objects {summary.get('objects', 0):,}: simulated {summary.get('loans', 0):,}, "
        f"matured {summary.get('matured', 0):,} (left out), rejected "
        f"{summary.get('rejected', 0):,}; {record['workers']} x {record['task_definition']} "
        "workers\n"
    )
    out("  shock   flagged   expected loss        VaR 99%        ES 99%      VaR 99.9%\n")
    for sc in summary.get("scenarios", []):
        out(
            f"  {sc['shock_bp']:>+5}  {sc['defaults_flagged']:>8,}  "
            f"{format_money(sc['expected_loss']):>14}  {format_money(sc['var']['0.99']):>13}  "
            f"{format_money(sc['es']['0.99']):>12}  {format_money(sc['var']['0.999']):>13}\n"
        )
    from montemap.credit.quality import quality_lines

    out("".join(f"  {line}\n" for line in quality_lines(summary)))
    cost = record["cost"]
    out(
        f"  Fargate Spot estimate: {cost['vcpu_seconds']:,.0f} vCPU-s, {cost['gb_seconds']:,.0f} "
        f"GB-s -> ${cost['usd']:.4f} (at ${cost['vcpu_hour_price']}/vCPU-h, "
        f"${cost['gb_hour_price']}/GB-h)\n"
    )
    report = run_dir / "report.html"
    out(f"  outputs: {run_dir}\n")
    if report.exists():
        out(f"  report:  {report}\n")
