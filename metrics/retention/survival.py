"""Kaplan-Meier retention curves and the log-rank test, from counts per month.

Kaplan & Meier (1958): S(t) = Π_{s<=t} (1 - d_s / n_s), with n_s the customers at risk in
month s (entered before it and not yet gone) and d_s those who left in it. Exact from
counts, so only (group, entry, time, event, customers) rows leave the engine
(metrics.retention.durations). Left truncation: a customer first seen after `entry` months
is at risk from month entry + 1 on.

95 % bands: Greenwood's variance on the log(-log S) scale (Kalbfleisch & Prentice 2002,
section 1.4; what lifelines reports), so bands stay inside [0, 1]. Median lifetime: the
first month with S(t) <= 0.5 (null while S stays above it). Log-rank (Mantel 1966; the
multivariate form of Klein & Moeschberger 2003, section 7.3): chi-square with
(groups - 1) degrees of freedom on O - E and its hypergeometric covariance.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from metrics.churn import MIN_SAMPLE
from metrics.retention.durations import DIMENSIONS, lifetime_counts
from metrics.store import Store

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class KmTable:
    """Per month 1..max: at risk, events, S(t) and its 95 % band."""

    month: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    survival: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def risk_table(
    entry: Any, time: Any, event: Any, weight: Any, max_month: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(months 1..max, at risk, events) from (entry, time, event, weight) rows.

    at risk in month m = Σ weight over rows with entry < m <= time.
    """
    entry, time = (np.asarray(v, dtype=np.int64) for v in (entry, time))
    event = np.asarray(event, dtype=bool)
    w = np.asarray(weight, dtype=float)
    top = int(time.max()) if max_month is None and time.size else int(max_month or 0)
    enter = np.bincount(np.minimum(entry, top + 1), weights=w, minlength=top + 2)[: top + 2]
    leave = np.bincount(np.minimum(time, top + 1), weights=w, minlength=top + 2)[: top + 2]
    ev = np.bincount(time[event], weights=w[event], minlength=top + 2)[: top + 2]
    # At risk in month m: entry <= m - 1 (entered) minus time <= m - 1 (already gone).
    at_risk = (np.cumsum(enter) - np.cumsum(leave))[:top]
    return np.arange(1, top + 1), at_risk, ev[1 : top + 1]


def kaplan_meier(entry: Any, time: Any, event: Any, weight: Any) -> KmTable:
    """Kaplan-Meier S(t) at months 1..max with the exponential Greenwood 95 % band."""
    months, n, d = risk_table(entry, time, event, weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(n > 0, d / n, 0.0)
        surv = np.cumprod(1.0 - hazard)
        green = np.cumsum(np.where((n > 0) & (n > d), d / (n * (n - d)), 0.0))
        log_s = np.log(surv)
        half = Z95 * np.sqrt(green) / log_s  # negative where S < 1
        lo = np.exp(-np.exp(np.log(-log_s) - half))
        hi = np.exp(-np.exp(np.log(-log_s) + half))
    # S = 1 (no loss yet): the band is the point; S = 0: likewise.
    lo = np.where(surv >= 1.0, 1.0, np.where(surv <= 0.0, 0.0, lo))
    hi = np.where(surv >= 1.0, 1.0, np.where(surv <= 0.0, 0.0, hi))
    return KmTable(months, n, d, surv, np.minimum(lo, hi), np.maximum(lo, hi))


def median_lifetime(table: KmTable) -> int | None:
    """The first month where S(t) <= 0.5, or None when the curve never gets there."""
    hit = np.flatnonzero(table.survival <= 0.5)
    return int(table.month[hit[0]]) if hit.size else None


def logrank(groups: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, int, float]:
    """Multivariate log-rank test on per-group (at risk, events) over a common month grid.

    Returns (chi-square, degrees of freedom, p-value).
    """
    n = np.vstack([g[0] for g in groups]).astype(float)  # groups × months
    d = np.vstack([g[1] for g in groups]).astype(float)
    n_tot, d_tot = n.sum(axis=0), d.sum(axis=0)
    use = (n_tot > 1) & (d_tot > 0)
    n, d, n_tot, d_tot = n[:, use], d[:, use], n_tot[use], d_tot[use]
    expected = (n * d_tot / n_tot).sum(axis=1)
    observed = d.sum(axis=1)
    share = n / n_tot
    factor = d_tot * (n_tot - d_tot) / (n_tot - 1)
    cov = -(share[:, None, :] * share[None, :, :] * factor).sum(axis=2)
    cov[np.diag_indices_from(cov)] = (share * (1 - share) * factor).sum(axis=1)
    k = len(groups) - 1
    diff = (observed - expected)[:k]
    try:
        chi2 = float(diff @ np.linalg.solve(cov[:k, :k], diff))
    except np.linalg.LinAlgError:
        chi2 = float(diff @ np.linalg.pinv(cov[:k, :k]) @ diff)
    return chi2, k, float(stats.chi2.sf(chi2, k))


@dataclass
class SurvivalResult:
    """Per-group curves and the log-rank test (JSON-ready)."""

    dimension: str
    label: str
    groups: list[dict[str, Any]]
    logrank_chi2: float | None
    logrank_df: int | None
    logrank_p: float | None
    seconds: float
    notes: list[str] = field(default_factory=list)


def survival_by(store: Store, by: str = "segment", *, max_months: int = 60) -> SurvivalResult:
    """Kaplan-Meier retention per group of `by` (DIMENSIONS), curves up to `max_months`.

    Each group: n (customers observed), events (churns), median_months, small_sample and the
    curve [{"month", "survival", "ci_low", "ci_high", "at_risk"}], month 0 = 100 %.
    """
    started = _time.perf_counter()
    if by not in DIMENSIONS:
        raise ValueError(f"unknown dimension {by!r}; expected one of: {', '.join(DIMENSIONS)}")
    counts = lifetime_counts(store, by)
    top = int(counts.select(pl.col("time").max()).item() or 0) if counts.height else 0
    groups, tables = [], []
    for grp in sorted(counts["grp"].unique().to_list()):
        part = counts.filter(pl.col("grp") == grp)
        entry, t, event, weight = (
            part[c].to_numpy() for c in ("entry", "time", "event", "customers")
        )
        months, n, d = risk_table(entry, t, event, weight, max_month=top)
        tables.append((n, d))
        km = kaplan_meier(entry, t, event, weight)
        shown = km.month <= max_months
        curve = [
            {
                "month": 0,
                "survival": 1.0,
                "ci_low": 1.0,
                "ci_high": 1.0,
                "at_risk": float(n[0]) if n.size else 0.0,
            }
        ]
        curve += [
            {
                "month": int(m),
                "survival": float(s),
                "ci_low": float(lo),
                "ci_high": float(hi),
                "at_risk": float(r),
            }
            for m, s, lo, hi, r in zip(
                km.month[shown],
                km.survival[shown],
                km.ci_low[shown],
                km.ci_high[shown],
                km.at_risk[shown],
                strict=True,
            )
            if r > 0
        ]
        total = int(part["customers"].sum())
        groups.append(
            {
                "group": grp,
                "n": total,
                "events": int(part.filter(pl.col("event"))["customers"].sum()),
                "median_months": median_lifetime(km),
                "small_sample": total < MIN_SAMPLE,
                "curve": curve,
            }
        )
    chi2 = df = p = None
    notes = []
    if len(tables) >= 2:
        chi2, df, p = logrank(tables)
    else:
        notes.append("one group only: no log-rank test")
    return SurvivalResult(
        dimension=by,
        label=DIMENSIONS[by][0],
        groups=groups,
        logrank_chi2=chi2,
        logrank_df=df,
        logrank_p=p,
        seconds=round(_time.perf_counter() - started, 3),
        notes=notes,
    )
