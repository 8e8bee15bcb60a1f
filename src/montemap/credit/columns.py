"""The loan file's columns: the one home of its schema (docs/model.md describes each).

The generator writes them, a tape import checks them and the batch handler parses
them; all three read the names from here.
"""

from __future__ import annotations

#: Every loan row has these (a tape without one of them is refused).
REQUIRED_COLUMNS = (
    "AccountID",
    "ZipCode",
    "Rate",
    "Payment",
    "LoanAmount",
    "LoanTerm",
    "OriginationDate",
    "GrossIncome",
)
#: Read when present; the model's defaults apply otherwise.
OPTIONAL_COLUMNS = (
    "LoanType",
    "RateType",
    "CreditScore",
    "NOI",
    "CollateralValue",
    "OtherMonthlyDebt",
)
#: Per-loan overrides of the model's parameters.
OVERRIDE_COLUMNS = ("PD", "LGD", "Rho")
