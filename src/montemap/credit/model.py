"""The per-loan credit model of design/credit-model.md, vectorised over loans.

Everything here is closed form and float64; the Monte Carlo lives in
:mod:`montemap.credit.kernel`. Coefficients and their sources are documented
in docs/model.md; the defaults are the module constants and
:class:`ModelParams`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from montemap.credit.loans import LoanArrays

F64 = NDArray[np.float64]

#: Elasticity of default to payment size (halving the payment cuts delinquency ~55%).
PAYMENT_ELASTICITY = 1.15
DTI_LINE = 0.43  # US Qualified Mortgage limit
DSCR_LINE = 1.25  # commercial underwriting reference
PD_FLOOR = 0.0003  # Basel II/III IRB floor (3 bp)
PD_CAP = 0.9999  # keeps Phi^-1(PD) finite
LGD_PERSONAL_UNSECURED = 0.45
LGD_COMMERCIAL_SENIOR = 0.40
LGD_SECURED = 0.35
DEFAULT_CREDIT_SCORE = 680.0


@dataclass(frozen=True)
class Scorecard:
    """Logistic baseline PD: ``logit(PD0) = intercept + terms``.

    * ``score_per_100``: per 100 credit-score points above 680 (about 35 points
      to double the odds);
    * ``dti``: per unit of baseline DTI above 0.36;
    * ``dscr``: per unit of ``-ln(DSCR / 1.25)`` (coverage below the line raises PD);
    * ``commercial``: offset for commercial borrowers.
    """

    intercept: float = -3.93
    score_per_100: float = -2.0
    dti: float = 3.0
    dscr: float = 1.5
    commercial: float = 0.0


@dataclass(frozen=True)
class ModelParams:
    """Tunable parameters of one run (everything else is a documented constant)."""

    scorecard: Scorecard = Scorecard()
    kappa: float = 0.15  # systematic-factor shift per percentage point of shock
    crossing_penalty: float = 0.5  # logit points for crossing the DTI/DSCR line


# --------------------------------------------------------------------------- finance


def annuity_payment(principal: F64 | float, apr: F64 | float, n: F64 | float) -> F64:
    """Level monthly payment ``P = B r / (1 - (1+r)^-n)``, ``r = apr/1200`` (r = 0: B/n)."""
    b = np.asarray(principal, dtype=np.float64)
    r = np.asarray(apr, dtype=np.float64) / 1200.0
    months = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = b * r / -np.expm1(-months * np.log1p(r))
    return np.asarray(np.where(r > 0, level, b / months), dtype=np.float64)


def remaining_balance(amount: F64, apr: F64, term: F64, elapsed: F64) -> F64:
    """Balance after ``elapsed`` level payments of a ``term``-month annuity at ``apr``."""
    r = np.asarray(apr, dtype=np.float64) / 1200.0
    m = np.clip(np.asarray(elapsed, dtype=np.float64), 0, term)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.log1p(r)
        # ((1+r)^N - (1+r)^m) / ((1+r)^N - 1), written to stay accurate for small r
        grown = np.expm1(term * g)
        frac = (grown - np.expm1(m * g)) / grown
    frac = np.where(r > 0, frac, 1.0 - m / term)
    return np.asarray(amount * frac, dtype=np.float64)


def months_elapsed(
    year: NDArray[np.int64], month: NDArray[np.int64], day: NDArray[np.int64], as_of: dt.date
) -> NDArray[np.int64]:
    """Whole months from origination to ``as_of`` (a month counts once its day is reached)."""
    m = (as_of.year - year) * 12 + (as_of.month - month) - (as_of.day < day)
    return np.asarray(m, dtype=np.int64)


# --------------------------------------------------------------------------- risk


def logit(p: F64) -> F64:
    return np.asarray(special.logit(p), dtype=np.float64)


def clip_pd(p: F64) -> F64:
    """Apply the floor (3 bp) and the cap."""
    return np.clip(p, PD_FLOOR, PD_CAP)


def scorecard_pd(
    score: F64, commercial: NDArray[np.bool_], dti0: F64, dscr0: F64, card: Scorecard
) -> F64:
    """Baseline 12-month PD from credit score and affordability (DTI or DSCR)."""
    z = card.intercept + card.score_per_100 * (score - DEFAULT_CREDIT_SCORE) / 100.0
    personal_term = card.dti * (np.clip(np.nan_to_num(dti0, nan=0.36), 0.0, 2.0) - 0.36)
    dscr = np.clip(np.nan_to_num(dscr0, nan=DSCR_LINE), 0.05, 20.0)
    commercial_term = card.commercial - card.dscr * np.log(dscr / DSCR_LINE)
    z = z + np.where(commercial, commercial_term, personal_term)
    return clip_pd(np.asarray(special.expit(z), dtype=np.float64))


def repriced_pd(
    pd0: F64, payment: F64, shocked_payment: F64, crossed: NDArray[np.bool_], penalty: float
) -> F64:
    """``logit(PDs) = logit(PD0) + 1.15 ln(P'/P) + penalty * crossed``, floored."""
    z = logit(pd0) + PAYMENT_ELASTICITY * np.log(shocked_payment / payment)
    z = z + penalty * crossed
    return clip_pd(np.asarray(special.expit(z), dtype=np.float64))


def macro_shift(shock_bp: int, kappa: float) -> float:
    """Mean of the systematic factor in a scenario: ``mu = -kappa * shock_in_percent``."""
    return -kappa * shock_bp / 100.0


def basel_correlation(pd: F64, commercial: NDArray[np.bool_]) -> F64:
    """Basel asset correlation: other retail (personal) or corporate (commercial)."""
    k = np.where(commercial, 50.0, 35.0)
    # -expm1(-k) of the two k, once: the same values as per loan
    w = -np.expm1(-k * pd) / np.where(commercial, *_BASEL_SCALE)
    lo = np.where(commercial, 0.12, 0.03)
    hi = np.where(commercial, 0.24, 0.16)
    return np.asarray(lo * w + hi * (1.0 - w), dtype=np.float64)


#: ``-expm1(-k)`` of Basel's k for commercial (50) and personal (35) borrowers.
_BASEL_SCALE = tuple(float(v) for v in -np.expm1(-np.array([50.0, 35.0])))


def unconditional_pd(pd: F64, rho: F64, mu: float | F64) -> F64:
    """P(default) when ``Z ~ N(mu, 1)``: ``Phi(Phi^-1(PD) - sqrt(rho) mu)``."""
    return shifted_pd(special.ndtri(pd), rho, mu)


def shifted_pd(threshold: F64, rho: F64, mu: float | F64) -> F64:
    """:func:`unconditional_pd` of the PD whose ``Phi^-1`` is ``threshold``."""
    return np.asarray(special.ndtr(threshold - np.sqrt(rho) * mu), dtype=np.float64)


def conditional_pd(pd: F64 | float, rho: F64 | float, z: F64 | float) -> F64:
    """``p(z) = Phi((Phi^-1(PD) - sqrt(rho) z) / sqrt(1 - rho))``."""
    pd_a = np.asarray(pd, dtype=np.float64)
    rho_a = np.asarray(rho, dtype=np.float64)
    arg = (special.ndtri(pd_a) - np.sqrt(rho_a) * np.asarray(z)) / np.sqrt(1.0 - rho_a)
    return np.asarray(special.ndtr(arg), dtype=np.float64)


def vasicek_quantile(pd: float, rho: float, alpha: float) -> float:
    """Large-portfolio loss-rate quantile ``Phi((Phi^-1(PD) + sqrt(rho) Phi^-1(a)) / sqrt(1-rho))``."""
    num = special.ndtri(pd) + np.sqrt(rho) * special.ndtri(alpha)
    return float(special.ndtr(num / np.sqrt(1.0 - rho)))


def maturity_factor(pd: F64, maturity: float) -> F64:
    """Basel corporate maturity adjustment ``(1 + (M-2.5) b) / (1 - 1.5 b)``."""
    b = (0.11852 - 0.05478 * np.log(pd)) ** 2
    return np.asarray((1.0 + (maturity - 2.5) * b) / (1.0 - 1.5 * b), dtype=np.float64)


def irb_capital(
    pd: F64, lgd: F64, rho: F64, commercial: NDArray[np.bool_], maturity: float = 2.5
) -> F64:
    """Basel IRB capital requirement K per unit of EAD (99.9%, maturity-adjusted for corporates)."""
    tail = conditional_pd(pd, rho, special.ndtri(0.001))
    k = lgd * tail - pd * lgd
    adj = np.where(commercial, maturity_factor(pd, maturity), 1.0)
    return np.asarray(k * adj, dtype=np.float64)


def structural_lgd(balance: F64, collateral: F64, commercial: NDArray[np.bool_]) -> F64:
    """Blend of the secured (35%) and unsecured (45% personal, 40% commercial) parts."""
    base = np.where(commercial, LGD_COMMERCIAL_SENIOR, LGD_PERSONAL_UNSECURED)
    secured = np.minimum(collateral, balance)
    return np.asarray(base + (LGD_SECURED - base) * (secured / balance), dtype=np.float64)


# --------------------------------------------------------------------------- per loan


@dataclass(frozen=True)
class Baseline:
    """Scenario-independent quantities of the loans that are not matured."""

    loans: LoanArrays  # the live loans only
    remaining_term: NDArray[np.int64]
    balance: F64
    payment: F64
    noi: F64
    dti0: F64
    dscr0: F64
    pd0: F64
    lgd: F64


@dataclass(frozen=True)
class Scenario:
    """Per-loan results of one scenario (arrays aligned with ``Baseline.loans``)."""

    shock_bp: int
    mu: float
    shocked_rate: F64
    shocked_payment: F64
    dti: F64
    dscr: F64
    crossed: NDArray[np.bool_]
    pd_repriced: F64
    pd_stressed: F64
    rho: F64
    expected_loss: F64
    irb_capital: F64
    #: ``Phi^-1(pd_repriced)``: the copula's default threshold (None: not computed)
    threshold: F64 | None = None


def baseline(loans: LoanArrays, as_of: dt.date, params: ModelParams) -> tuple[Baseline, int]:
    """Evaluate the scenario-free part; returns it and the number of matured loans dropped."""
    elapsed = months_elapsed(loans.orig_year, loans.orig_month, loans.orig_day, as_of)
    remaining = loans.term - elapsed
    live = remaining > 0
    matured = int(np.count_nonzero(~live))
    loans = loans.take(np.flatnonzero(live))
    remaining = remaining[live]
    elapsed = elapsed[live]
    term = loans.term.astype(np.float64)
    balance = remaining_balance(loans.amount, loans.rate, term, elapsed.astype(np.float64))
    payment = annuity_payment(balance, loans.rate, remaining.astype(np.float64))
    noi = np.where(
        np.isnan(loans.noi),
        np.maximum(loans.income - 12.0 * loans.other_debt, 0.0),
        loans.noi,
    )
    dti0, dscr0 = affordability(loans, payment, noi)
    pd0 = np.where(
        np.isnan(loans.pd),
        scorecard_pd(loans.credit_score, loans.commercial, dti0, dscr0, params.scorecard),
        clip_pd(np.nan_to_num(loans.pd)),
    )
    lgd = np.where(
        np.isnan(loans.lgd),
        structural_lgd(balance, loans.collateral, loans.commercial),
        loans.lgd,
    )
    base = Baseline(loans, remaining, balance, payment, noi, dti0, dscr0, pd0, lgd)
    return base, matured


def affordability(loans: LoanArrays, payment: F64, noi: F64) -> tuple[F64, F64]:
    """``(DTI, DSCR)`` at a monthly payment: DTI for personal loans, DSCR for commercial."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # 1e-320 income: inf
        dti = 12.0 * (payment + loans.other_debt) / loans.income
        dscr = noi / (12.0 * payment)
    dti = np.where(loans.commercial, np.nan, dti)
    dscr = np.where(loans.commercial, dscr, np.nan)
    return np.asarray(dti, dtype=np.float64), np.asarray(dscr, dtype=np.float64)


def copula_correlation(base: Baseline) -> F64:
    """The copula's asset correlation: the record's ``Rho``, else Basel's at the baseline PD.

    It is the same in every scenario (a property of the borrower), so with common
    random numbers a loan's default indicator can only rise with the shock.
    """
    loans = base.loans
    basel = basel_correlation(clip_pd(base.pd0), loans.commercial)
    return np.asarray(np.where(np.isnan(loans.rho), basel, loans.rho), dtype=np.float64)


def scenario(
    base: Baseline, shock_bp: int, params: ModelParams, rho: F64 | None = None
) -> Scenario:
    """Reprice, re-assess affordability and stress the PD for one rate shock; ``rho`` is
    :func:`copula_correlation` of ``base`` (the same in every scenario: computed here when
    not given)."""
    return scenarios(base, [shock_bp], params, rho)[0]


def scenarios(
    base: Baseline, shocks_bp: Sequence[int], params: ModelParams, rho: F64 | None = None
) -> list[Scenario]:
    """:func:`scenario` of every shock, computed at once: each step is one array operation
    over (shocks, loans), element by element the same arithmetic as shock by shock, so
    the values are the same; a scenario's arrays are rows of the joint ones."""
    loans = base.loans
    shocks = np.array([[s / 100.0] for s in shocks_bp], dtype=np.float64)  # (k, 1)
    shocked_rate = np.where(loans.fixed, loans.rate, np.maximum(loans.rate + shocks, 0))
    repriced = annuity_payment(base.balance, shocked_rate, base.remaining_term.astype(np.float64))
    shocked_payment = np.where(loans.fixed, base.payment, repriced)
    dti, dscr = affordability(loans, shocked_payment, base.noi)
    crossed = np.where(
        loans.commercial,
        (base.dscr0 >= DSCR_LINE) & (dscr < DSCR_LINE),
        (base.dti0 <= DTI_LINE) & (dti > DTI_LINE),
    )
    pd_rep = repriced_pd(base.pd0, base.payment, shocked_payment, crossed, params.crossing_penalty)
    rho = copula_correlation(base) if rho is None else rho
    mus = [macro_shift(s, params.kappa) for s in shocks_bp]
    threshold = np.asarray(special.ndtri(pd_rep), dtype=np.float64)  # the kernel's too
    pd_stressed = clip_pd(shifted_pd(threshold, rho, np.array(mus, dtype=np.float64)[:, None]))
    expected_loss = pd_stressed * base.lgd * base.balance
    regulatory_r = np.where(
        np.isnan(loans.rho), basel_correlation(pd_stressed, loans.commercial), loans.rho
    )
    capital = irb_capital(pd_stressed, base.lgd, regulatory_r, loans.commercial) * base.balance
    rho = np.asarray(rho, dtype=np.float64)
    return [
        Scenario(
            shock,
            mu,
            shocked_rate[j],
            shocked_payment[j],
            dti[j],
            dscr[j],
            np.asarray(crossed[j], dtype=np.bool_),
            pd_rep[j],
            pd_stressed[j],
            rho,
            expected_loss[j],
            capital[j],
            threshold[j],
        )
        for j, (shock, mu) in enumerate(zip(shocks_bp, mus, strict=True))
    ]
