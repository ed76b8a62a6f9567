"""Peeking-safe decisions: group-sequential O'Brien–Fleming-type boundaries and confidence sequences.

Group-sequential (Lan & DeMets, "Discrete sequential boundaries for clinical trials",
Biometrika 1983): the O'Brien–Fleming-type spending function α(t) = 2 − 2Φ(z_{1−α/2}/√t)
spends α(t_k) − α(t_{k−1}) of the one-sided level at a look at information fraction t_k, so any
number of looks at any fractions keeps the chance of ever crossing at α. The boundary c_k solves
P(Z_1 < c_1, …, Z_{k−1} < c_{k−1}, Z_k ≥ c_k) = α(t_k) − α(t_{k−1}) under the null, where the
cumulative Z statistics are the Brownian motion B(t)/√t (corr(Z_i, Z_j) = √(t_i/t_j)). The
probability is computed by the recursive numerical integration of Armitage, McPherson & Rowe
(JRSS A 1969), as in Jennison & Turnbull, Group Sequential Methods (2000), ch. 19: the density of
the not-yet-stopped paths is carried on a grid from look to look. Five equal looks at one-sided
α = 0.025 give 4.877, 3.357, 2.680, 2.290, 2.031 (tests pin these, and check against scipy's
multivariate normal and a seeded Monte Carlo).

Beyond the planned information (t > 1), or with no plan, the rule falls back to an asymptotic
confidence sequence (Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric,
nonasymptotic confidence sequences", Ann. Stat. 2021; the normal-mixture boundary in its
asymptotic form, Waudby-Smith et al. 2021, as GrowthBook and Eppo use): with u the information
relative to the tuning size n*, K = ρ²n* = −2 log α + log(1 − 2 log α) and
    c(u) = √((uK + 1)/(uK) · (2 log(1/α) + log(uK + 1))),
the interval estimate ± c(u)·se covers the truth at every look at once with probability ≥ 1 − α.

A decision is one-sided: "ship" when the lower end of the sequential interval clears 0 (the
variant is better), "worse" when its upper end is below 0. Each side is spent at its own α.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

# A sequence of numbers: a list, a tuple or a numpy array (the callers pass all three).
Floats = Sequence[float] | np.ndarray

SEQUENTIAL, FIXED = "sequential", "fixed"
ANALYSES = (SEQUENTIAL, FIXED)
OBF, CS, SINGLE = "O'Brien–Fleming", "confidence sequence", "single look"
# One-sided error of shipping a null variant (the old P(better) ≥ 95 % rule's level).
ALPHA_SHIP = 0.05
# Total chance of a false "stop" (primary worse or a guardrail harmed), shared by Bonferroni.
ALPHA_STOP = 0.05
# The confidence sequence is tightest near this many units per arm when there is no plan
# (GrowthBook's default tuning size).
DEFAULT_CS_TUNING_N = 5_000
# Fractions are rounded before caching so that 0.3333333 and 0.3333334 share a boundary.
_FRACTION_DIGITS = 6
_Z_LOW = -7.0  # paths below this many sd never come back to cross (mass < 1e-11)
_STEP = 0.04  # grid spacing on the z scale (Simpson; boundaries agree with finer grids to 1e-4)


def obf_spending(t: np.ndarray | float, alpha: float) -> np.ndarray | float:
    """α(t) = 2 − 2Φ(z_{1−α/2}/√t): the share of α spent by information fraction t (≤ α)."""
    t = np.minimum(np.asarray(t, dtype=float), 1.0)
    z = ndtri(1 - alpha / 2)
    with np.errstate(divide="ignore"):
        out = np.where(t > 0, 2 - 2 * ndtr(z / np.sqrt(np.where(t > 0, t, 1.0))), 0.0)
    return float(out) if out.ndim == 0 else out


def _grid(upper: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Simpson nodes and weights on [_Z_LOW, upper] with spacing at most `step`."""
    m = max(int(math.ceil((upper - _Z_LOW) / step)), 2)
    m += m % 2  # Simpson needs an even number of intervals
    z = np.linspace(_Z_LOW, upper, m + 1)
    w = np.ones(m + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return z, w * (upper - _Z_LOW) / (3 * m)


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


_Z_HIGH = 8.5  # no boundary yet (c = ∞): the density is carried up to here (mass above < 1e-17)
_BAND = 8.5  # the transition kernel is cut at ±8.5 of its sd (φ(8.5) < 1e-16)


def _propagate(
    z: np.ndarray,
    mass: np.ndarray,
    z_new: np.ndarray,
    s_prev: float,
    s_t: float,
    s_dt: float,
    shift: float = 0.0,
) -> np.ndarray:
    """Density of Z_k on z_new from the weighted density `mass` of Z_{k−1} on z.

    f_k(z') = Σ_u mass(u) φ((z'√t − u√t_{k−1} − shift)/√Δt) · √t/√Δt, summed only over the
    band of u where the kernel is not negligible (with daily looks the kernel is narrow, and
    the full matrix would cost grid² per look).
    """
    centre = (z_new * s_t - shift) / s_prev
    half = _BAND * s_dt / s_prev
    lo = np.searchsorted(z, centre - half)
    hi = np.searchsorted(z, centre + half, side="right")
    width = int((hi - lo).max(initial=0))
    if width == 0:
        return np.zeros_like(z_new)
    idx = lo[:, None] + np.arange(width)[None, :]
    valid = idx < hi[:, None]
    idx = np.minimum(idx, z.size - 1)
    arg = (z_new[:, None] * s_t - z[idx] * s_prev - shift) / s_dt
    kern = np.where(valid, _phi(arg), 0.0)
    return (kern * mass[idx]).sum(axis=1) * (s_t / s_dt)


# (fractions, alpha) -> (boundaries, grid state after the last look). A look extending a cached
# sequence resumes from its state, so replaying an experiment look by look costs one step per
# look, not a recomputation of every earlier look. Oldest entries are dropped beyond the cap.
_CACHE: dict[tuple[tuple[float, ...], float], tuple[tuple[float, ...], tuple]] = {}
_CACHE_MAX = 20_000


def _step(state: tuple, t: float, a_t: float) -> tuple[float, tuple]:
    """One look of the recursion: the boundary at fraction t and the state for the next look.

    state = (z grid, weights, density of Z at the previous look on its not-crossed region,
    previous fraction, α spent so far); z is None before the first look.
    """
    z, w, dens, t_prev, prev_spent = state
    target = a_t - prev_spent
    if z is None:
        c = float(ndtri(1 - target)) if target > 0 else math.inf
    elif target <= 1e-15:
        c = math.inf
    else:
        # P(Z_k ≥ c | Z_{k−1} = u) with B = Z√t and independent increments of variance Δt.
        s_prev, s_t, s_dt = math.sqrt(t_prev), math.sqrt(t), math.sqrt(t - t_prev)
        mass = w * dens

        def excess(c: float) -> float:
            return float(np.dot(mass, ndtr((z * s_prev - c * s_t) / s_dt))) - target

        c = brentq(excess, -10.0, 40.0, xtol=1e-10) if excess(40.0) < 0 else 40.0
    # Density of Z_k on its not-crossed region, for the next look.
    upper = min(c, _Z_HIGH)
    if z is None:
        z_new, w_new = _grid(upper, _STEP)
        dens_new = _phi(z_new)
    else:
        s_prev, s_t, s_dt = math.sqrt(t_prev), math.sqrt(t), math.sqrt(t - t_prev)
        # The kernel's width on the z scale is √(Δt/t); keep ≥ 4 nodes per kernel sd.
        z_new, w_new = _grid(upper, min(_STEP, s_dt / s_t / 4))
        dens_new = _propagate(z, w * dens, z_new, s_prev, s_t, s_dt)
    return c, (z_new, w_new, dens_new, t, a_t)


def _boundaries_cached(fractions: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    hit = _CACHE.get((fractions, alpha))
    if hit is not None:
        return hit[0]
    start = len(fractions) - 1
    prefix = _CACHE.get((fractions[:-1], alpha)) if start else None
    if prefix is not None:
        bounds, state = list(prefix[0]), prefix[1]
    else:
        start, bounds, state = 0, [], (None, None, None, 0.0, 0.0)
    spent = np.asarray(obf_spending(np.asarray(fractions), alpha))
    for k in range(start, len(fractions)):
        c, state = _step(state, fractions[k], float(spent[k]))
        bounds.append(c)
    if len(_CACHE) >= _CACHE_MAX:
        for key in list(_CACHE)[: _CACHE_MAX // 2]:
            del _CACHE[key]
    _CACHE[(fractions, alpha)] = (tuple(bounds), state)
    return tuple(bounds)


def obf_boundaries(fractions: Floats, alpha: float = ALPHA_SHIP) -> np.ndarray:
    """One-sided upper z boundaries at looks with information fractions `fractions` (≤ 1).

    Fractions must increase; a look with no new information (same fraction) spends nothing and
    gets an infinite boundary. Results are cached per (fractions, alpha).
    """
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be between 0 and 0.5, got {alpha!r}")
    fr = tuple(round(float(f), _FRACTION_DIGITS) for f in fractions)
    if not fr:
        return np.array([])
    if fr[0] <= 0 or any(b <= a for a, b in zip(fr, fr[1:], strict=False)) or fr[-1] > 1:
        raise ValueError(f"information fractions must increase within (0, 1], got {list(fr)}")
    return np.array(_boundaries_cached(fr, float(alpha)))


def cs_boundary(information: np.ndarray | float, alpha: float) -> np.ndarray | float:
    """z multiple of the two-sided asymptotic confidence sequence at level 1 − α.

    information: the effective units per arm relative to the tuning size n* (u = n/n*).
    """
    u = np.asarray(information, dtype=float)
    la = -2 * math.log(alpha)
    k = la + math.log(1 + la)
    uk = np.maximum(u * k, 1e-300)
    out = np.sqrt((uk + 1) / uk * (la + np.log(uk + 1)))
    return float(out) if out.ndim == 0 else out


def effective_n(n_control: float, n_variant: float) -> float:
    """Units per arm of a balanced design with the same information: 2/(1/n_c + 1/n_v)."""
    if n_control <= 0 or n_variant <= 0:
        return 0.0
    return 2.0 / (1.0 / n_control + 1.0 / n_variant)


@dataclass(frozen=True)
class SequentialLook:
    """The sequential test of one metric at one look: estimate, boundary and interval.

    - estimate, se: variant − control on the metric's scale (sign as measured) and its
      standard error; z = estimate / se, flipped so that positive means better.
    - boundary: the z the better-side test must reach at this look; boundary_worse the same
      for the worse side (its own α).
    - ci_low / ci_high: estimate ∓ boundary·se: the sequential (repeated) interval whose ends
      decide — better when it excludes 0 on the good side.
    - rule: which rule set the boundary (O'Brien–Fleming, confidence sequence, single look).
    """

    estimate: float
    se: float
    z: float
    look: int
    information: float | None  # fraction of the planned information (None: no plan)
    looks_expected: int | None
    rule: str
    alpha: float
    alpha_worse: float
    boundary: float
    boundary_worse: float
    ci_low: float
    ci_high: float
    better: bool
    worse: bool
    lower_is_better: bool = False

    def describe(self, what: str = "better") -> str:
        """'O'Brien–Fleming boundary at look 3 of ~5 (information 58 %): z = 3.1 ≥ 2.68'."""
        b = self.boundary if what == "better" else self.boundary_worse
        z = self.z if what == "better" else -self.z
        op = "≥" if (self.better if what == "better" else self.worse) else "<"
        bound = "∞" if not math.isfinite(b) else f"{b:.3g}"
        if self.rule == OBF:
            where = f"look {self.look}"
            if self.looks_expected:
                where += f" of ~{self.looks_expected}"
            where += f" (information {self.information:.0%})"
            head = f"O'Brien–Fleming boundary at {where}"
        elif self.rule == CS:
            beyond = (
                f"information {self.information:.0%} of the plan"
                if self.information is not None
                else "no planned sample size"
            )
            head = f"Confidence-sequence boundary at look {self.look} ({beyond})"
        else:
            head = "Single-look (fixed-horizon) test"
        return f"{head}: z = {z:.3g} {op} {bound}"

    def describe_note(self, what: str = "better") -> tuple[str, dict[str, tuple[str, Any]]]:
        """describe() as a key and values (experiments.stats.results.ReasonNote)."""
        b = self.boundary if what == "better" else self.boundary_worse
        z = self.z if what == "better" else -self.z
        op = "≥" if (self.better if what == "better" else self.worse) else "<"
        values: dict[str, tuple[str, Any]] = {
            "z": ("num", z),
            "op": ("text", op),
            "bound": ("text", "∞") if not math.isfinite(b) else ("num", b),
            "look": ("int", self.look),
        }
        if self.rule == OBF:
            values["info"] = ("pct0", self.information)
            if self.looks_expected:
                values["of"] = ("int", self.looks_expected)
                return "reason.look.obf_of", values
            return "reason.look.obf", values
        if self.rule == CS:
            if self.information is not None:
                values["info"] = ("pct0", self.information)
                return "reason.look.cs", values
            return "reason.look.cs_noplan", values
        return "reason.look.fixed", values

    def to_dict(self) -> dict:
        return asdict(self)


def sequential_look(
    estimate: float,
    se: float,
    n_history: Floats,
    *,
    planned_n: float | None = None,
    alpha: float = ALPHA_SHIP,
    alpha_worse: float = ALPHA_STOP,
    lower_is_better: bool = False,
    analysis: str = SEQUENTIAL,
    tolerance: float = 0.0,
) -> SequentialLook:
    """Test the current look, the last of `n_history` (effective units per arm at each look).

    planned_n: effective units per arm the plan expects (information fraction t = n/planned_n).
    Looks at or before t = 1 use O'Brien–Fleming boundaries computed over every look so far;
    later looks (or all, without a plan) the confidence sequence tuned to planned_n (or to
    DEFAULT_CS_TUNING_N). analysis="fixed": one look, z_{1−α} (pre-registered readouts).
    tolerance shifts the worse-side test: "worse" means worse than −tolerance (guardrails).
    """
    if analysis not in ANALYSES:
        raise ValueError(f"analysis must be one of {', '.join(ANALYSES)}, got {analysis!r}")
    if len(n_history) == 0:
        raise ValueError("n_history needs at least the current look's units")
    if planned_n is not None and not planned_n > 0:
        raise ValueError(f"planned_n must be positive, got {planned_n!r}")
    sign = -1.0 if lower_is_better else 1.0
    good = sign * estimate  # positive = better
    z = good / se if se > 0 else (math.inf if good > 0 else -math.inf if good < 0 else 0.0)
    n_now = float(n_history[-1])
    look = len(n_history)
    information = n_now / planned_n if planned_n else None
    looks_expected = None
    if analysis == FIXED:
        rule = SINGLE
        b, bw = float(ndtri(1 - alpha)), float(ndtri(1 - alpha_worse))
    elif planned_n and information is not None and information <= 1 + 1e-9:
        rule = OBF
        fr = _fractions(n_history, planned_n)
        b = float(obf_boundaries(fr, alpha)[-1])
        bw = float(obf_boundaries(fr, alpha_worse)[-1])
        looks_expected = max(look, round(look / information)) if information > 0 else None
    else:
        rule = CS
        u = n_now / (planned_n or DEFAULT_CS_TUNING_N)
        # One-sided at α from the two-sided sequence at 2α (each side ≈ half by symmetry).
        b = float(cs_boundary(u, min(2 * alpha, 0.5)))
        bw = float(cs_boundary(u, min(2 * alpha_worse, 0.5)))
    # Interval on the measured scale (variant − control), its ends set by each side's boundary.
    lo_good, hi_good = good - b * se, good + bw * se
    if sign > 0:
        ci_low, ci_high = lo_good, hi_good
    else:
        ci_low, ci_high = -hi_good, -lo_good
    better = se > 0 and z >= b
    worse = se > 0 and (good + tolerance) / se <= -bw
    return SequentialLook(
        estimate=float(estimate),
        se=float(se),
        z=float(z),
        look=look,
        information=information,
        looks_expected=looks_expected,
        rule=rule,
        alpha=alpha,
        alpha_worse=alpha_worse,
        boundary=b,
        boundary_worse=bw,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        better=bool(better),
        worse=bool(worse),
        lower_is_better=lower_is_better,
    )


def _fractions(n_history: Floats, planned_n: float) -> list[float]:
    """Increasing fractions of the looks so far; looks with no new units are dropped."""
    out: list[float] = []
    for n in n_history:
        f = round(min(float(n) / planned_n, 1.0), _FRACTION_DIGITS)
        if f > 0 and (not out or f > out[-1]):
            out.append(f)
    if not out:
        out = [round(max(float(n_history[-1]) / planned_n, 1e-6), _FRACTION_DIGITS)]
    return out


def wald(
    control_mean: float, control_sd: float, variant_mean: float, variant_sd: float
) -> tuple[float, float]:
    """(variant − control, its standard error) from two arms' posterior means and sds."""
    return variant_mean - control_mean, math.hypot(control_sd, variant_sd)


def inflation_factor(alpha: float = ALPHA_SHIP, power: float = 0.8, looks: int = 5) -> float:
    """Sample-size inflation of an O'Brien–Fleming design over the single-look design.

    The drift θ√I_max reaching `power` with `looks` equal looks, squared, over the single-look
    (z_{1−α} + z_{power})². Computed by the same recursion with a drift (Jennison & Turnbull
    2000, Table 2.3 lists 1.02-1.03 for OBF at 5 looks).
    """
    fr = tuple(np.arange(1, looks + 1) / looks)
    bounds = obf_boundaries(fr, alpha)
    fixed = float(ndtri(1 - alpha) + ndtri(power))

    def power_at(drift: float) -> float:
        return crossing_probability(fr, bounds, drift) - power

    drift = brentq(power_at, 0.5 * fixed, 2 * fixed, xtol=1e-8)
    return (drift / fixed) ** 2


def crossing_probability(
    fractions: Floats, bounds: Floats, drift: float = 0.0, draws: int = 0
) -> float:
    """P(Z crosses an upper boundary at some look) when E[Z_k] = drift·√t_k.

    By the same grid recursion as the boundaries (draws > 0: a seeded Monte Carlo instead).
    """
    fr = np.asarray(fractions, float)
    if draws:
        rng = np.random.default_rng(0)
        inc = rng.standard_normal((draws, len(fr))) * np.sqrt(np.diff(fr, prepend=0.0))
        b = np.cumsum(inc, axis=1) + drift * fr
        return float(np.mean((b / np.sqrt(fr) >= np.asarray(bounds)).any(axis=1)))
    total = 0.0
    # The grid, its weights and the density on it; None until the first look.
    z: np.ndarray | None = None
    w = dens = np.zeros(0)
    t_prev = 0.0
    for t, c in zip(fr, bounds, strict=True):
        mean_shift = drift * math.sqrt(t)
        if z is None:
            total += float(1 - ndtr(c - mean_shift))
            z, w = _grid(min(c, _Z_HIGH), _STEP)
            dens = _phi(z - mean_shift)
        else:
            s_prev, dt = math.sqrt(t_prev), t - t_prev
            s_t, s_dt = math.sqrt(t), math.sqrt(dt)
            total += float(np.dot(w * dens, ndtr((z * s_prev + drift * dt - c * s_t) / s_dt)))
            z_new, w_new = _grid(min(c, _Z_HIGH), min(_STEP, s_dt / s_t / 4))
            dens = _propagate(z, w * dens, z_new, s_prev, s_t, s_dt, shift=drift * dt)
            z, w = z_new, w_new
        t_prev = t
    return total


def ship_alpha(treatments: int = 1, alpha: float = ALPHA_SHIP) -> float:
    """One-sided level per arm: Bonferroni over the treatment arms compared with control."""
    if treatments < 1:
        raise ValueError(f"need at least one treatment arm, got {treatments}")
    return alpha / treatments


def stop_alpha(guardrails: int = 0, alpha: float = ALPHA_STOP) -> float:
    """Level of each "stop" test: Bonferroni over the primary's worse side and each guardrail."""
    return alpha / (1 + max(guardrails, 0))


def estimate_and_se(
    control: Any, variant: Any, prior: tuple[float, ...] | None = None
) -> tuple[float, float]:
    """variant − control and its standard error from the two arms' posteriors (Wald)."""
    from experiments.stats.posteriors import arm_posterior

    x, y = arm_posterior(control, prior), arm_posterior(variant, prior)
    return wald(float(x.mean), float(x.sd), float(y.mean), float(y.sd))
