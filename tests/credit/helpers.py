"""Loan records and objects for the credit tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

BASE = {
    "AccountID": "1001",
    "ZipCode": "02134",
    "Rate": "6.5",
    "Payment": "1135.48",
    "LoanAmount": "100000",
    "LoanTerm": "120",
    "OriginationDate": "06/15/2024",
    "GrossIncome": "85000",
}


def record(**fields: str) -> dict[str, str]:
    """A valid record of the eight required columns, with ``fields`` added or replaced."""
    out = dict(BASE)
    out.update(fields)
    return out


def csv_bytes(rows: Sequence[Mapping[str, str]], header: Sequence[str] | None = None) -> bytes:
    """A CSV object: header row plus the rows."""
    names = list(header or rows[0].keys())
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([row.get(n, "") for n in names])
    return buf.getvalue().encode()


def portfolio(n: int, *, seed: int = 5) -> list[dict[str, str]]:
    """``n`` varied, valid records (personal and commercial, fixed and variable)."""
    import random

    rnd = random.Random(seed)
    out = []
    for i in range(n):
        commercial = rnd.random() < 0.25
        rec = record(
            AccountID=str(10_000 + i * 7),
            ZipCode=f"{rnd.randrange(1000, 99999):05d}",
            Rate=f"{rnd.uniform(2, 11):.2f}",
            LoanAmount=str(rnd.randrange(5_000, 2_000_000)),
            LoanTerm=str(rnd.choice([36, 60, 120, 240, 360])),
            OriginationDate=f"{rnd.randrange(1, 13):02d}/{rnd.randrange(1, 29):02d}/{rnd.randrange(2024, 2026)}",
            GrossIncome=str(rnd.randrange(30_000, 400_000)),
            LoanType="commercial" if commercial else "personal",
            RateType=rnd.choice(["fixed", "variable"]),
            CreditScore=str(rnd.randrange(520, 830)),
            OtherMonthlyDebt=str(rnd.randrange(0, 1500)),
        )
        if commercial:
            rec["NOI"] = str(rnd.randrange(50_000, 900_000))
        out.append(rec)
    return out
