"""Loan objects of every kind the parsers must handle: malformed ones (each with the reject
reason the per-row parser gives) and odd but valid ones (spacing, signs, encodings, layouts).

The per-row parser gives each malformed object its reason (``test_loans.py``), the batch
path's vectorised parser is checked against the per-row parser over all of them
(``test_batch_parse.py``), and the whole-batch output over them is pinned
(``test_batch_golden.py``). The reasons assume the analysis date 2026-11-27.
"""

from __future__ import annotations

from tests.credit.helpers import csv_bytes, record

MAX_OBJECT_BYTES = 1 << 20


def _without(name: str) -> bytes:
    rec = record()
    del rec[name]
    return csv_bytes([rec])


#: (object bytes, reject reason) for objects rejected whole.
MALFORMED: list[tuple[bytes, str]] = [
    (_without("Rate"), "missing column 'Rate'"),
    (csv_bytes([record(Rate="six")]), "column 'Rate': 'six' is not a number"),
    (csv_bytes([record(Rate="nan")]), "column 'Rate': 'nan' is not a number"),
    (csv_bytes([record(Rate="inf")]), "column 'Rate': 'inf' is not a number"),
    (csv_bytes([record(GrossIncome="1e999")]), "column 'GrossIncome': '1e999' is out of range"),
    (csv_bytes([record(LoanAmount="1_000")]), "column 'LoanAmount': '1_000' is not a number"),
    (
        csv_bytes([record(LoanAmount="2e12")]),
        "column 'LoanAmount': value 2e12 exceeds 1,000,000,000,000",
    ),
    (csv_bytes([record(LoanAmount="-5")]), "column 'LoanAmount': value -5 is negative"),
    (csv_bytes([record(LoanAmount="0")]), "column 'LoanAmount': the amount must be positive"),
    (csv_bytes([record(LoanAmount="-0")]), "column 'LoanAmount': the amount must be positive"),
    (csv_bytes([record(Payment="-1")]), "column 'Payment': value -1 is negative"),
    (csv_bytes([record(LoanTerm="0")]), "column 'LoanTerm': term 0 must be 1 to 1200 months"),
    (csv_bytes([record(LoanTerm="1201")]), "column 'LoanTerm': term 1201 must be 1 to 1200 months"),
    (csv_bytes([record(LoanTerm="12.5")]), "column 'LoanTerm': '12.5' is not a whole number"),
    (csv_bytes([record(Rate="100.5")]), "column 'Rate': value 100.5 is outside [0, 100]"),
    (
        csv_bytes([record(OriginationDate="02/30/2021")]),
        "column 'OriginationDate': '02/30/2021' is not a valid date",
    ),
    (
        csv_bytes([record(OriginationDate="02/29/2023")]),
        "column 'OriginationDate': '02/29/2023' is not a valid date",
    ),
    (
        csv_bytes([record(OriginationDate="13/01/2021")]),
        "column 'OriginationDate': '13/01/2021' is not a valid date",
    ),
    (
        csv_bytes([record(OriginationDate="00/10/2021")]),
        "column 'OriginationDate': '00/10/2021' is not a valid date",
    ),
    (
        csv_bytes([record(OriginationDate="01/01/0000")]),
        "column 'OriginationDate': '01/01/0000' is not a valid date",
    ),
    (
        csv_bytes([record(OriginationDate="2021-02-30")]),
        "column 'OriginationDate': '2021-02-30' is not a valid date",
    ),
    (
        csv_bytes([record(OriginationDate="yesterday")]),
        "column 'OriginationDate': 'yesterday' is not a date (MM/DD/YYYY)",
    ),
    (
        csv_bytes([record(OriginationDate="01/01/2027")]),
        "column 'OriginationDate': 2027-01-01 is after the analysis date 2026-11-27",
    ),
    (csv_bytes([record(AccountID="")]), "column 'AccountID' is empty"),
    (csv_bytes([record(AccountID="12a")]), "column 'AccountID': '12a' is not a number"),
    (
        csv_bytes([record(AccountID="-3")]),
        "column 'AccountID': '-3' is not an integer from 0 to 2**63-1",
    ),
    (
        csv_bytes([record(AccountID="9223372036854775808")]),
        "column 'AccountID': '9223372036854775808' is not an integer from 0 to 2**63-1",
    ),
    (
        csv_bytes([record(AccountID="1.5")]),
        "column 'AccountID': '1.5' is not an integer from 0 to 2**63-1",
    ),
    (
        csv_bytes([record(ZipCode="ABCDE")]),
        "column 'ZipCode': 'ABCDE' is not a 5-digit ZIP code",
    ),
    (
        csv_bytes([record(ZipCode="123456")]),
        "column 'ZipCode': '123456' is not a 5-digit ZIP code",
    ),
    (
        csv_bytes([record(LoanType="mortgage")]),
        "column 'LoanType': 'mortgage' is not one of personal, commercial",
    ),
    (
        csv_bytes([record(RateType="floating")]),
        "column 'RateType': 'floating' is not one of variable, fixed",
    ),
    (
        csv_bytes([record(CreditScore="900")]),
        "column 'CreditScore': value 900 is outside [300, 850]",
    ),
    (csv_bytes([record(NOI="abc")]), "column 'NOI': 'abc' is not a number"),
    (
        csv_bytes([record(CollateralValue="-1")]),
        "column 'CollateralValue': value -1 is negative",
    ),
    (
        csv_bytes([record(OtherMonthlyDebt="x")]),
        "column 'OtherMonthlyDebt': 'x' is not a number",
    ),
    (csv_bytes([record(PD="1.5")]), "column 'PD': value 1.5 is outside [0, 1]"),
    (csv_bytes([record(LGD="-0.1")]), "column 'LGD': value -0.1 is outside [0, 1]"),
    (csv_bytes([record(Rho="1")]), "column 'Rho': value 1 is outside [0, 1)"),
    (
        csv_bytes([record(GrossIncome="0")]),
        "column 'GrossIncome': must be positive for a personal loan",
    ),
    (csv_bytes([record(Rate="")]), "column 'Rate' is empty"),
    (csv_bytes([record(Rate="   ")]), "column 'Rate' is empty"),
    (b"", "empty object"),
    (b"  \n\n", "empty object"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content (not UTF-8 text)"),
    (b"\xff\xfe\xfa garbage", "binary content (not UTF-8 text)"),
    (b"AccountID,ZipCode\n", "header row but no data row"),
    (b"a,b,a\n1,2,3\n", "header row repeats a column name"),
    (b"Rate, rate\n1,2\n", "header row repeats a column name"),
    (
        csv_bytes([record()]).replace(b"\n1001,", b"\n1001,extra,"),
        "data row has 9 fields, the header has 8",
    ),
    (b'AccountID,"ZipCode\n1,2\n', "header row but no data row"),
    (b"x" * (MAX_OBJECT_BYTES + 1), "object is larger than 1 MB (1048576 bytes)"),
]


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


#: Objects with unusual content: most accepted, some rejected (in whole or in part).
ODD: list[bytes] = [
    csv_bytes([record(Rate=" 6.5 ", Payment="+1135.48")]),
    csv_bytes([record(Rate="6.", LoanAmount=".5e6", LoanTerm="1.2e2")]),
    csv_bytes([record(Rate="1e-5", GrossIncome="0085000", LoanTerm="120.0")]),
    csv_bytes([record(AccountID="0000123", ZipCode="123")]),
    csv_bytes([record(AccountID="9223372036854775807", ZipCode="02134-1234")]),
    csv_bytes([record(AccountID="\u0661\u0662")]),
    csv_bytes([record(OriginationDate="2/3/2024")]),
    csv_bytes([record(OriginationDate="2024-02-29")]),
    csv_bytes([record(OriginationDate="11/27/2026")]),
    csv_bytes([record(LoanType=" Commercial ", GrossIncome="0", NOI="-50000")]),
    csv_bytes([record(LoanType="COMMERCIAL", RateType="Fixed", CollateralValue="250000")]),
    csv_bytes([record(PD="0.02", LGD="0.3", Rho="0.999")]),
    csv_bytes([record(PD="0", LGD="1", Rho="0")]),
    csv_bytes([record(CreditScore="", NOI="", CollateralValue="", OtherMonthlyDebt="")]),
    csv_bytes([record(CreditScore="300", OtherMonthlyDebt="1e3", Colour="blue")]),
    csv_bytes([record(Rate="\u0663")]),
    csv_bytes([record(Rate='"6.5"')]),
    csv_bytes([record(ZipCode="0\t2134")]),
    csv_bytes([record(Rate="6\u00a0")]),
    csv_bytes([{k.lower(): v for k, v in record(LoanType="personal").items()}]),
    csv_bytes([{f" {k} ": v for k, v in record().items()}]),
    csv_bytes([record()], header=list(reversed(list(record().keys())))),
    b"\xef\xbb\xbf" + csv_bytes([record(OriginationDate="2024-06-15")]),
    _crlf(csv_bytes([record(AccountID="31")])),
    csv_bytes([record()]) + b"\n\n",
    csv_bytes([record()]).rstrip(b"\n"),
    csv_bytes([record(AccountID="41"), record(AccountID="42", Rate="x"), record(AccountID="43")]),
    csv_bytes([record(AccountID="51")]).replace(b"\n", b"\n\n", 1),
    csv_bytes([record(Rate="0", LoanTerm="1", Payment="0")]),
    csv_bytes([record(OriginationDate="01/01/2010", LoanTerm="12")]),  # matured
    csv_bytes([record(Rate="100", LoanAmount="1e12", GrossIncome="1e12")]),
    csv_bytes([record(Payment="1" + "0" * 30)]),
    csv_bytes([record(Rate="0." + "0" * 30 + "1")]),
]
