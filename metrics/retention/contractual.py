"""Contractual CLV from the store (sBG per group) and the choice of CLV model from the data.

Per group (segment by default, or signup year), the sBG ([FH07]) is fitted on monthly
lifetimes with left truncation (metrics.retention.durations). Value of today's base:
each active customer who has completed k months has made k renewals, so her expected
residual value is margin × monthly_revenue × DERL(d | α, β, k) ([FH10]); the group figure is
the mean over its active customers, with a 90 % interval from the Laplace draws of (α, β).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from metrics.churn import MIN_SAMPLE, query_frame
from metrics.clv import load_margin
from metrics.retention.durations import DIMENSIONS, active_base, lifetime_counts
from metrics.retention.sbg import INTERVAL, SbgError, derl, fit_sbg, survival
from metrics.store import Store

DISCOUNT_KEY = "clv.discount_rate"
DEFAULT_ANNUAL_DISCOUNT = 0.10  # [FH10]'s illustration uses 10 % a year
CURRENCY = "SEK"
# Billing counts as regular when a customer's median gap between invoices is 27-33 days
# and at least 80 % of the gaps lie within 25-35 days; the data is contractual when at
# least half of the customers with three or more invoices bill that way.
REGULAR_SHARE = 0.5
ModelKind = Literal["contractual", "non-contractual"]


def monthly_rate(annual: float) -> float:
    """The monthly discount rate equivalent to an annual one: (1 + annual)^(1/12) - 1."""
    return (1.0 + annual) ** (1.0 / 12.0) - 1.0


def load_discount(store: Store) -> float:
    """The stored annual discount rate, or 10 % when unset or not a number in (0, 1]."""
    rows = (
        store.cursor()
        .execute("SELECT value FROM settings WHERE key = ?", [DISCOUNT_KEY])
        .fetchall()
    )
    if not rows:
        return DEFAULT_ANNUAL_DISCOUNT
    try:
        value = float(json.loads(rows[0][0]) if isinstance(rows[0][0], str) else rows[0][0])
    except (TypeError, ValueError):
        return DEFAULT_ANNUAL_DISCOUNT
    return value if 0 < value <= 1 else DEFAULT_ANNUAL_DISCOUNT


def save_discount(store: Store, annual: float) -> None:
    """Persist the annual discount rate; ValueError unless 0 < rate <= 1."""
    if not isinstance(annual, int | float) or not 0 < annual <= 1:
        raise ValueError(
            f"discount rate must be a yearly share in (0, 1] (e.g. 0.1), got {annual!r}"
        )
    with store.write() as cur:
        cur.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [DISCOUNT_KEY, json.dumps(float(annual))],
        )


@dataclass(frozen=True)
class ModelChoice:
    """Which CLV model the data calls for, and the evidence in words."""

    kind: ModelKind
    reason: str
    customers: int  # customers with at least three invoices
    regular: int  # of them, billed about monthly
    churn_dates: int  # customers with a churned_at

    @property
    def regular_share(self) -> float | None:
        return self.regular / self.customers if self.customers else None


def choose_model(store: Store) -> ModelChoice:
    """Contractual (sBG) when billing is regular and churn dates are recorded, else BG/NBD."""
    sql = """
        WITH g AS (
            SELECT customer_id,
                   date_diff('day', lag(issued_at) OVER (PARTITION BY customer_id
                                                         ORDER BY issued_at), issued_at) AS gap
            FROM invoices
        ), per AS (
            SELECT customer_id, COUNT(gap) AS gaps, median(gap) AS med,
                   AVG(CASE WHEN gap BETWEEN 25 AND 35 THEN 1.0 ELSE 0.0 END) AS monthly
            FROM g WHERE gap IS NOT NULL GROUP BY customer_id
        )
        SELECT COUNT(*) AS customers,
               SUM(CASE WHEN med BETWEEN 27 AND 33 AND monthly >= 0.8 THEN 1 ELSE 0 END)
                   AS regular,
               (SELECT COUNT(churned_at) FROM customers) AS churn_dates
        FROM per WHERE gaps >= 2
    """
    customers, regular, churn_dates = query_frame(store, sql, []).row(0)
    customers, regular, churn_dates = int(customers or 0), int(regular or 0), int(churn_dates or 0)
    if customers == 0:
        kind: ModelKind = "contractual" if churn_dates else "non-contractual"
        reason = (
            "no customer has three or more invoices, so billing regularity cannot be judged; "
            + (
                f"{churn_dates:,} recorded churn dates make the contractual model usable"
                if churn_dates
                else "with no churn dates either, only the purchase model applies"
            )
        )
        return ModelChoice(kind, reason, 0, 0, churn_dates)
    share = regular / customers
    regular_text = (
        f"{share:.0%} of {customers:,} customers with three or more invoices are billed about "
        "monthly (median gap 27–33 days)"
    )
    if share >= REGULAR_SHARE and churn_dates > 0:
        return ModelChoice(
            "contractual",
            f"{regular_text} and {churn_dates:,} customers have a recorded churn date: a "
            "subscription, so retention is modelled per month (sBG) and the purchase model "
            "(BG/NBD) would mistake regular bills for loyal buyers",
            customers,
            regular,
            churn_dates,
        )
    why = "no churn dates are recorded" if churn_dates == 0 else "billing is irregular"
    return ModelChoice(
        "non-contractual",
        f"{regular_text}; {why}, so customers leave unobserved and the purchase model "
        "(BG/NBD + Gamma-Gamma) applies",
        customers,
        regular,
        churn_dates,
    )


@dataclass
class ContractualClv:
    """sBG fits and the residual value of the active base, per group (JSON-ready rows)."""

    dimension: str
    margin: float
    annual_discount: float
    monthly_discount: float
    groups: list[dict[str, Any]]
    seconds: float
    currency: str = CURRENCY
    interval: str = f"{INTERVAL:.0%} interval (Laplace approximation of the sBG fit)"
    notes: list[str] = field(default_factory=list)


def contractual_clv(
    store: Store,
    *,
    dimension: str = "segment",
    margin: float | None = None,
    annual_discount: float | None = None,
    draws: int = 400,
    seed: int = 0,
) -> ContractualClv:
    """Fit the sBG per group and value each group's active customers ([FH07], [FH10])."""
    if dimension not in DIMENSIONS:
        raise SbgError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")
    started = time.perf_counter()
    margin = load_margin(store) if margin is None else margin
    annual = load_discount(store) if annual_discount is None else annual_discount
    if not 0 < annual <= 1:
        raise SbgError(f"discount rate must be a yearly share in (0, 1], got {annual}")
    d = monthly_rate(annual)
    counts = lifetime_counts(store, dimension)
    base = active_base(store, dimension)
    groups = []
    for grp in sorted(counts["grp"].unique().to_list()):
        rows = counts.filter(pl.col("grp") == grp)
        act = base.filter(pl.col("grp") == grp)
        groups.append(_group_row(grp, rows, act, margin, d, draws, seed))
    return ContractualClv(
        dimension=dimension,
        margin=margin,
        annual_discount=annual,
        monthly_discount=d,
        groups=groups,
        seconds=round(time.perf_counter() - started, 3),
    )


def tenure_knots(months: np.ndarray, count: int = 40) -> np.ndarray:
    """Tenure months where DERL is computed exactly for the intervals: dense early, sparse late."""
    top = float(np.max(months)) if months.size else 0.0
    grid = np.unique(np.round(np.geomspace(1.0, top + 1.0, count) - 1.0))
    return np.unique(np.concatenate([grid, np.arange(0, min(top, 12) + 1), [top]]))


def _group_row(
    grp: str, rows: pl.DataFrame, act: pl.DataFrame, margin: float, d: float, draws: int, seed: int
) -> dict[str, Any]:
    n = int(rows["customers"].sum())
    churned = int(rows.filter(pl.col("event"))["customers"].sum())
    active = int(act["customers"].sum())
    out: dict[str, Any] = {
        "group": grp,
        "customers": n,
        "churned": churned,
        "active": active,
        "small_sample": n < MIN_SAMPLE,
        "alpha": None,
        "beta": None,
        "retention_12m": None,
        "derl_new": None,
        "arpu": None,
        "value_mean": None,
        "ci_low": None,
        "ci_high": None,
        "value_total": None,
        "message": None,
    }
    try:
        fit = fit_sbg(
            rows["entry"].to_numpy(),
            rows["time"].to_numpy(),
            rows["event"].to_numpy(),
            rows["customers"].to_numpy(),
            label=grp,
        )
    except SbgError as exc:
        out["message"] = str(exc)
        return out
    out |= {"alpha": fit.alpha, "beta": fit.beta}
    if fit.at_bound or not np.all(np.isfinite(fit.log_cov)):
        # Not identified: no retention, DERL or value that would look like a result.
        out["message"] = fit.message
        return out
    out |= {
        "retention_12m": float(survival(fit.alpha, fit.beta, 12)),
        "derl_new": float(derl(fit.alpha, fit.beta, d)),
    }
    with_rev = int(act["with_revenue"].sum())
    if with_rev == 0:
        out["message"] = "no monthly_revenue for the active customers: value not computed"
        return out
    months = act["months"].to_numpy().astype(float)
    rev = act["revenue_sum"].fill_null(0.0).to_numpy()
    out["arpu"] = float(rev.sum() / with_rev)
    ab = fit.draws(draws, seed)
    # 2F1 near z = 1 costs ~20 µs, so for the draws DERL is evaluated at <= 40 tenure knots
    # and interpolated linearly (smooth and monotone in tenure; tests bound the error).
    knots = tenure_knots(months)
    at_knots = derl(ab[None, :, 0], ab[None, :, 1], d, knots[:, None])  # knots × draws
    per_month = np.stack([np.interp(months, knots, at_knots[:, j]) for j in range(ab.shape[0])])
    mean_draws = margin * (per_month @ rev) / with_rev
    point = margin * float(rev @ derl(fit.alpha, fit.beta, d, months)) / with_rev
    lo, hi = np.quantile(mean_draws, [(1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2])
    out |= {
        "value_mean": point,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "value_total": point * with_rev,
    }
    return out


def bound_notes(notes: list[str]) -> list[str]:
    """The notes of a BG/NBD + Gamma-Gamma fit (metrics.clv_models) saying a parameter hit
    its search bound. Such a fit is not identified: callers show the note, not a CLV with an
    interval that only reflects the parameters left free."""
    return [n for n in notes if "search bound" in n]
