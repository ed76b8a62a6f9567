"""Segment tables: partially pooled estimates lead, unpooled extremes are flagged."""

from __future__ import annotations

import math

import pytest

from experiments.segments import SegmentEstimate, empirical_bayes, pooled_rows

Z = 1.959963984540054


def _seg(level: str, lift: float, se: float, dim: str = "channel") -> SegmentEstimate:
    return SegmentEstimate(dim, level, 500, 500, lift, lift - Z * se, lift + Z * se, 0.5)


def test_dersimonian_laird_by_hand() -> None:
    # y = 0, 1, 3 with se 1: ȳ = 4/3, Q = (16 + 1 + 25)/9 = 14/3, Σw − Σw²/Σw = 2,
    # τ² = (14/3 − 2)/2 = 4/3; equal weights keep μ̂ = 4/3.
    mu, tau = empirical_bayes([0.0, 1.0, 3.0], [1.0, 1.0, 1.0])
    assert mu == pytest.approx(4 / 3, rel=1e-12)
    assert tau == pytest.approx(math.sqrt(4 / 3), rel=1e-12)
    # Homogeneous lifts (Q < k − 1): τ̂ = 0, every segment pooled to the weighted mean.
    mu, tau = empirical_bayes([1.0, 1.1, 0.9], [1.0, 1.0, 2.0])
    assert tau == 0.0 and mu == pytest.approx((1.0 + 1.1 + 0.9 / 4) / 2.25)


def test_pooled_rows_lead_with_pooled_and_flag_unpooled_extremes() -> None:
    segs = [
        _seg("phone", 0.02, 0.005),
        _seg("chat", 0.025, 0.006),
        _seg("email", 0.021, 0.005),
        _seg("social", 0.30, 0.12),  # tiny segment, wild raw lift
    ]
    rows = pooled_rows(segs)
    by = {r["level"]: r for r in rows}
    assert all(r["pooled_method"].startswith("empirical Bayes") for r in rows)
    social = by["social"]
    assert social["unpooled_extreme"] is True
    assert social["pooled_ci_high"] < social["lift"]
    assert abs(social["pooled_mean"] - 0.022) < abs(social["lift"] - 0.022)
    assert not any(by[k]["unpooled_extreme"] for k in ("phone", "chat", "email"))


def test_pooled_rows_use_the_hierarchical_fit_when_given() -> None:
    segs = [_seg("a", 0.1, 0.05), _seg("b", -0.1, 0.05)]
    fitted = {
        "channel": {
            "theta": [
                {"mean": 0.01, "ci_low": -0.05, "ci_high": 0.07},
                {"mean": -0.01, "ci_low": -0.07, "ci_high": 0.05},
            ]
        }
    }
    rows = pooled_rows(segs, fitted)
    assert [r["pooled_mean"] for r in rows] == [0.01, -0.01]
    assert [r["unpooled_extreme"] for r in rows] == [True, True]
    assert rows[0]["pooled_method"] == "hierarchical (PyMC)"
