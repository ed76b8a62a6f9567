"""Segment effects: unpooled per-segment lifts and a hierarchical (partially pooled) model.

Per dimension (channel, segment, age band) each segment s has an observed absolute lift
ŷ_s with standard error se_s from the engine. The hierarchical model is the normal
random-effects meta-analysis (Gelman et al., Bayesian Data Analysis, 3rd ed., §5.5,
the "eight schools" model):

    μ ~ N(0, σ₀²),  τ ~ HalfNormal(σ₀),  θ_s ~ N(μ, τ²),  ŷ_s ~ N(θ_s, se_s²)

so a small, noisy segment's θ_s is shrunk toward μ, and a large one keeps its own value.
For fixed (μ, τ) the posterior of θ_s is normal with precision 1/τ² + 1/se_s² and mean
(μ/τ² + ŷ_s/se_s²)/(1/τ² + 1/se_s²) (BDA3 eq. 5.17); `shrink_fixed` computes that, and
`fit_hierarchical` integrates over μ and τ with PyMC (imported inside the function only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from experiments.readout import Z95, SegmentEstimate, segment_comparisons
from experiments.readout_sql import SEGMENT_DIMS
from metrics.store import Store

MODEL_KIND = "segment_effects"


def shrink_fixed(
    lifts: Sequence[float], ses: Sequence[float], mu: float, tau: float
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of each θ_s given μ and τ (BDA3 eq. 5.17)."""
    y, se = np.asarray(lifts, float), np.asarray(ses, float)
    if tau <= 0:
        return np.full_like(y, mu), np.zeros_like(y)
    precision = 1 / tau**2 + 1 / se**2
    return (mu / tau**2 + y / se**2) / precision, np.sqrt(1 / precision)


PRIOR_SD = 3.0  # prior sd of μ and τ, in units of `standardisation`'s scale


def standardisation(lifts: np.ndarray, ses: np.ndarray) -> tuple[float, float]:
    """(centre, scale) that make a dimension's lifts O(1), so NUTS adapts in a few steps.

    centre: the inverse-variance weighted mean lift; scale: the larger of the lifts' spread
    and their median standard error. The priors are μ ~ N(centre, (3·scale)²) and
    τ ~ HalfNormal(3·scale): weakly informative on the metric's own scale.
    """
    w = 1 / ses**2
    centre = float((w * lifts).sum() / w.sum())
    scale = float(max(np.std(lifts), np.median(ses), 1e-12))
    return centre, scale


def fit_hierarchical(
    groups: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    seed: int = 20261001,
    progress: Callable[[float], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Fit one random-effects model per dimension (all in one PyMC model, one compile).

    groups: {dimension: (lifts, ses)}. Returns per dimension: mu and tau (mean, 2.5 %,
    97.5 %) and per segment theta mean / ci_low / ci_high, plus the sampler's divergences.
    """
    import pymc as pm  # slow import (~3.5 s): only when a fit is asked for

    dims = [d for d, (y, _) in groups.items() if len(y) >= 2]
    if not dims:
        return {}
    idx = np.concatenate([np.full(len(groups[d][0]), i) for i, d in enumerate(dims)])
    std = [
        standardisation(np.asarray(groups[d][0], float), np.asarray(groups[d][1], float))
        for d in dims
    ]
    centre = np.array([c for c, _ in std])[idx]
    scale = np.array([s for _, s in std])[idx]
    # The model runs on standardised lifts (y − centre) / scale; results are mapped back.
    y = (np.concatenate([np.asarray(groups[d][0], float) for d in dims]) - centre) / scale
    se = np.concatenate([np.asarray(groups[d][1], float) for d in dims]) / scale
    total = chains * (draws + tune)
    done = [0]

    def callback(trace: Any, draw: Any) -> None:
        done[0] += 1
        if progress is not None and done[0] % 50 == 0:
            progress(min(done[0] / total, 0.99))

    with pm.Model():
        mu = pm.Normal("mu", 0.0, PRIOR_SD, shape=len(dims))
        tau = pm.HalfNormal("tau", PRIOR_SD, shape=len(dims))
        # Non-centred: θ = μ + τ·z samples well when τ is near zero (few, noisy segments).
        z = pm.Normal("z", 0.0, 1.0, shape=len(y))
        theta = pm.Deterministic("theta", mu[idx] + tau[idx] * z)
        pm.Normal("obs", theta, se, observed=y)
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=1,
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
            callback=callback,
            target_accept=0.95,
        )
    post = idata.posterior
    divergences = int(idata.sample_stats["diverging"].values.sum())

    def summary(values: np.ndarray, c: float = 0.0, k: float = 1.0) -> dict[str, float]:
        flat = c + k * values.reshape(-1)
        lo, hi = np.quantile(flat, [0.025, 0.975])
        return {"mean": float(flat.mean()), "ci_low": float(lo), "ci_high": float(hi)}

    out: dict[str, dict[str, Any]] = {}
    theta_v = post["theta"].values  # (chain, draw, segment)
    for i, d in enumerate(dims):
        cols = np.where(idx == i)[0]
        c, k = std[i]
        out[d] = {
            "mu": summary(post["mu"].values[..., i], c, k),
            "tau": summary(post["tau"].values[..., i], 0.0, k),
            "theta": [summary(theta_v[..., j], c, k) for j in cols],
        }
    out["_sampler"] = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "seed": seed,
        "divergences": divergences,
    }
    if progress is not None:
        progress(1.0)
    return out


# -- from the store ------------------------------------------------------------------------
def unpooled_segments(
    store: Store,
    experiment_id: str,
    metric: str | None = None,
    dims: Sequence[str] = SEGMENT_DIMS,
) -> list[SegmentEstimate]:
    """The engine's lift per segment of each dimension (no pooling)."""
    return segment_comparisons(store, experiment_id, metric=metric, dims=dims)


def model_inputs(
    estimates: Sequence[SegmentEstimate],
) -> dict[str, tuple[list[float], list[float]]]:
    groups: dict[str, tuple[list[float], list[float]]] = {}
    for e in estimates:
        if e.usable:
            ys, ss = groups.setdefault(e.dimension, ([], []))
            ys.append(e.lift)
            ss.append(e.se)
    return groups


def empirical_bayes(lifts: Sequence[float], ses: Sequence[float]) -> tuple[float, float]:
    """(μ̂, τ̂) by DerSimonian & Laird's moment estimator (Controlled Clinical Trials, 1986).

    Q = Σw(ŷ − ȳ_w)², τ̂² = max(0, (Q − (k − 1)) / (Σw − Σw²/Σw)), w = 1/se²; μ̂ is the
    weighted mean with weights 1/(se² + τ̂²). A fast partial pooling for tables (no PyMC).
    """
    y, se = np.asarray(lifts, float), np.asarray(ses, float)
    w = 1 / se**2
    mean_w = float((w * y).sum() / w.sum())
    q = float((w * (y - mean_w) ** 2).sum())
    denom = float(w.sum() - (w * w).sum() / w.sum())
    tau2 = max(0.0, (q - (len(y) - 1)) / denom) if denom > 0 else 0.0
    w_star = 1 / (se**2 + tau2)
    return float((w_star * y).sum() / w_star.sum()), math.sqrt(tau2)


def pooled_rows(
    estimates: Sequence[SegmentEstimate], fitted: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Rows for segment tables, led by the partially pooled estimate, extremes flagged.

    Each usable segment gets pooled_mean / pooled_ci_low / pooled_ci_high (the PyMC fit when
    `fitted` has its dimension, else the DerSimonian–Laird empirical-Bayes shrinkage),
    pooled_method, and unpooled_extreme: True when the unpooled lift lies outside the pooled
    95 % interval, i.e. the raw number is an extreme the pooling does not believe; tables should
    show the pooled value first and mark such raw values as unpooled.
    """
    rows = []
    for dim in dict.fromkeys(e.dimension for e in estimates):
        usable = [e for e in estimates if e.dimension == dim and e.usable]
        if not usable:
            continue
        fit = (fitted or {}).get(dim)
        if fit is not None:
            pooled = [(t["mean"], t["ci_low"], t["ci_high"]) for t in fit["theta"]]
            method = "hierarchical (PyMC)"
        elif len(usable) >= 2:
            mu, tau = empirical_bayes([e.lift for e in usable], [e.se for e in usable])
            means, sds = shrink_fixed([e.lift for e in usable], [e.se for e in usable], mu, tau)
            pooled = [(m, m - Z95 * s, m + Z95 * s) for m, s in zip(means, sds, strict=True)]
            method = "empirical Bayes (DerSimonian–Laird)"
        else:
            pooled = [(e.lift, e.ci_low, e.ci_high) for e in usable]
            method = "unpooled (one segment)"
        for e, (m, lo, hi) in zip(usable, pooled, strict=True):
            rows.append(
                e.to_dict()
                | {
                    "pooled_mean": m,
                    "pooled_ci_low": lo,
                    "pooled_ci_high": hi,
                    "pooled_method": method,
                    "unpooled_extreme": bool(not lo <= e.lift <= hi),
                }
            )
    return rows


def cache_key(experiment_id: str, metric: str) -> str:
    """The model_cache key of an experiment's segment fit (the row records its data version)."""
    return f"{MODEL_KIND}:{experiment_id}:{metric}"


def _fit_job(store: Store, experiment_id: str, metric: str, draws: int, tune: int, chains: int):
    def run(progress: Callable[[float, str], None]) -> dict[str, Any]:
        # The per-segment SQL runs here too, in the background: at scale it takes seconds.
        progress(0.0, "computing per-segment estimates")
        estimates = unpooled_segments(store, experiment_id, metric)
        progress(0.05, "sampling the hierarchical model")
        groups = model_inputs(estimates)
        fitted = fit_hierarchical(
            groups,
            draws=draws,
            tune=tune,
            chains=chains,
            progress=lambda f: progress(0.05 + 0.95 * f, "sampling the hierarchical model"),
        )
        rows = pooled_rows(estimates, fitted)
        hyper = {d: {"mu": v["mu"], "tau": v["tau"]} for d, v in fitted.items() if d != "_sampler"}
        return {
            "metric": metric,
            "segments": rows,
            "hyper": hyper,
            "sampler": fitted.get("_sampler", {}),
        }

    return run


def start_segment_fit(
    store: Store,
    experiment_id: str,
    metric: str | None = None,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    wait: bool = False,
) -> str:
    """Start the background fit on the current data (unless running or current); its key.

    Runs through metrics.background (progress and result in model_cache, keyed with the
    data version it was fitted on). wait=True fits in the calling thread (CLI, scripts).
    """
    from experiments.registry import get_experiment
    from metrics.background import start_job

    metric = metric or get_experiment(store, experiment_id).primary_metric
    key = cache_key(experiment_id, metric)
    start_job(
        store,
        key,
        MODEL_KIND,
        _fit_job(store, experiment_id, metric, draws, tune, chains),
        wait=wait,
    )
    return key


def segment_fit_status(
    store: Store, experiment_id: str, metric: str | None = None
) -> dict[str, Any]:
    """Where the segment model stands, without computing anything (cheap; pages poll it).

    {key, status: not_fitted | running | done | stale | failed | interrupted, progress,
    message, result, error, data_version (fitted on), current_version}. "stale" is a result
    fitted on an older data version: still shown, with a refit offered.
    """
    from experiments.registry import get_experiment
    from metrics.background import job_status

    metric = metric or get_experiment(store, experiment_id).primary_metric
    key = cache_key(experiment_id, metric)
    job = job_status(store, key)
    current = store.data_version()
    if job is None:
        return {
            "key": key,
            "status": "not_fitted",
            "progress": 0.0,
            "message": None,
            "result": None,
            "error": None,
            "data_version": None,
            "current_version": current,
        }
    status = "stale" if job.status == "done" and not job.current else job.status
    return {
        "key": key,
        "status": status,
        "progress": job.progress,
        "message": job.message,
        "result": job.result,
        "error": job.error,
        "data_version": job.data_version,
        "current_version": current,
    }
