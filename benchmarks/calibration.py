"""Calibration: does the decision rule keep its error rates when people look every day?

Seeded simulations, vectorised over simulations with numpy (the boundaries come from the
engine's own `sequential_look`, look by look; a subset is replayed through the full engine
path, `experiments.stats.replay`, to check that the vectorised z's decide identically):

1. A/A, daily looks over 30 days, binary (10 %, 500-5,000 units/day/arm) and lognormal
   (σ = 1, 500 units/day/arm): false-ship rate of the sequential rule (must be ≤ 5 %), against
   the naive daily P(better) ≥ 95 % rule and one look at the end; also with the plan ending at
   day 20 (looks 21-30 on the confidence sequence) and with no plan at all.
2. A true +5 % relative lift at the planned n (binary, 10 %): power of the sequential rule with
   daily looks against the single-look power, same simulated data.
3. Four null guardrails at 1,000 units/day/arm: chance of a false "stop" (old rule vs new).
4. Four arms (three null variants): chance of shipping any of them (old vs Bonferroni).
5. Log-scale mean: coverage of the 95 % interval (modified Cox vs plug-in s²).
6. CUPED with 0 / 30 / 60 % new units: variance reduction with the missing-pre-period
   indicator vs missing coded as 0, and A/A coverage of the adjusted interval.

    .venv/bin/python benchmarks/calibration.py [--simulations 2000] [--quick]

Figures are printed with their Monte Carlo standard error. Runs outside `make test`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.stats.calibration import (  # noqa: E402
    RateEstimate,
    binary_daily_z,
    cuped_new_units,
    first_crossing,
    log_scale_coverage,
    lognormal_daily_z,
    look_boundaries,
    peeking_rates,
)
from experiments.stats.sequential import (  # noqa: E402
    ALPHA_SHIP,
    ALPHA_STOP,
    ship_alpha,
    stop_alpha,
)

DAYS = 30
Z95 = 1.6448536269514722  # the old rule: P(better) ≥ 95 % ≈ z ≥ 1.645


def _row(name: str, rates: dict[str, RateEstimate]) -> None:
    cells = "  ".join(f"{k}: {v}" for k, v in rates.items())
    print(f"  {name:44s} {cells}")


def aa_binary(rng: np.random.Generator, sims: int) -> None:
    print("\n1. A/A, 30 daily looks: false-ship rate (sequential must be ≤ 5 %)")
    per_day = rng.integers(500, 5001, sims)
    z = binary_daily_z(rng, sims, DAYS, per_day, 0.10, 0.10)[0]
    for label, planned_days in (("plan = 30 days", 30.0), ("plan = 20 days (CS after)", 20.0)):
        b = look_boundaries(1.0, DAYS, planned_days, ALPHA_SHIP)
        _row(f"binary 10 %, 500-5,000/day, {label}", peeking_rates(z, b, Z95))
    fixed = 1000
    z_fixed = binary_daily_z(rng, sims, DAYS, np.full(sims, fixed), 0.10, 0.10)[0]
    b = look_boundaries(fixed, DAYS, None, ALPHA_SHIP)
    _row("binary 10 %, 1,000/day, no plan (CS)", peeking_rates(z_fixed, b, Z95))
    ships = first_crossing(z, look_boundaries(1.0, DAYS, 30.0, ALPHA_SHIP))
    naive = first_crossing(z, np.full(DAYS, Z95))
    print(
        f"  naive rule: {np.mean((naive >= 0) & (naive < 5)):.1%} of A/A tests ship by day 5; "
        f"sequential: {np.mean((ships >= 0) & (ships < 5)):.2%}"
    )


def aa_lognormal(rng: np.random.Generator, sims: int) -> None:
    z = lognormal_daily_z(rng, sims, DAYS, 500, 1.0)
    b = look_boundaries(500, DAYS, 500 * DAYS, ALPHA_SHIP)
    _row("lognormal σ = 1, 500/day, plan = 30 days", peeking_rates(z, b, Z95))


def power(rng: np.random.Generator, sims: int) -> None:
    from experiments.stats.planning import sample_size_binary, sequential_sample_size

    print("\n2. True +5 % relative lift (10 % → 10.5 %), daily looks, at the planned n")
    n_fixed = sample_size_binary(0.10, 0.05, alpha=ALPHA_SHIP, two_sided=False)
    n_seq = sequential_sample_size(n_fixed, looks=DAYS, alpha=ALPHA_SHIP)
    for label, n_plan in (("single-look n", n_fixed), ("sequential plan n", n_seq)):
        per_day = np.full(sims, int(np.ceil(n_plan / DAYS)))
        z = binary_daily_z(rng, sims, DAYS, per_day, 0.10, 0.105)[0]
        b = look_boundaries(1.0, DAYS, float(DAYS), ALPHA_SHIP)
        ships = first_crossing(z, b)
        rates = peeking_rates(z, b, Z95)
        rates.pop("naive daily P>95%")
        _row(f"{label} {n_plan:,}/arm", rates)
        stopped = ships[ships >= 0]
        if stopped.size:
            print(f"    {'':42s} median day of a sequential ship: {np.median(stopped) + 1:.0f}")


def guardrails(rng: np.random.Generator, sims: int) -> None:
    print("\n3. Four null guardrails (5 % rates, tolerance 0.5 pp), 1,000/day/arm, A/A")
    k, per_day, tol = 4, 1000, 0.005
    # Independent metrics (the worst case for a union of tests), each on its own two arms.
    z = np.stack(
        [binary_daily_z(rng, sims, DAYS, np.full(sims, per_day), 0.05, 0.05)[0] for _ in range(k)]
    )
    # Harm = the variant higher (lower is better): z of "variant higher" is the worse-side z.
    n = per_day * np.arange(1, DAYS + 1)
    se = np.sqrt(2 * 0.05 * 0.95 / n)
    prob_worse = 1 - _ndtr((tol - z * se) / se)  # P(variant − control > tol), normal approx
    old = ((prob_worse >= 0.5).any(axis=-1)).any(axis=0)
    b = look_boundaries(per_day, DAYS, per_day * DAYS, stop_alpha(k))
    crossed = z >= b
    new_upper = crossed.any(axis=-1).any(axis=0)
    new = (crossed & (prob_worse >= 0.5)).any(axis=-1).any(axis=0)
    # The primary's own "credibly worse" stop shares the same α (1 + k Bonferroni parts).
    primary = binary_daily_z(rng, sims, DAYS, np.full(sims, per_day), 0.10, 0.10)[0]
    primary_worse = (-primary >= b).any(axis=-1)
    _row(
        "false stop",
        {
            "old (P(harm) ≥ 50 %, daily)": _est(old),
            "new, guardrails": _est(new),
            "new, guardrail crossings alone": _est(new_upper),
            "new, any stop (with primary worse)": _est(new | primary_worse),
        },
    )


def arms(rng: np.random.Generator, sims: int) -> None:
    print("\n4. Four arms (three null variants), 1,000/day/arm, daily looks: ship any")
    per_day = 1000
    z = binary_daily_z(rng, sims, DAYS, np.full(sims, per_day), 0.10, 0.10, arms=4)
    b = look_boundaries(per_day, DAYS, per_day * DAYS, ship_alpha(3))
    b_unadj = look_boundaries(per_day, DAYS, per_day * DAYS, ALPHA_SHIP)
    _row(
        "ship some null arm",
        {
            "old (daily P>95 %)": _est((z >= Z95).any(axis=-1).any(axis=0)),
            "sequential, no Bonferroni": _est((first_crossing(z, b_unadj) >= 0).any(axis=0)),
            "sequential, α/3": _est((first_crossing(z, b) >= 0).any(axis=0)),
        },
    )


def coverage(sims: int) -> None:
    print("\n5. Log-scale mean: coverage of the 95 % interval of an arm's mean (target 94-96 %)")
    for sigma in (1.0, 2.0):
        for n in (50, 200, 2000):
            cox, plug = log_scale_coverage(sigma, n, simulations=max(sims * 10, 20_000))
            print(f"  σ = {sigma:g}, n = {n:5d}: modified Cox {cox}   plug-in s² {plug}")


def cuped(sims: int) -> None:
    print("\n6. CUPED with new units (no pre-period): variance reduction, A/A coverage")
    for share in (0.0, 0.3, 0.6):
        r = cuped_new_units(share, simulations=max(sims // 10, 50))
        print(
            f"  {share:4.0%} new: with indicator {r['reduction_indicator']:6.1%}, "
            f"missing as 0 {r['reduction_zero_coded']:6.1%}, "
            f"A/A 95 % coverage {r['aa_coverage']:.1%}"
        )


def engine_agreement(rng: np.random.Generator, sims: int) -> None:
    """Replay a subset through the engine (experiments.stats.replay): same decisions."""
    from experiments.stats.inputs import BinaryStats
    from experiments.stats.replay import LookInput, replay

    per_day = 1000
    looks, vec = [], []
    for i in range(sims):
        xc = np.cumsum(rng.binomial(per_day, 0.1, DAYS))
        xv = np.cumsum(rng.binomial(per_day, 0.1, DAYS))
        for d in range(DAYS):
            n = per_day * (d + 1)
            looks.append(
                LookInput(
                    f"s{i}", BinaryStats(n, int(xc[d])), BinaryStats(n, int(xv[d])), per_day * DAYS
                )
            )
        vec.append((xc, xv))
    t = time.perf_counter()
    rows = list(replay("binary", looks))
    secs = time.perf_counter() - t
    engine = np.array([r["decision"] == "ship" for r in rows]).reshape(sims, DAYS).any(axis=1)
    n = per_day * np.arange(1, DAYS + 1)
    b = look_boundaries(per_day, DAYS, per_day * DAYS, ALPHA_SHIP)
    zs = []
    for xc, xv in vec:
        ac, bc, av, bv = 1 + xc, 1 + n - xc, 1 + xv, 1 + n - xv
        sc = np.sqrt(ac * bc / ((ac + bc) ** 2 * (ac + bc + 1)))
        sv = np.sqrt(av * bv / ((av + bv) ** 2 * (av + bv + 1)))
        zs.append((av / (av + bv) - ac / (ac + bc)) / np.hypot(sc, sv))
    vectorised = first_crossing(np.array(zs), b) >= 0
    print(
        f"\n7. Engine replay of {sims} A/A experiments × {DAYS} looks ({len(rows):,} looks in "
        f"{secs:.1f} s): ships {engine.mean():.2%}, vectorised {vectorised.mean():.2%}, "
        f"agreement {np.mean(engine == vectorised):.2%} (the engine also needs the loss limit "
        "and MIN_UNITS_PER_ARM)"
    )


def _est(hits: np.ndarray) -> RateEstimate:
    p = float(np.mean(hits))
    return RateEstimate(p, float(np.sqrt(p * (1 - p) / hits.size)), int(hits.size))


def _ndtr(x):
    from scipy.special import ndtr

    return ndtr(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulations", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()
    sims = args.simulations
    rng = np.random.default_rng(args.seed)
    print(
        f"{sims:,} simulations per scenario, seed {args.seed}; α ship {ALPHA_SHIP:g} one-sided, "
        f"α stop {ALPHA_STOP:g} shared"
    )
    t0 = time.perf_counter()
    aa_binary(rng, sims)
    aa_lognormal(rng, sims)
    power(rng, sims)
    guardrails(rng, sims)
    arms(rng, sims)
    coverage(sims)
    cuped(sims)
    engine_agreement(rng, min(sims, 300))
    print(f"\n{time.perf_counter() - t0:.0f} s in total")


if __name__ == "__main__":
    main()
