"""Posterior density curves of both arms and of the absolute lift, for plotting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.stats.marginals import PointMass, diff_pdf
from experiments.stats.posteriors import Stats, arm_posterior


@dataclass(frozen=True)
class PosteriorCurves:
    """Grids and densities: arms on a shared x grid, the lift (variant − control) on its own."""

    x: tuple[float, ...]
    control: tuple[float, ...]
    variant: tuple[float, ...]
    lift_x: tuple[float, ...]
    lift: tuple[float, ...]


def posterior_curves(
    control: Stats,
    variant: Stats,
    *,
    prior: tuple[float, ...] | None = None,
    points: int = 201,
) -> PosteriorCurves | None:
    """Densities over the central 99.98 % of each posterior; None if an arm has no posterior."""
    try:
        x_post, y_post = arm_posterior(control, prior), arm_posterior(variant, prior)
    except ValueError:
        return None
    if isinstance(x_post, PointMass) or isinstance(y_post, PointMass):
        return None  # a known value has no density to draw
    lo = min(x_post.ppf(1e-4), y_post.ppf(1e-4))
    hi = max(x_post.ppf(1 - 1e-4), y_post.ppf(1 - 1e-4))
    grid = np.linspace(lo, hi, points)
    sd = float(np.hypot(x_post.spread, y_post.spread))
    mid = y_post.mean - x_post.mean
    lift_grid = np.linspace(mid - 4.5 * sd, mid + 4.5 * sd, points)
    return PosteriorCurves(
        tuple(grid.tolist()),
        tuple(x_post.pdf(grid).tolist()),
        tuple(y_post.pdf(grid).tolist()),
        tuple(lift_grid.tolist()),
        tuple(diff_pdf(x_post, y_post, lift_grid).tolist()),
    )
