"""The closed-form model against the contract's oracles."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import special

from montemap.credit import model
from montemap.credit.loans import LoanArrays, parse_records
from tests.credit.helpers import record


def test_annuity_oracle() -> None:
    assert model.annuity_payment(500000, 5, 60) == pytest.approx(9435.62, abs=0.005)
    assert model.annuity_payment(500000, 7, 60) == pytest.approx(9900.60, abs=0.005)
    assert model.annuity_payment(1200, 0, 12) == pytest.approx(100.0)


def test_remaining_balance_follows_the_schedule() -> None:
    amount, apr, term = np.array([100000.0]), np.array([6.0]), np.array([120.0])
    p = model.annuity_payment(amount, apr, term)[0]
    balance = amount[0]
    for _ in range(37):  # walk the schedule month by month
        balance = balance * (1 + 0.06 / 12) - p
    assert model.remaining_balance(amount, apr, term, np.array([37.0]))[0] == pytest.approx(balance)
    assert model.remaining_balance(amount, apr, term, np.array([0.0]))[0] == pytest.approx(100000)
    assert model.remaining_balance(amount, apr, term, np.array([120.0]))[0] == pytest.approx(
        0, abs=1e-6
    )
    zero = model.remaining_balance(amount, np.array([0.0]), term, np.array([30.0]))
    assert zero[0] == pytest.approx(75000)
    # the payment on the remaining balance over the remaining term is the original payment
    b = model.remaining_balance(amount, apr, term, np.array([37.0]))
    assert model.annuity_payment(b, apr, term - 37)[0] == pytest.approx(p)


def test_months_elapsed_counts_whole_months() -> None:
    y, m, d = np.array([2020, 2020, 2026]), np.array([1, 1, 11]), np.array([15, 31, 27])
    got = model.months_elapsed(y, m, d, dt.date(2026, 11, 27))
    assert got.tolist() == [82, 81, 0]  # day 27 < 31: the 82nd month is not complete
    assert model.months_elapsed(y[:1], m[:1], d[:1], dt.date(2020, 2, 14)).tolist() == [0]


def test_basel_irb_corporate_example() -> None:
    pd, lgd = np.array([0.01]), np.array([0.45])
    commercial = np.array([True])
    r = model.basel_correlation(pd, commercial)
    assert r[0] == pytest.approx(0.19278, abs=5e-6)
    k = model.irb_capital(pd, lgd, r, commercial, maturity=2.5)
    assert k[0] == pytest.approx(0.073853, abs=5e-7)
    assert 12.5 * k[0] == pytest.approx(0.9232, abs=5e-5)


def test_retail_correlation_bounds() -> None:
    personal = np.array([False, False])
    r = model.basel_correlation(np.array([0.0003, 0.9999]), personal)
    assert r[0] == pytest.approx(0.16, abs=2e-3)
    assert r[1] == pytest.approx(0.03, abs=1e-9)


@pytest.mark.parametrize(
    ("rho", "q99", "q999"), [(0.15, 0.06105, 0.11026), (0.12, 0.05253, 0.09033)]
)
def test_vasicek_quantile_oracle(rho: float, q99: float, q999: float) -> None:
    assert model.vasicek_quantile(0.01, rho, 0.99) == pytest.approx(q99, abs=5e-6)
    assert model.vasicek_quantile(0.01, rho, 0.999) == pytest.approx(q999, abs=5e-6)


def test_unconditional_pd_integrates_the_conditional_pd() -> None:
    z, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    for pd, rho in [(0.01, 0.15), (0.2, 0.03), (0.0005, 0.24)]:
        mean = float((model.conditional_pd(pd, rho, z) * w).sum())
        assert mean == pytest.approx(pd, rel=1e-6)
        shifted = float((model.conditional_pd(pd, rho, z - 0.45) * w).sum())
        assert shifted == pytest.approx(
            model.unconditional_pd(np.array([pd]), np.array([rho]), -0.45)[0], rel=1e-6
        )


def test_repriced_pd_elasticity_and_penalty() -> None:
    pd0 = np.array([0.02, 0.02])
    p = np.array([1000.0, 1000.0])
    doubled = np.array([2000.0, 2000.0])
    out = model.repriced_pd(pd0, p, doubled, np.array([False, True]), penalty=0.5)
    expected = special.logit(0.02) + 1.15 * np.log(2)
    assert special.logit(out[0]) == pytest.approx(expected)
    assert special.logit(out[1]) == pytest.approx(expected + 0.5)
    floor = model.repriced_pd(np.array([0.0001]), p[:1], p[:1], np.array([False]), 0.5)
    assert floor[0] == model.PD_FLOOR


def _arrays(*recs: dict[str, str]) -> LoanArrays:
    loans, rejects = parse_records([(f"k{i}", r) for i, r in enumerate(recs)])
    assert not rejects
    return LoanArrays.from_loans(loans)


AS_OF = dt.date(2026, 11, 27)


def test_scenario_reprices_variable_loans_only() -> None:
    arrays = _arrays(record(RateType="fixed"), record(RateType="variable"))
    params = model.ModelParams()
    base, matured = model.baseline(arrays, AS_OF, params)
    assert matured == 0
    sc = model.scenario(base, 200, params)
    assert sc.shocked_payment[0] == base.payment[0]
    assert sc.shocked_rate[1] == pytest.approx(arrays.rate[1] + 2)
    assert sc.shocked_payment[1] > base.payment[1]
    assert sc.pd_repriced[0] == pytest.approx(base.pd0[0])
    assert sc.pd_repriced[1] > base.pd0[1]
    # the macro channel makes the fixed-rate loan riskier too
    assert sc.mu == pytest.approx(-0.3)
    assert sc.pd_stressed[0] > base.pd0[0]
    baseline0 = model.scenario(base, 0, params)
    np.testing.assert_allclose(baseline0.pd_stressed, base.pd0)


def test_dti_dscr_and_crossing() -> None:
    # personal: payment ~ 1110/month on 40,000 income -> DTI ~ 0.333 + other debt
    personal = record(
        LoanAmount="100000",
        Rate="6",
        LoanTerm="120",
        GrossIncome="40000",
        OtherMonthlyDebt="300",
        OriginationDate="11/27/2026",
    )
    commercial = record(
        LoanType="commercial",
        LoanAmount="1000000",
        Rate="6",
        LoanTerm="120",
        NOI="170000",
        OriginationDate="11/27/2026",
    )
    arrays = _arrays(personal, commercial)
    params = model.ModelParams()
    base, _ = model.baseline(arrays, AS_OF, params)
    p0 = model.annuity_payment(100000, 6, 120)
    assert base.dti0[0] == pytest.approx(12 * (p0 + 300) / 40000)
    assert np.isnan(base.dscr0[0]) and np.isnan(base.dti0[1])
    assert base.dscr0[1] == pytest.approx(170000 / (12 * model.annuity_payment(1e6, 6, 120)))
    sc = model.scenario(base, 300, params)
    assert sc.dti[0] > model.DTI_LINE > base.dti0[0]
    assert sc.dscr[1] < model.DSCR_LINE < base.dscr0[1]
    assert sc.crossed.tolist() == [True, True]
    assert sc.rho[0] < 0.16 and sc.rho[1] > 0.12


def test_lgd_and_overrides() -> None:
    arrays = _arrays(
        record(OriginationDate="11/27/2026"),
        record(OriginationDate="11/27/2026", LoanType="commercial", NOI="90000"),
        record(OriginationDate="11/27/2026", CollateralValue="1000000"),
        record(OriginationDate="11/27/2026", PD="0.07", LGD="0.6", Rho="0.2"),
    )
    params = model.ModelParams()
    base, _ = model.baseline(arrays, AS_OF, params)
    assert base.lgd.tolist() == [0.45, 0.40, 0.35, 0.6]
    assert base.pd0[3] == pytest.approx(0.07)
    sc = model.scenario(base, 0, params)
    assert sc.rho[3] == pytest.approx(0.2)
    half = model.structural_lgd(np.array([100.0]), np.array([50.0]), np.array([False]))
    assert half[0] == pytest.approx(0.40)


def test_matured_loans_are_dropped_and_counted() -> None:
    arrays = _arrays(record(LoanTerm="12", OriginationDate="01/01/2020"), record())
    base, matured = model.baseline(arrays, AS_OF, model.ModelParams())
    assert matured == 1 and len(base.loans) == 1


def test_scorecard_calibration_on_the_realistic_portfolio() -> None:
    from montemap.credit.generator import generate_rows, layout_columns

    cols = layout_columns("realistic")
    rows = generate_rows("realistic", 11, 0, 10000, AS_OF).to_pylist()
    recs = [
        (str(i), dict(zip(cols, r.rstrip("\n").split(","), strict=True)))
        for i, r in enumerate(rows)
    ]
    loans, rejects = parse_records(recs, AS_OF)
    assert not rejects
    base, _ = model.baseline(LoanArrays.from_loans(loans), AS_OF, model.ModelParams())
    assert 0.017 < float(base.pd0.mean()) < 0.023


def test_rate_cut_lowers_variable_payments_and_pd() -> None:
    arrays = _arrays(record(RateType="variable", Rate="1.0"), record(RateType="fixed"))
    params = model.ModelParams()
    base, _ = model.baseline(arrays, AS_OF, params)
    cut = model.scenario(base, -200, params)
    assert cut.shocked_rate[0] == 0.0  # floored at zero
    assert cut.shocked_payment[0] < base.payment[0]
    assert cut.pd_repriced[0] < base.pd0[0]
    assert cut.mu == pytest.approx(0.3)
    assert cut.pd_stressed[1] < base.pd0[1]  # the macro channel helps fixed-rate loans
