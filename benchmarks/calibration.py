"""Calibration: seeded A/A (and A/B) simulations of the engine's 95 % rules and intervals.

Prints, per scenario, how often the one-sided ship rule P(better) > 0.95 and the two-sided
rule P(better) > 0.975 or < 0.025 fire (both should be about 5 % under A/A; the range the
tests accept is 3.5-6.5 %), and how often the 95 % interval of the absolute lift covers the
true lift (93.5-96.5 %).

    .venv/bin/python benchmarks/calibration.py [--simulations 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.stats.calibration import (  # noqa: E402
    binary_calibration,
    mean_calibration,
    nps_calibration,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulations", type=int, default=2000)
    sims = ap.parse_args().simulations
    scenarios = {
        "binary A/A  p=10 %, n=2000/arm": lambda: binary_calibration(simulations=sims),
        "binary A/B  10 % -> 12 %, n=2000": lambda: binary_calibration(
            0.10, 0.12, simulations=sims
        ),
        "binary A/A  p=3 %, n=200/arm": lambda: binary_calibration(
            0.03, 0.03, n=200, simulations=sims, seed=7
        ),
        "mean A/A    normal, n=50/arm": lambda: mean_calibration(simulations=sims),
        "NPS A/A     40/30/30 %, n=500": lambda: nps_calibration(simulations=sims),
    }
    print(f"{'scenario':34s} {'P>0.95':>8s} {'2-sided':>8s} {'coverage':>9s} {'seconds':>8s}")
    for name, run in scenarios.items():
        t = time.perf_counter()
        r = run()
        print(
            f"{name:34s} {r.one_sided_rate:8.2%} {r.two_sided_rate:8.2%} {r.coverage:9.2%} "
            f"{time.perf_counter() - t:8.1f}"
        )
    print("\n(A/B rows: the rule rates are power, not error rates; coverage is of the true lift.)")


if __name__ == "__main__":
    main()
