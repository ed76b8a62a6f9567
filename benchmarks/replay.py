"""Batch replay (`cx ab binary|mean --batch`): seconds for 60,000 looks, against a same-process baseline.

Seeded A/A histories: 2,000 experiments × 30 daily looks, 500-5,000 units/day/arm, planned at
20 days (looks 21-30 run on the confidence sequence). Timed in this process:

- replay: parse every JSON line and decide each look (what the CLI does, minus printing);
- baseline: only the engine's Bayesian comparison of each look (analyze_* without intervals),
  the part every decision needs; the ratio replay / baseline is the cost of the sequential
  boundaries, guardrail-free decisions and parsing on top of it.

    .venv/bin/python benchmarks/replay.py [--ids 2000] [--looks 30] [--family binary|mean]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.stats import analyze_binary, analyze_mean  # noqa: E402
from experiments.stats.replay import parse_record, replay  # noqa: E402


def lines(family: str, ids: int, looks: int, seed: int = 20261130) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(ids):
        per_day = int(rng.integers(500, 5001))
        if family == "binary":
            arms = [np.cumsum(rng.binomial(per_day, 0.1, looks)) for _ in range(2)]
        else:
            arms = []
            for _ in range(2):
                y = rng.lognormal(3.0, 1.0, (looks, per_day))
                arms.append((np.cumsum(y.sum(axis=1)), np.cumsum((y * y).sum(axis=1))))
        for k in range(looks):
            n = per_day * (k + 1)
            if family == "binary":
                c, v = [n, int(arms[0][k])], [n, int(arms[1][k])]
            else:
                c = [n, float(arms[0][0][k]), float(arms[0][1][k])]
                v = [n, float(arms[1][0][k]), float(arms[1][1][k])]
            rec = {"id": f"e{i}", "control": c, "variant": v, "planned_n": per_day * 20}
            out.append(json.dumps(rec))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", type=int, default=2000)
    ap.add_argument("--looks", type=int, default=30)
    ap.add_argument("--family", choices=("binary", "mean"), default="binary")
    args = ap.parse_args()
    text = lines(args.family, args.ids, args.looks)
    print(f"{len(text):,} looks ({args.family}); load average {os.getloadavg()[0]:.1f}")

    t0, c0 = time.perf_counter(), time.process_time()
    looks = [parse_record(line, args.family, i) for i, line in enumerate(text, start=1)]
    rows = list(replay(args.family, looks))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    analyze = analyze_binary if args.family == "binary" else analyze_mean
    t1, c1 = time.perf_counter(), time.process_time()
    for look in looks:
        analyze(look.control, look.variant, intervals=False)
    b_wall, b_cpu = time.perf_counter() - t1, time.process_time() - c1

    ships = sum(r["decision"] == "ship" for r in rows)
    ever = len({r["id"] for r in rows if r["decision"] == "ship"})
    print(f"replay:   {wall:6.1f} s wall, {cpu:6.1f} s CPU ({len(rows) / wall:,.0f} looks/s)")
    print(f"baseline: {b_wall:6.1f} s wall, {b_cpu:6.1f} s CPU (Bayesian comparison only)")
    print(f"ratio replay / baseline (CPU): {cpu / b_cpu:.2f}")
    print(f"A/A: {ships} ship looks; {ever / args.ids:.1%} of experiments ship at some look")


if __name__ == "__main__":
    main()
