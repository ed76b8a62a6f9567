"""`cx drivers`: which contact attributes drive CSAT, NPS or 90-day churn, and what to fix first."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "drivers",
        help="key drivers of CSAT, NPS or churn (relative importance with intervals)",
        description="Shapley decomposition of R² over contact attributes (wait, handle time, "
        "resolution, repeat contact, escalation, channel, issue type, chatbot hand-off), 95 %% "
        "bootstrap intervals, and a fix-first ranking = importance × distance to target.",
    )
    add_db_option(p)
    add_json_option(p)
    p.add_argument("--kpi", choices=("csat", "nps", "churn"), default="csat")
    p.add_argument(
        "--sample",
        type=int,
        default=100_000,
        help="at most this many contacts, a seeded sample (default 100,000)",
    )
    p.add_argument("--boots", type=int, default=200, help="bootstrap replicates (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_drivers)


def run_drivers(args: argparse.Namespace) -> int:
    from metrics.retention.drivers import key_drivers

    if not 30 <= args.sample <= 2_000_000:
        raise CliError(f"--sample: expected 30 to 2,000,000 contacts, got {args.sample}")
    if not 0 <= args.boots <= 5000:
        raise CliError(f"--boots: expected 0 to 5000, got {args.boots}")
    try:
        with open_cli_store(args, write=False) as store:
            res = key_drivers(store, args.kpi, limit=args.sample, boots=args.boots, seed=args.seed)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(asdict(res))
        return 0
    print(
        f"Key drivers of {res.kpi_label}: R² = {res.r2:.3f} "
        f"[{res.r2_ci[0]:.3f}, {res.r2_ci[1]:.3f}] on n = {res.n:,} contacts"
    )
    print(f"  {res.method}")
    print(f"  {'driver':<44} {'importance (R²)':>24} {'share':>6} {'effect':>7} {'fix first':>9}")
    for d in res.drivers:
        share = "—" if d["share_of_r2"] is None else f"{d['share_of_r2']:.0%}"
        rank = "—" if d["fix_rank"] is None else f"#{d['fix_rank']}"
        imp = f"{d['importance']:.4f} [{d['ci_low']:.4f}, {d['ci_high']:.4f}]"
        print(f"  {d['label']:<44} {imp:>24} {share:>6} {d['direction'] or '':>7} {rank:>9}")
    ranked = sorted((d for d in res.drivers if d["fix_rank"]), key=lambda d: d["fix_rank"])
    if ranked:
        print("Fix first (share of R² × shortfall from the KPI's target):")
        for d in ranked:
            print(
                f"  #{d['fix_rank']} {d['label']}: {d['kpi_label']} {d['current']:.3g} vs "
                f"target {d['target']:.3g} (shortfall {d['gap']:.0%}), score {d['fix_first']:.3f}"
            )
    for note in res.notes:
        print(f"note: {note}")
    return 0
