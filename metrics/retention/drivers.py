"""Key drivers: which contact attributes explain CSAT, NPS and 90-day churn, and what to fix first.

Importance is the Shapley decomposition of R² over predictor groups (LMG: Lindeman, Merenda
& Gold 1980; Grömping 2006, "Relative importance for linear regression in R", J. Statistical
Software 17(1)): each group's average gain in R² over all orders of entry. A categorical
attribute (channel, issue type) is one group of dummies, so its importance does not depend
on the reference level. Johnson's relative weights (Johnson 2000, "A heuristic method for
estimating the relative weight of predictor variables in multiple regression", Multivariate
Behavioral Research 35(1):1-19) are given per column as a cross-check. Both sum to R².

Churn is a 0/1 outcome: its R² is that of the linear probability model, which ranks
drivers but is not a causal effect. Intervals: percentile bootstrap over 500 random blocks of contacts
(resampling blocks of iid rows; each block's cross-products are computed once).

Data: one row per contact (with its survey answer for CSAT and NPS), a bounded sample drawn
in DuckDB by a seeded hash of contact_id (default at most 100,000 rows); regressions run on
the covariance matrix.

Fix first = importance (share of R²) × relative distance of the driver's KPI from its
target (catalogue targets, or the user's from the Targets page); drivers whose KPI has no
target, or that are not levers (channel, issue type), are not ranked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from math import factorial
from typing import Any, Literal

import numpy as np
import polars as pl

from metrics.churn import MIN_SAMPLE, data_end
from metrics.store import Store

Kpi = Literal["csat", "nps", "churn"]
KPIS: dict[str, str] = {
    "csat": "CSAT score (1–5)",
    "nps": "likelihood to recommend (0–10)",
    "churn": "churned within 90 days of the contact",
}
# Predictor groups in display order: (label, columns, kind).
GROUPS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "wait": ("Wait before answer (log minutes)", ("log_wait",), "numeric"),
    "handle": ("Handle time (log minutes)", ("log_handle",), "numeric"),
    "resolution": ("Resolved", ("resolved",), "numeric"),
    "repeat": ("Repeat contact (same issue within 7 days)", ("repeat",), "numeric"),
    "escalation": ("Escalated", ("escalated",), "numeric"),
    "channel": ("Channel", ("channel",), "categorical"),
    "issue": ("Issue type", ("issue_type",), "categorical"),
    "bot_handoff": ("Chatbot handed over to a person", ("bot_handoff",), "numeric"),
}
# Driver -> (catalogue KPI whose target measures its distance, what "worse" means).
DRIVER_KPI: dict[str, str] = {
    "wait": "long_wait_share",
    "handle": "aht",
    "resolution": "fcr",
    "repeat": "repeat_contact_rate",
    "escalation": "escalation_rate",
    "bot_handoff": "automation_rate",
}
# The sign a lever's column has when it hurts CSAT / NPS (+1: more of it raises the score).
GOOD_SIGN = {
    "wait": -1,
    "handle": -1,
    "resolution": 1,
    "repeat": -1,
    "escalation": -1,
    "bot_handoff": -1,
}
DEFAULT_SAMPLE = 100_000
DEFAULT_BOOTS = 200
BOOT_BLOCKS = 500  # bootstrap units: random blocks of contacts
REPEAT_DAYS = 7
FOLLOW_DAYS = 90


# ------------------------------------------------------------------------- pure statistics
def r2_subsets(cov: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """R² of y on every subset of predictor groups (bit g of the index = group g in).

    cov: covariance of [X, y] (y last). R²(S) = s_Sy' Σ_SS⁻¹ s_Sy / var(y). All subsets are
    solved in one batched call: a left-out column becomes an identity row and column with a
    zero right-hand side, so its coefficient is 0 and the rest solve their own sub-system.
    """
    p = cov.shape[0] - 1
    sxx, sxy, vy = cov[:p, :p], cov[:p, p], cov[p, p]
    out = np.zeros(1 << len(groups))
    if vy <= 0:
        return out
    ind = _subset_indicators(p, tuple(tuple(g) for g in groups))[1:]
    mat = ind[:, :, None] * ind[:, None, :] * sxx + np.eye(p) * (1.0 - ind)[:, :, None]
    rhs = ind * sxy
    try:
        x = np.linalg.solve(mat, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        x = (np.linalg.pinv(mat) @ rhs[:, :, None])[:, :, 0]
    out[1:] = np.einsum("ij,ij->i", rhs, x) / vy
    return out


@lru_cache(maxsize=32)
def _subset_indicators(p: int, groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    ind = np.zeros((1 << len(groups), p))
    for mask in range(1 << len(groups)):
        for g, cols in enumerate(groups):
            if mask >> g & 1:
                ind[mask, list(cols)] = 1.0
    return ind


@lru_cache(maxsize=16)
def _shapley_terms(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group, subset without it, Shapley weight |S|!(k-|S|-1)!/k!) for every pair."""
    g_idx, masks, weights = [], [], []
    for mask in range(1 << k):
        size = bin(mask).count("1")
        for g in range(k):
            if not mask >> g & 1:
                g_idx.append(g)
                masks.append(mask)
                weights.append(factorial(size) * factorial(k - size - 1) / factorial(k))
    return np.array(g_idx), np.array(masks), np.array(weights)


def shapley_r2(cov: np.ndarray, groups: list[list[int]]) -> tuple[np.ndarray, float]:
    """Shapley (LMG) share of R² per group and the full model's R²; the shares sum to it."""
    k = len(groups)
    r2 = r2_subsets(cov, groups)
    g_idx, masks, weights = _shapley_terms(k)
    gain = r2[masks | (1 << g_idx)] - r2[masks]
    return np.bincount(g_idx, weights=weights * gain, minlength=k), float(r2[-1])


def relative_weights(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights from predictor correlations rxx and rxy.

    Λ = R^½ (the correlations of X with its closest orthonormal Z), β = Λ⁻¹ r_xy (y on Z),
    ε_j = Σ_k Λ_jk² β_k². The weights sum to R².
    """
    evals, evecs = np.linalg.eigh(rxx)
    lam = evecs @ np.diag(np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T
    beta = np.linalg.lstsq(lam, rxy, rcond=None)[0]
    return (lam**2) @ (beta**2)


@dataclass(frozen=True)
class BlockStats:
    """Sufficient statistics of [X, y] in random blocks of rows: counts, sums, cross-products.

    The bootstrap resamples blocks (iid groups of iid rows), so a replicate is a weighted
    sum of these, never another pass over the rows.
    """

    count: np.ndarray  # (G,)
    total: np.ndarray  # (G, p+1)
    cross: np.ndarray  # (G, p+1, p+1)

    @classmethod
    def of(cls, z: np.ndarray, blocks: int, rng: np.random.Generator) -> BlockStats:
        g = min(blocks, z.shape[0])
        label = rng.permutation(z.shape[0]) % g
        order = np.argsort(label, kind="stable")
        bounds = np.searchsorted(label[order], np.arange(g + 1))
        zs = z[order]
        cross = np.stack(
            [zs[a:b].T @ zs[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        )
        total = np.add.reduceat(zs, bounds[:-1], axis=0)
        return cls(np.diff(bounds).astype(float), total, cross)

    def cov(self, w: np.ndarray | None = None) -> np.ndarray:
        """Covariance of [X, y] with block weights w (bootstrap counts; None = all once)."""
        w = np.ones(self.count.size) if w is None else w
        n = w @ self.count
        mean = (w @ self.total) / n
        return np.tensordot(w, self.cross, axes=1) / n - np.outer(mean, mean)


def design(
    df: pl.DataFrame, outcome: str
) -> tuple[np.ndarray, list[list[int]], list[str], list[str]]:
    """[X, y] matrix, column indices per group, group keys, column names.

    Numeric columns as they are (nulls -> 0: a contact without a queue waited 0 minutes);
    categoricals as dummies without their most frequent level. Constant columns are dropped.
    """
    cols: list[np.ndarray] = []
    names: list[str] = []
    groups: list[list[int]] = []
    keys: list[str] = []
    for key, (_, columns, kind) in GROUPS.items():
        idx: list[int] = []
        for col in columns:
            if col not in df.columns:
                continue
            if kind == "numeric":
                v = df[col].cast(pl.Float64).fill_null(0.0).to_numpy()
                if np.ptp(v) > 0:
                    idx.append(len(cols))
                    cols.append(v)
                    names.append(col)
            else:
                s = df[col].fill_null("unknown")
                levels = s.value_counts(sort=True)[col].to_list()
                for level in levels[1:]:
                    v = (s == level).cast(pl.Float64).to_numpy()
                    if v.any():
                        idx.append(len(cols))
                        cols.append(v)
                        names.append(f"{col}={level}")
        if idx:
            groups.append(idx)
            keys.append(key)
    y = df[outcome].cast(pl.Float64).to_numpy()
    z = np.column_stack([*cols, y]) if cols else y[:, None]
    return z, groups, keys, names


@dataclass
class DriverResult:
    """Importance of each driver group for one KPI, with intervals and the fix-first rank."""

    kpi: str
    kpi_label: str
    n: int
    sample_limit: int
    boots: int
    r2: float
    r2_ci: tuple[float, float]
    drivers: list[dict[str, Any]]
    seconds: float
    method: str = (
        "Shapley decomposition of R² over predictor groups (LMG; Grömping 2006), 95 % "
        "percentile bootstrap intervals; Johnson (2000) relative weights per column"
    )
    notes: list[str] = field(default_factory=list)


def drivers_from_rows(
    df: pl.DataFrame, outcome: str, *, boots: int = DEFAULT_BOOTS, seed: int = 0
) -> tuple[list[dict[str, Any]], float, tuple[float, float]]:
    """Importance rows (one per present group) and R² with its bootstrap interval."""
    z, groups, keys, names = design(df, outcome)
    n = z.shape[0]
    if n < MIN_SAMPLE or not groups:
        raise ValueError(f"too few rows to estimate drivers: {n} (need at least {MIN_SAMPLE})")
    rng = np.random.default_rng(seed)
    stats = BlockStats.of(z, BOOT_BLOCKS, rng)
    cov = stats.cov()
    phi, r2 = shapley_r2(cov, groups)
    p = z.shape[1] - 1
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
        coef = np.linalg.lstsq(cov[:p, :p], cov[:p, p], rcond=None)[0] * sd[:p] / sd[p]
    rw = relative_weights(corr[:p, :p], corr[:p, p])
    boot_phi = np.empty((boots, len(groups)))
    boot_r2 = np.empty(boots)
    g = stats.count.size
    for b in range(boots):
        w = rng.multinomial(g, np.full(g, 1.0 / g)).astype(float)
        boot_phi[b], boot_r2[b] = shapley_r2(stats.cov(w), groups)
    lo, hi = np.quantile(boot_phi, [0.025, 0.975], axis=0) if boots else (phi, phi)
    rows = []
    for g, key in enumerate(keys):
        single = len(groups[g]) == 1 and GROUPS[key][2] == "numeric"
        rows.append(
            {
                "driver": key,
                "label": GROUPS[key][0],
                "importance": float(phi[g]),
                "ci_low": float(lo[g]),
                "ci_high": float(hi[g]),
                "share_of_r2": float(phi[g] / r2) if r2 > 0 else None,
                # Direction only for a single column: the standardised coefficient's sign.
                "direction": (
                    ("raises" if coef[groups[g][0]] > 0 else "lowers") if single else None
                ),
                "relative_weight": float(sum(rw[c] for c in groups[g])),
                "columns": [names[c] for c in groups[g]],
            }
        )
    r2_ci = (
        (float(np.quantile(boot_r2, 0.025)), float(np.quantile(boot_r2, 0.975)))
        if boots
        else (r2, r2)
    )
    return rows, r2, r2_ci


# ------------------------------------------------------------------------------ the store
def _rows_sql(kpi: str) -> str:
    outcome = {
        "csat": "CAST(s.csat AS DOUBLE)",
        "nps": "CAST(s.nps AS DOUBLE)",
        "churn": (
            "CASE WHEN c.churned_at > CAST(k.opened_at AS DATE) AND c.churned_at <= "
            f"CAST(k.opened_at AS DATE) + INTERVAL {FOLLOW_DAYS} DAY THEN 1.0 ELSE 0.0 END"
        ),
    }[kpi]
    if kpi == "churn":
        source = f"""
            FROM k JOIN customers c ON c.customer_id = k.customer_id
            WHERE CAST(k.opened_at AS DATE) + INTERVAL {FOLLOW_DAYS} DAY < CAST($end AS DATE)
              AND (c.churned_at IS NULL OR c.churned_at > CAST(k.opened_at AS DATE))"""
    else:
        source = f"FROM k JOIN surveys s ON s.contact_id = k.contact_id WHERE s.{kpi} IS NOT NULL"
    return f"""
        WITH k AS (
            SELECT *,
                   COALESCE(opened_at - lag(opened_at) OVER (
                       PARTITION BY customer_id, issue_type ORDER BY opened_at
                   ) <= INTERVAL {REPEAT_DAYS} DAY, FALSE) AS is_repeat
            FROM contacts
        )
        SELECT ln(1 + COALESCE(k.wait_s, 0) / 60.0) AS log_wait,
               ln(1 + COALESCE(k.handle_s, 0) / 60.0) AS log_handle,
               CAST(COALESCE(k.resolved, FALSE) AS DOUBLE) AS resolved,
               CAST(k.is_repeat AS DOUBLE) AS repeat,
               CAST(COALESCE(k.escalated, FALSE) AS DOUBLE) AS escalated,
               k.channel, COALESCE(k.issue_type, 'other') AS issue_type,
               CASE WHEN k.channel = 'chatbot' AND NOT COALESCE(k.bot_handled, FALSE)
                    THEN 1.0 ELSE 0.0 END AS bot_handoff,
               {outcome} AS y
        {source}
        ORDER BY hash(k.contact_id || $seed)
        LIMIT $limit
    """


def driver_sample(
    store: Store, kpi: str, *, limit: int = DEFAULT_SAMPLE, seed: int = 0
) -> pl.DataFrame:
    """At most `limit` per-contact rows for `kpi`, a seeded hash sample drawn in DuckDB."""
    if kpi not in KPIS:
        raise ValueError(f"kpi must be one of {', '.join(KPIS)}, got {kpi!r}")
    end = data_end(store)
    if end is None:
        return pl.DataFrame()
    params = {"seed": str(seed), "limit": int(limit)}
    if kpi == "churn":
        params["end"] = end
    return store.cursor().sql(_rows_sql(kpi), params=params).pl()


def _targets(store: Store) -> dict[str, dict[str, Any]]:
    from metrics.catalogue import CATALOGUE
    from metrics.kpi_query import KpiRequest, query_kpis

    names = tuple(DRIVER_KPI.values())
    df = query_kpis(store, KpiRequest(kpis=names))
    out = {}
    for r in df.iter_rows(named=True):
        kpi = CATALOGUE[r["kpi"]]
        out[r["kpi"]] = {
            "kpi_label": kpi.label,
            "current": r["value"],
            "target": r["target"],
            "direction": kpi.direction,
            "unit": kpi.unit,
        }
    return out


def gap_to_target(current: float | None, target: float | None, direction: str) -> float | None:
    """Relative shortfall from target: 0 when met, None without a target or a value."""
    if current is None or target is None or target == 0:
        return None
    if direction == "lower":
        return max(0.0, (current - target) / abs(target))
    return max(0.0, (target - current) / abs(target))


def key_drivers(
    store: Store,
    kpi: str = "csat",
    *,
    limit: int = DEFAULT_SAMPLE,
    boots: int = DEFAULT_BOOTS,
    seed: int = 0,
) -> DriverResult:
    """Importance of each contact attribute for `kpi` with 95 % intervals and fix-first rank."""
    started = time.perf_counter()
    df = driver_sample(store, kpi, limit=limit, seed=seed)
    if df.height < MIN_SAMPLE:
        raise ValueError(
            f"{KPIS.get(kpi, kpi)}: {df.height} contacts with an outcome; drivers need at "
            f"least {MIN_SAMPLE} (load contacts and surveys first)"
        )
    rows, r2, r2_ci = drivers_from_rows(df, "y", boots=boots, seed=seed)
    targets = _targets(store)
    for r in rows:
        t = targets.get(DRIVER_KPI.get(r["driver"], ""), {})
        gap = gap_to_target(t.get("current"), t.get("target"), t.get("direction", "higher"))
        note = None
        if r["driver"] not in DRIVER_KPI:
            note = "not a lever with a target"
        elif gap is None:
            note = "no target for its KPI (set one on the Targets page)"
        elif r["direction"] is not None:
            # Churn is a bad outcome: a lever that hurts raises it.
            sign = 1 if r["direction"] == "raises" else -1
            expected = GOOD_SIGN[r["driver"]] * (-1 if kpi == "churn" else 1)
            if sign != expected:
                gap, note = None, "in this data it goes with a better outcome: not ranked"
        r |= {
            "kpi": DRIVER_KPI.get(r["driver"]),
            "kpi_label": t.get("kpi_label"),
            "current": t.get("current"),
            "target": t.get("target"),
            "kpi_unit": t.get("unit"),
            "gap": gap,
            "fix_first": (r["share_of_r2"] or 0.0) * gap if gap is not None else None,
            "fix_note": note,
        }
    ranked = sorted((r for r in rows if r["fix_first"] is not None), key=lambda r: -r["fix_first"])
    for i, r in enumerate(ranked, start=1):
        r["fix_rank"] = i
    for r in rows:
        r.setdefault("fix_rank", None)
    rows.sort(key=lambda r: -r["importance"])
    notes = [f"a seeded sample of {df.height:,} contacts (at most {limit:,}) drawn in the engine"]
    if kpi == "churn":
        notes.append(
            "churn: linear probability model on contacts at least 90 days before the data end"
        )
    return DriverResult(
        kpi=kpi,
        kpi_label=KPIS[kpi],
        n=df.height,
        sample_limit=limit,
        boots=boots,
        r2=r2,
        r2_ci=r2_ci,
        drivers=rows,
        seconds=round(time.perf_counter() - started, 3),
        notes=notes,
    )
