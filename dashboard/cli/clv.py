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
    parse_numbers,
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
    sbg = sub.add_parser(
        "sbg",
        help="contractual CLV: shifted-beta-geometric retention and DERL",
        description="Fit the sBG (Fader & Hardie 2007) to one cohort's survivor counts, or per "
        "segment / signup year from the store's monthly lifetimes, with the discounted expected "
        "residual lifetime (Fader & Hardie 2010).",
    )
    add_db_option(sbg)
    add_json_option(sbg)
    sbg.add_argument(
        "--survivors",
        default=None,
        help="cohort counts still active at the start of each period, e.g. 1000,869,743 "
        "(the cohort size first); without it the store is fitted per --by",
    )
    sbg.add_argument(
        "--discount",
        type=float,
        default=None,
        help="discount rate: per period with --survivors (default 0.1); a yearly rate for the "
        "store's monthly lifetimes (default: setting clv.discount_rate, 10 %%)",
    )
    sbg.add_argument(
        "--periods", type=int, default=5, help="periods to project after the data (default 5)"
    )
    sbg.add_argument(
        "--by",
        choices=("segment", "cohort"),
        default="segment",
        help="store mode: fit per segment or per signup year",
    )
    sbg.set_defaults(func=run_sbg)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _open(args: argparse.Namespace, *, write: bool):
    return open_cli_store(args, write=write)


def run_fit(args: argparse.Namespace) -> int:
    from metrics.clv_models.cache import start_clv_fit
    from metrics.clv_models.fit import ClvFit

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
    from metrics.retention.contractual import bound_notes

    if bound_notes(fit.notes):
        # Not identified: a value with an interval that ignores the stuck parameters misleads.
        print("Probabilistic CLV (BG/NBD) not shown: the fit reached a parameter bound.")
        for note in fit.notes:
            print(f"  note: {note}")
        print("  For regular monthly billing use the contractual model: `cx clv sbg`.")
        return
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
    from metrics.churn import MIN_SAMPLE
    from metrics.clv import clv_what_if, simple_clv
    from metrics.clv_models.cache import cached_clv
    from metrics.retention.contractual import bound_notes

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
                "probabilistic": None
                if fit is None
                else {
                    **fit.to_json(),
                    "current": current,
                    # A fit at a parameter bound is not identified: its values are no CLV.
                    "identified": not bound_notes(fit.notes),
                    "bound_notes": bound_notes(fit.notes),
                },
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
        flag = f" (n < {MIN_SAMPLE})" if rec["small_sample"] else ""
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


def run_sbg(args: argparse.Namespace) -> int:
    from metrics.retention.sbg import SbgError, cohort_summary

    if args.periods < 0 or args.periods > 600:
        raise CliError(f"--periods: expected a whole number from 0 to 600, got {args.periods}")
    if args.survivors is not None:
        counts = parse_numbers(args.survivors, count=None, what="--survivors")
        discount = 0.1 if args.discount is None else args.discount
        try:
            out = cohort_summary(counts, discount=discount, periods=args.periods)
        except SbgError as exc:
            raise CliError(str(exc)) from None
        if args.json:
            print_json(out)
            return 0
        print(
            f"sBG fit on {out['n']:,.0f} customers: alpha = {out['alpha']:.4f}, "
            f"beta = {out['beta']:.4f} (log-likelihood {out['loglik']:.2f})"
        )
        for row in out["projected"]:
            print(
                f"  period {row['period']:>3}: survival {row['survival']:.1%} "
                f"({row['survivors']:,.1f} of {out['n']:,.0f})"
            )
        ci = (
            f" [{out['derl_ci_low']:.2f}, {out['derl_ci_high']:.2f}]"
            if out["derl_ci_low"] is not None
            else ""
        )
        print(f"  DERL at {discount:.1%} per period (new customer): {out['derl']:.3f}{ci}")
        if out["at_bound"]:
            print(f"  note: {out['message']}")
        return 0
    return _run_sbg_store(args)


def _run_sbg_store(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from metrics.retention.contractual import choose_model, contractual_clv
    from metrics.retention.sbg import SbgError

    if args.discount is not None and not 0 < args.discount <= 1:
        raise CliError(f"--discount: a yearly rate in (0, 1] is expected, got {args.discount}")
    with _open(args, write=False) as store:
        choice = choose_model(store)
        try:
            res = contractual_clv(store, dimension=args.by, annual_discount=args.discount)
        except SbgError as exc:
            raise CliError(str(exc)) from None
    if args.json:
        print_json({"model": asdict(choice), **asdict(res)})
        return 0
    print(f"Model: {choice.kind}. {choice.reason}.")
    print(
        f"Contractual CLV (sBG) by {args.by}: residual value per active customer = margin "
        f"({res.margin:.0%}) × monthly revenue × DERL at {res.annual_discount:.0%} a year "
        f"({res.currency}, {res.interval})"
    )
    print(
        f"  {'group':<12} {'customers':>9} {'churned':>8} {'12-mo ret.':>10} "
        f"{'DERL new':>9} {'value':>10} {'ci_low':>10} {'ci_high':>10}"
    )
    for g in res.groups:
        ret = "—" if g["retention_12m"] is None else f"{g['retention_12m']:.1%}"
        vals = [
            "—" if g[k] is None else f"{g[k]:,.0f}" for k in ("value_mean", "ci_low", "ci_high")
        ]
        derl_new = "—" if g["derl_new"] is None else f"{g['derl_new']:.1f}"
        print(
            f"  {g['group']:<12} {g['customers']:>9,} {g['churned']:>8,} {ret:>10} "
            f"{derl_new:>9} {vals[0]:>10} {vals[1]:>10} {vals[2]:>10}"
        )
        if g["message"]:
            print(f"    {g['group']}: {g['message']}")
    return 0
