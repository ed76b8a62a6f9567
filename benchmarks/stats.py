"""Benchmark: time per A/B analysis (binary, mean, NPS, ratio) vs a PyMC fit of the binary model.

The closed forms and quadrature replace MCMC. This prints the median wall time of each full
analysis (P(better), expected loss, absolute and relative lift intervals) and, in the same run,
the time of a PyMC fit of the same Beta-Binomial model (model build + NUTS, small draws) and how
far its P(better) is from the exact value. Aim: binary < 5 ms.

    .venv/bin/python benchmarks/stats.py [--repeat 200] [--skip-pymc]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.stats import (  # noqa: E402
    BinaryStats,
    CategoryCounts,
    MeanStats,
    RatioStats,
    analyze_binary,
    analyze_mean,
    analyze_nps,
    analyze_ratio,
)

CONTROL, VARIANT = BinaryStats(5000, 500), BinaryStats(5000, 560)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches (scipy's first calls)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def pymc_fit(draws: int, tune: int, chains: int) -> tuple[float, float, float]:
    """Seconds for import, for build + sample, and P(variant better) from the draws."""
    t0 = time.perf_counter()
    import pymc as pm  # noqa: PLC0415 - 3-4 s import, kept out of everything the app imports

    t1 = time.perf_counter()
    with pm.Model():
        p = pm.Beta("p", alpha=1.0, beta=1.0, shape=2)
        pm.Binomial("x", n=[CONTROL.n, VARIANT.n], p=p, observed=[CONTROL.x, VARIANT.x])
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=1,
            random_seed=1,
            progressbar=False,
            compute_convergence_checks=False,
        )
    t2 = time.perf_counter()
    post = idata.posterior["p"].values.reshape(-1, 2)
    return t1 - t0, t2 - t1, float((post[:, 1] > post[:, 0]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--skip-pymc", action="store_true")
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()

    mean_c = MeanStats(4000, 4000 * 300.0, 4000 * (300.0**2 + 120.0**2))
    mean_v = MeanStats(4000, 4000 * 292.0, 4000 * (292.0**2 + 118.0**2))
    cases = {
        "binary 500/5000 vs 560/5000": lambda: analyze_binary(CONTROL, VARIANT),
        "binary 3/10 vs 5/10": lambda: analyze_binary(BinaryStats(10, 3), BinaryStats(10, 5)),
        "binary 10k/100k vs 10.3k/100k": lambda: analyze_binary(
            BinaryStats(100_000, 10_000), BinaryStats(100_000, 10_300)
        ),
        "binary, P(better)+loss only": lambda: analyze_binary(CONTROL, VARIANT, intervals=False),
        "mean (Student-t) n=4000": lambda: analyze_mean(mean_c, mean_v, lower_is_better=True),
        "mean (log scale) n=4000": lambda: analyze_mean(
            MeanStats.from_log_sums(4000, 4000 * 5.5, 4000 * (5.5**2 + 0.64)),
            MeanStats.from_log_sums(4000, 4000 * 5.48, 4000 * (5.48**2 + 0.64)),
        ),
        "NPS 1000 answers/arm": lambda: analyze_nps(
            CategoryCounts(420, 300, 280), CategoryCounts(450, 290, 260)
        ),
        "ratio n=4000": lambda: analyze_ratio(
            RatioStats(4000, 6000, 4000, 15000, 4000, 6000),
            RatioStats(4000, 5600, 4000, 13500, 4000, 5600),
        ),
    }
    print(f"{'analysis':34s} {'median ms':>10s}")
    for name, fn in cases.items():
        print(f"{name:34s} {median_ms(fn, args.repeat):10.3f}")

    exact = analyze_binary(CONTROL, VARIANT).prob_variant_better
    print(
        f"\nexact P(variant better), {CONTROL.x}/{CONTROL.n} vs {VARIANT.x}/{VARIANT.n}: "
        f"{exact:.6f}"
    )
    if args.skip_pymc:
        return
    t_import, t_fit, p_mc = pymc_fit(args.draws, args.draws // 2, 2)
    per = median_ms(lambda: analyze_binary(CONTROL, VARIANT), args.repeat) / 1e3
    print(
        f"PyMC import {t_import:.1f} s; build + NUTS (2 chains x {args.draws} draws, "
        f"{args.draws // 2} tune): {t_fit:.1f} s"
    )
    print(
        f"PyMC P(variant better) {p_mc:.4f} (|error| {abs(p_mc - exact):.4f} vs exact; "
        f"MC SE ~ {(exact * (1 - exact) / (2 * args.draws)) ** 0.5:.4f} before autocorrelation)"
    )
    print(f"closed form / quadrature is {t_fit / per:,.0f}x faster than the PyMC fit")


if __name__ == "__main__":
    main()
