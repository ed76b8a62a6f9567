"""`cx clv fit` (probabilistic CLV, cached in the store) and `cx clv show` (per segment)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "clv",
        help="customer lifetime value: fit the model, show per segment",
        description="Simple CLV (ARPU × margin ÷ monthly churn) and probabilistic CLV "
        "(BG/NBD + Gamma-Gamma on invoices, expected 12-month value).",
    )
    sub = p.add_subparsers(dest="clv_command", metavar="SUBCOMMAND")
    fit = sub.add_parser("fit", help="fit BG/NBD + Gamma-Gamma on the invoices and cache it")
    add_db_option(fit)
    add_json_option(fit)
    fit.add_argument(
        "--method",
        choices=("map", "nuts"),
        default="map",
        help="map: point fit + Laplace intervals (seconds); nuts: PyMC sampling",
    )
    fit.add_argument(
        "--force", action="store_true", help="refit even if a result for the present data is cached"
    )
    fit.set_defaults(func=run_fit)
    show = sub.add_parser("show", help="CLV per segment: simple, what-if and the cached fit")
    add_db_option(show)
    add_json_option(show)
    show.add_argument(
        "--by",
        choices=("segment",),
        default="segment",
        help="breakdown (segment is the one CLV is defined on)",
    )
    show.add_argument(
        "--method",
        choices=("map", "nuts"),
        default="map",
        help="which cached probabilistic fit to show",
    )
    show.set_defaults(func=run_show)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _open(args: argparse.Namespace, *, write: bool):
    return open_cli_store(args, write=write)


def run_fit(args: argparse.Namespace) -> int:
    from metrics.clv_models import ClvFit, start_clv_fit

    with _open(args, write=True) as store:
        status = start_clv_fit(store, method=args.method, wait=True, force=args.force)
        if status.status != "done" or status.result is None:
            raise CliError(f"the CLV fit failed: {status.error or status.status}")
        fit = ClvFit.from_json(status.result)
    if args.json:
        print_json(fit.to_json())
        return 0
    print(
        f"CLV fit ({fit.method}) on {fit.n_customers:,} invoiced customers "
        f"({fit.n_repeat:,} with repeat purchases), as of {fit.as_of}, {fit.seconds:.1f} s"
    )
    for label, params in (("BG/NBD", fit.bgnbd), ("Gamma-Gamma", fit.gamma_gamma)):
        cells = ", ".join(
            f"{k} = {v['mean']:.4g} [{v['ci_low']:.4g}, {v['ci_high']:.4g}]"
            for k, v in params.items()
        )
        print(f"  {label}: {cells}")
    _print_prob(fit)
    return 0


def _print_prob(fit: Any) -> None:
    print(f"Expected {fit.horizon_months:g}-month value per customer; {fit.interval}:")
    print(f"  {'segment':<12} {'n':>8} {'mean':>10} {'ci_low':>10} {'ci_high':>10} {'total':>14}")
    for row in [*fit.segments, fit.total]:
        print(
            f"  {row['segment']:<12} {row['n']:>8,} {row['value_mean']:>10,.1f} "
            f"{row['ci_low']:>10,.1f} {row['ci_high']:>10,.1f} {row['value_total']:>14,.0f}"
        )
    for note in fit.notes:
        print(f"  note: {note}")


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def run_show(args: argparse.Namespace) -> int:
    from metrics.clv import clv_what_if, simple_clv
    from metrics.clv_models import cached_clv

    with _open(args, write=False) as store:
        simple = simple_clv(store)
        what_if = clv_what_if(simple)
        fit, status = cached_clv(store, args.method)
        current = bool(status and status.current)
    if args.json:
        print_json(
            {
                "simple": simple.to_dicts(),
                "what_if": what_if.to_dicts(),
                "probabilistic": None if fit is None else {**fit.to_json(), "current": current},
            }
        )
        return 0
    if simple.height == 0:
        print("no customers in the store; load customers (cx ingest) or `cx sample` first")
        return 0
    print(
        f"Simple CLV = ARPU × margin ÷ monthly churn (margin {simple['margin'][0]:.0%}, "
        "last 12 months)"
    )
    print(
        f"  {'segment':<12} {'customers':>9} {'churn/mo':>9} {'ARPU':>10} {'CLV':>12} "
        f"{'CLV −20%':>12} {'CLV −30%':>12}"
    )
    for rec in simple.iter_rows(named=True):
        rows = what_if.filter(what_if["segment"] == rec["segment"]).sort("churn_reduction")
        after = rows["clv_after"].to_list()
        flag = " (n < 30)" if rec["small_sample"] else ""
        churn = _fmt(rec["monthly_churn"] and rec["monthly_churn"] * 100, ".2f")
        print(
            f"  {rec['segment']:<12} {rec['customers']:>9,} {churn:>8}% "
            f"{_fmt(rec['arpu'], ',.1f'):>10} {_fmt(rec['clv'], ',.0f'):>12} "
            f"{_fmt(after[0], ',.0f'):>12} {_fmt(after[1], ',.0f'):>12}{flag}"
        )
        if rec["message"]:
            print(f"    {rec['segment']}: {rec['message']}")
    if fit is None:
        print(
            f"Probabilistic CLV: not fitted yet; run `cx clv fit --method {args.method}`",
            file=sys.stderr,
        )
    else:
        if not current:
            print("Probabilistic CLV (data changed since this fit; refit with `cx clv fit`):")
        _print_prob(fit)
    return 0
