"""Benchmark: an experiment readout over 1M units, and the hierarchical segment model's fit time.

Builds (once, cached under benchmarks/.cache/) a synthetic store with 1,000,000 assigned
customers, about 3M contacts before and after assignment and about 0.6M survey answers,
written directly by DuckDB (deterministic hash-based draws, no Python rows). Then times
`analyze()`: primary metric (contacts per customer) + four guardrails (FCR, CSAT, AHT,
NPS) + SRM + CUPED + the cumulative series; the aim is < 1 s with no PyMC on the path.
Finally it times the per-segment estimates and the PyMC fit of the hierarchical model.

Usage: .venv/bin/python benchmarks/readout.py [--units N] [--no-fit]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.readout import analyze, segment_comparisons  # noqa: E402
from experiments.registry import create_experiment, start_experiment  # noqa: E402
from metrics.store import open_store  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
EXPERIMENT = "bench_readout"
# The least any readout must do: join assignments to contacts and sum per unit, then per arm.
FLOOR_SQL = (
    "SELECT variant, count(*), sum(k), sum(k * k) FROM (SELECT a.unit_id, a.variant, "
    "count(*) AS k FROM assignments a JOIN contacts c ON c.customer_id = a.unit_id "
    "GROUP BY a.unit_id, a.variant) t GROUP BY variant"
)


def _u(i: str, salt: str) -> str:
    """A deterministic uniform draw in [0, 1) from a hash of (i, salt)."""
    return f"(hash({i}, '{salt}') % 1000003) / 1000003.0"


def build(path: Path, units: int) -> None:
    contacts, surveys = 3 * units, units * 6 // 10
    with open_store(path) as store, store.write() as cur:
        cur.execute(f"""
            INSERT INTO customers (customer_id, signup_date, segment, age_band)
            SELECT 'u' || i, DATE '2022-01-01',
                   CASE WHEN {_u("i", "seg")} < 0.82 THEN 'consumer'
                        WHEN {_u("i", "seg")} < 0.96 THEN 'business' ELSE 'enterprise' END,
                   ['18-34', '35-49', '50-64', '65-74', '75+'][1 + CAST(hash(i, 'age') % 5 AS BIGINT)]
            FROM range({units}) t(i)""")
        cur.execute(f"""
            INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at)
            SELECT '{EXPERIMENT}', 'u' || i,
                   CASE WHEN {_u("i", "arm")} < 0.5 THEN 'control' ELSE 'treatment' END,
                   TIMESTAMP '2026-03-01' + to_seconds(CAST(floor({_u("i", "day")} * 30 * 86400) AS BIGINT))
            FROM range({units}) t(i)""")
        # Contacts from 60 days before to 45 days after each unit's assignment; the unit's
        # contact propensity is shared by its pre and post contacts (so CUPED has signal),
        # and treatment lifts FCR by 3 points.
        cur.execute(f"""
            INSERT INTO contacts (contact_id, customer_id, channel, issue_type, opened_at,
                                  handle_s, abandoned, bot_handled, first_contact_resolved)
            SELECT 'c' || j, a.unit_id,
                   ['phone', 'email', 'chat', 'chatbot', 'web'][1 + CAST(hash(j, 'ch') % 5 AS BIGINT)],
                   ['billing', 'technical', 'order', 'account'][1 + CAST(hash(j, 'it') % 4 AS BIGINT)],
                   a.assigned_at + to_seconds(CAST(({_u("j", "off")} * 105 - 60) * 86400 AS BIGINT)),
                   60 + 600 * {_u("j", "h")}, {_u("j", "ab")} < 0.05, FALSE,
                   {_u("j", "f")} < 0.68 + CASE WHEN a.variant = 'treatment' THEN 0.03 ELSE 0 END
            FROM (SELECT j, CAST(floor({units} * pow({_u("j", "who")}, 1.5)) AS BIGINT) AS i
                  FROM range({contacts}) t(j)) c
            JOIN assignments a ON a.experiment_id = '{EXPERIMENT}' AND a.unit_id = 'u' || c.i""")
        cur.execute(f"""
            INSERT INTO surveys (response_id, customer_id, answered_at, nps, csat)
            SELECT 's' || k, a.unit_id,
                   a.assigned_at + to_seconds(CAST({_u("k", "soff")} * 45 * 86400 AS BIGINT)),
                   CAST(floor({_u("k", "nps")} * 11) AS SMALLINT),
                   CAST(1 + floor({_u("k", "csat")} * 5) AS SMALLINT)
            FROM range({surveys}) t(k)
            JOIN assignments a ON a.experiment_id = '{EXPERIMENT}'
                 AND a.unit_id = 'u' || CAST(hash(k, 'sw') % {units} AS BIGINT)""")
    with open_store(path) as store:
        create_experiment(
            store,
            {
                "experiment_id": EXPERIMENT,
                "name": "Benchmark readout",
                "primary_metric": "contacts_per_customer",
                "guardrails": [
                    {"metric": "fcr", "tolerance": 0.01},
                    {"metric": "csat", "tolerance": 0.01},
                    {"metric": "aht", "tolerance": 10},
                    {"metric": "nps", "tolerance": 2},
                ],
                "variants": ["control", "treatment"],
                "start_date": "2026-03-01",
                "end_date": "2026-04-30",
            },
        )
        start_experiment(store, EXPERIMENT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--no-fit", action="store_true", help="skip the PyMC fit")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"readout_{args.units}.duckdb"
    if not path.exists():
        t = time.perf_counter()
        build(path, args.units)
        print(f"built {path.name} in {time.perf_counter() - t:.1f} s")
    with open_store(path, read_only=True) as store:
        counts = (
            store.cursor()
            .execute(
                "SELECT (SELECT count(*) FROM assignments), (SELECT count(*) FROM contacts), "
                "(SELECT count(*) FROM surveys)"
            )
            .fetchall()[0]
        )
        print(f"store: {counts[0]:,} units, {counts[1]:,} contacts, {counts[2]:,} surveys")
        cur = store.cursor()
        load_before = os.getloadavg()[0]
        t = time.perf_counter()
        r = analyze(store, EXPERIMENT)
        first = time.perf_counter() - t
        # Reference and readout alternate, so a load that comes and goes (a shared machine)
        # weighs on both alike; the ratio of their medians is the figure to compare.
        floor, times = [], []
        for _ in range(5):
            t = time.perf_counter()
            cur.execute(FLOOR_SQL).fetchall()
            floor.append(time.perf_counter() - t)
            t = time.perf_counter()
            r = analyze(store, EXPERIMENT)
            times.append(time.perf_counter() - t)
        assert "pymc" not in sys.modules, "PyMC was imported on the readout path"
        ref, warm = statistics.median(floor), statistics.median(times)
        print(
            f"reference: one hand-written DuckDB query (one join, contacts per unit, per-arm "
            f"sums; no other metric): median {ref:.3f} s"
        )
        print(
            f"readout (primary + 4 guardrails + SRM + CUPED + {len(r.cumulative)}-day series): "
            f"first {first:.3f} s, warm median {warm:.3f} s (aim < 1 s), "
            f"{warm / ref:.2f}x the reference; pymc imported: {'pymc' in sys.modules}"
        )
        print(
            f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
            f"on {os.cpu_count()} cores"
        )
        t = time.perf_counter()
        r2 = analyze(store, EXPERIMENT, cumulative=False)
        print(f"readout without the daily series: {time.perf_counter() - t:.3f} s")
        print(
            f"  decision {r.decision.action}; primary lift {r.primary.result.absolute_lift.mean:.4f}"
            f"; CUPED variance reduction {r.primary.cuped_variance_reduction:.1%}; "
            f"SRM p {r.srm.p_value:.3g}; FCR lift "
            f"{r2.guardrails[0].result.absolute_lift.mean:.4f} (planted +0.03)"
        )
        if args.no_fit:
            return 0
        t = time.perf_counter()
        segs = segment_comparisons(store, EXPERIMENT, metric="fcr")
        seg_time = time.perf_counter() - t
        print(
            f"per-segment estimates (FCR, {len(segs)} segments in 3 dimensions): {seg_time:.3f} s"
        )
        from experiments.segments import fit_hierarchical, model_inputs

        t = time.perf_counter()
        fit = fit_hierarchical(model_inputs(segs), draws=1000, tune=1000, chains=2)
        print(
            f"hierarchical model fit (PyMC import + compile + 2x2000 NUTS draws): "
            f"{time.perf_counter() - t:.1f} s; divergences {fit['_sampler']['divergences']}"
        )
        t = time.perf_counter()
        fit_hierarchical(model_inputs(segs), draws=1000, tune=1000, chains=2)
        print(f"hierarchical model refit (warm, compiled): {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
