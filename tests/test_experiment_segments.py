"""Segment effects: unpooled per-segment lifts, shrinkage, the background fit and its cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments import segments
from experiments.readout import analyze, segment_comparisons
from experiments.segments import SegmentEstimate, shrink_fixed
from metrics.background import wait_for


def test_shrink_fixed_matches_hand_computation() -> None:
    # BDA3 eq. 5.17 by hand: precision 1/0.02² + 1/0.05² = 2500 + 400 = 2900,
    # mean (0.02·2500 + 0.10·400) / 2900 = 90/2900.
    mean, sd = shrink_fixed([0.10, 0.0], [0.05, 0.01], mu=0.02, tau=0.02)
    assert mean[0] == pytest.approx(90 / 2900, abs=1e-12)
    assert sd[0] == pytest.approx(math.sqrt(1 / 2900), abs=1e-12)
    # precision 2500 + 10000 = 12500, mean (0.02·2500 + 0)/12500 = 0.004
    assert mean[1] == pytest.approx(0.004, abs=1e-12)


def test_shrink_fixed_small_noisy_segment_moves_toward_pooled_mean_most() -> None:
    lifts, ses = np.array([0.30, 0.05, 0.04]), np.array([0.20, 0.01, 0.01])
    mu = float(np.average(lifts, weights=1 / ses**2))
    mean, _ = shrink_fixed(lifts, ses, mu=mu, tau=0.02)
    moved = np.abs(mean - lifts) / np.abs(lifts - mu)
    assert abs(mean[0] - mu) < abs(lifts[0] - mu)  # toward the pooled mean
    assert moved[0] > 0.9 and moved[1] < 0.3  # the noisy one almost all the way


def test_shrink_fixed_tau_zero_is_complete_pooling() -> None:
    mean, sd = shrink_fixed([1.0, 2.0], [0.1, 0.1], mu=1.5, tau=0.0)
    assert mean.tolist() == [1.5, 1.5] and sd.tolist() == [0.0, 0.0]


def test_segment_comparisons_levels_add_up_to_the_arms(sample_store) -> None:
    readout = analyze(sample_store, "callback_vs_queue", cumulative=False)
    rows = segment_comparisons(sample_store, "callback_vs_queue")
    assert {r.dimension for r in rows} == {"channel", "segment", "age_band"}
    for dim in ("channel", "segment", "age_band"):
        part = [r for r in rows if r.dimension == dim]
        assert sum(r.n_control for r in part) == readout.n_by_variant["control"], dim
        assert sum(r.n_variant for r in part) == readout.n_by_variant["treatment"], dim
    # The planted FCR lift is on every channel, so the biggest segments see it clearly.
    consumer = next(r for r in rows if r.dimension == "segment" and r.level == "consumer")
    assert consumer.ci_low <= 0.08 <= consumer.ci_high and consumer.prob_variant_better > 0.99


def test_segment_fit_job_with_fixed_parameters_caches_pooled_rows(
    sample_store, monkeypatch
) -> None:
    # The MCMC is replaced by the fixed-parameter posterior, so the plumbing is tested fast.
    def fake_fit(groups, **kw):
        out = {}
        for dim, (y, se) in groups.items():
            mu = float(np.average(y, weights=1 / np.asarray(se) ** 2))
            m, s = shrink_fixed(y, se, mu=mu, tau=0.01)
            out[dim] = {
                "mu": {"mean": mu},
                "tau": {"mean": 0.01},
                "theta": [
                    {"mean": a, "ci_low": a - 1.96 * b, "ci_high": a + 1.96 * b}
                    for a, b in zip(m, s, strict=True)
                ],
            }
        kw["progress"](1.0)
        return out

    monkeypatch.setattr(segments, "fit_hierarchical", fake_fit)
    before = segments.segment_fit_status(sample_store, "callback_vs_queue")
    assert before["status"] == "not_fitted"
    version = sample_store.data_version()
    key = segments.start_segment_fit(sample_store, "callback_vs_queue")
    assert key == "segment_effects:callback_vs_queue:fcr"
    wait_for(sample_store, key, timeout_s=60)
    after = segments.segment_fit_status(sample_store, "callback_vs_queue")
    assert after["status"] == "done", after
    assert after["data_version"] == version == sample_store.data_version()
    rows = after["result"]["segments"]
    unpooled = {
        (e.dimension, e.level): e for e in segment_comparisons(sample_store, "callback_vs_queue")
    }
    assert len(rows) == len([e for e in unpooled.values() if e.usable])
    for r in rows:
        u = unpooled[(r["dimension"], r["level"])]
        assert r["lift"] == pytest.approx(u.lift, abs=1e-12)
        mu = after["result"]["hyper"][r["dimension"]]["mu"]["mean"]
        # Each pooled estimate lies between its own lift and the pooled mean.
        lo, hi = sorted((u.lift, mu))
        assert lo - 1e-12 <= r["pooled_mean"] <= hi + 1e-12
    # New data makes the fit stale (still shown), never silently current.
    with sample_store.write() as cur:
        cur.execute("UPDATE targets SET target = target")
    assert segments.segment_fit_status(sample_store, "callback_vs_queue")["status"] == "stale"


def test_segment_estimate_se_reads_back_the_95_interval() -> None:
    e = SegmentEstimate(
        "segment",
        "x",
        10,
        10,
        0.1,
        0.1 - 1.959963984540054 * 0.02,
        0.1 + 1.959963984540054 * 0.02,
        0.9,
    )
    assert e.se == pytest.approx(0.02, abs=1e-15) and e.usable


def _grid_posterior(
    y: list[float], se: list[float], centre: float, scale: float
) -> tuple[float, float]:
    """E[μ | y] and E[θ_1 | y] by 2-D quadrature over (μ, τ) (independent of PyMC).

    p(μ, τ | y) ∝ N(μ | c, s²) · HalfNormal(τ | s) · Π N(y_j | μ, se_j² + τ²), and
    E[θ_j | μ, τ, y] is BDA3 eq. 5.17 (the same model as fit_hierarchical).
    """
    from scipy.stats import halfnorm, norm

    y_, se_ = np.asarray(y), np.asarray(se)
    mu = np.linspace(-60, 70, 1301)[:, None, None]
    tau = np.linspace(1e-4, 80, 1600)[None, :, None]
    logp = (
        norm.logpdf(mu[..., 0], centre, scale)
        + halfnorm.logpdf(tau[..., 0], scale=scale)
        + norm.logpdf(y_, mu, np.sqrt(se_**2 + tau**2)).sum(-1)
    )
    w = np.exp(logp - logp.max())
    w /= w.sum()
    theta1 = (mu[..., 0] / tau[..., 0] ** 2 + y_[0] / se_[0] ** 2) / (
        1 / tau[..., 0] ** 2 + 1 / se_[0] ** 2
    )
    return float((w * mu[..., 0]).sum()), float((w * theta1).sum())


@pytest.mark.mcmc
@pytest.mark.nightly
def test_fit_hierarchical_eight_schools_matches_quadrature() -> None:
    # Rubin (1981) eight schools (BDA3 §5.5): school A's 28 ± 15 is shrunk strongly.
    y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
    se = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]
    out = segments.fit_hierarchical({"school": (y, se)}, draws=2000, tune=2000, chains=2)
    fit = out["school"]
    centre, k = segments.standardisation(np.asarray(y), np.asarray(se))
    mu_ref, theta1_ref = _grid_posterior(y, se, centre, segments.PRIOR_SD * k)
    # Monte Carlo tolerance: 4,000 draws of quantities with posterior sd about 5-8.
    assert fit["mu"]["mean"] == pytest.approx(mu_ref, abs=0.6)
    assert fit["theta"][0]["mean"] == pytest.approx(theta1_ref, abs=0.8)
    assert fit["theta"][0]["mean"] < 28.0 - 5  # shrunk toward the pooled mean
    assert out["_sampler"]["divergences"] < 40
