"""`cx churn survival`: Kaplan-Meier retention per group with 95 % bands and the log-rank test."""

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

BY_CHOICES = ("all", "segment", "tier", "region", "channel", "satisfaction", "cohort")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "churn",
        help="churn analyses: survival (retention) curves",
        description="Churn analyses on the store's customers.",
    )
    sub = p.add_subparsers(dest="churn_command", metavar="SUBCOMMAND")
    surv = sub.add_parser(
        "survival",
        help="Kaplan-Meier retention by group, with 95 % bands, median lifetime and log-rank",
        description="Kaplan-Meier retention per group (signup to churned_at, censored at the "
        "data's end, left-truncated where the data begins after signup). channel = channel of "
        "the last contact; satisfaction = band of the last CSAT answer.",
    )
    add_db_option(surv)
    add_json_option(surv)
    surv.add_argument("--by", choices=BY_CHOICES, default="segment", help="group customers by")
    surv.add_argument(
        "--max-months", type=int, default=60, help="last month of the curves (default 60)"
    )
    surv.set_defaults(func=run_survival)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_survival(args: argparse.Namespace) -> int:
    from metrics.churn import MIN_SAMPLE
    from metrics.retention.survival import survival_by

    if not 1 <= args.max_months <= 600:
        raise CliError(f"--max-months: expected 1 to 600, got {args.max_months}")
    with open_cli_store(args, write=False) as store:
        res = survival_by(store, args.by, max_months=args.max_months)
    if args.json:
        print_json(asdict(res))
        return 0
    if not res.groups:
        print("no customers with a signup date in the store; load customers first")
        return 0
    print(f"Kaplan-Meier retention by {res.label} (95 % band, months since signup)")
    print(
        f"  {'group':<22} {'n':>8} {'churned':>8} {'median':>7} {'12 months':>22} {'24 months':>22}"
    )
    for g in res.groups:
        cells = []
        for month in (12, 24):
            pt = next((c for c in g["curve"] if c["month"] == month), None)
            cells.append(
                "—"
                if pt is None
                else f"{pt['survival']:.1%} [{pt['ci_low']:.1%}, {pt['ci_high']:.1%}]"
            )
        med = "—" if g["median_months"] is None else str(g["median_months"])
        flag = f" (n < {MIN_SAMPLE})" if g["small_sample"] else ""
        print(
            f"  {g['group']:<22} {g['n']:>8,} {g['events']:>8,} {med:>7} {cells[0]:>22} "
            f"{cells[1]:>22}{flag}"
        )
    if res.logrank_p is not None:
        print(
            f"Log-rank test: chi-square {res.logrank_chi2:.2f} on {res.logrank_df} df, "
            f"p = {res.logrank_p:.3g}"
        )
    for note in res.notes:
        print(f"note: {note}")
    return 0
