"""`cx ab`: quick Bayesian A/B analyses from counts and sums typed on the command line.

`binary` and `mean` also decide with the peeking-safe rule (--planned-n, --looks-before) and
replay a whole history from a JSON-lines file (--batch FILE.jsonl, one decision per line).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from dashboard.cli.common import CliError, add_json_option, parse_numbers, print_json
from experiments.stats import (
    BinaryStats,
    CategoryCounts,
    ComparisonResult,
    MeanStats,
    analyze_binary,
    analyze_mean,
    analyze_nps,
    sample_size_binary,
    srm_check,
)


def _build(kind, *values, what: str):
    """Construct an input dataclass, turning its validation error into a CliError."""
    try:
        return kind(*values)
    except ValueError as exc:
        raise CliError(f"{what}: {exc}") from None


def _fmt(v: float, pct: bool) -> str:
    """Differences of rates in percentage points; other metrics in their own units."""
    if not math.isfinite(v):
        return "n/a"
    return f"{v * 100:+.2f} pp" if pct else f"{v:+.4g}"


def _print_comparison(r: ComparisonResult, *, pct_units: bool) -> None:
    """Readable text: arms, P(better), expected loss, lifts, then any message."""
    level = f"{r.ci_level:.0%}"
    unit = (lambda v: f"{v:.2%}") if pct_units else (lambda v: f"{v:.4g}")
    print(f"{r.family} metric ({'lower' if r.lower_is_better else 'higher'} is better)")
    for name, arm in (("control", r.control), ("variant", r.variant)):
        if math.isfinite(arm.mean):
            print(
                f"  {name:8s} n={arm.n:<8d} {unit(arm.mean)}  "
                f"({level} interval {unit(arm.ci_low)} to {unit(arm.ci_high)})"
            )
        else:
            print(f"  {name:8s} n={arm.n}")
    p = r.prob_variant_better
    print(f"P(variant better)      {p:.2%}" if math.isfinite(p) else "P(variant better)      n/a")
    el = r.expected_loss
    print(
        f"expected loss          control {_fmt(el.control, pct_units).lstrip('+')}, "
        f"variant {_fmt(el.variant, pct_units).lstrip('+')}"
    )
    a = r.absolute_lift
    print(
        f"absolute lift          {_fmt(a.mean, pct_units)} "
        f"({level} interval {_fmt(a.ci_low, pct_units)} to {_fmt(a.ci_high, pct_units)})"
    )
    rl = r.relative_lift
    if math.isfinite(rl.mean) and math.isfinite(rl.ci_low):
        print(
            f"relative lift          {rl.mean:+.2%} "
            f"({level} interval {rl.ci_low:+.2%} to {rl.ci_high:+.2%})"
        )
    if r.message:
        print(f"note: {r.message}")


def _history(args: argparse.Namespace, control, variant) -> list[float]:
    """Effective units per arm of the earlier looks (--looks-before) and of this one."""
    from experiments.stats.sequential import effective_n

    before = []
    if args.looks_before:
        before = parse_numbers(args.looks_before, count=None, what="--looks-before N[,N...]")
        if any(not (n >= 0 and math.isfinite(n)) for n in before):
            raise CliError(f"--looks-before: units must be zero or more, got {args.looks_before!r}")
    return [*before, effective_n(control.n, variant.n)]


def _look(args: argparse.Namespace, family: str, control, variant) -> dict | None:
    """The sequential decision of a single call, exactly as one line of --batch gives it."""
    from experiments.stats.replay import LookInput, evaluate_look

    if args.planned_n is not None and not args.planned_n > 0:
        raise CliError(
            f"--planned-n: must be a positive number of units per arm, got {args.planned_n}"
        )
    look = LookInput("cli", control, variant, args.planned_n, args.lower_is_better)
    return evaluate_look(family, look, _history(args, control, variant), analysis=args.analysis)


def _print_look(d: dict) -> None:
    print(f"decision               {d['decision']}")
    for reason in d["reasons"]:
        print(f"  - {reason}")


def _batch(args: argparse.Namespace, family: str) -> int:
    """Read FILE.jsonl whole (all-or-nothing: a bad line stops before any output), then decide."""
    from experiments.stats.replay import ReplayError, parse_record, replay

    path = Path(args.batch)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read as UTF-8 text ({exc})") from None
    looks = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            looks.append(parse_record(line, family, i))
        except ReplayError as exc:
            raise CliError(f"{path}: {exc}") from None
    if not looks:
        raise CliError(f"{path}: no records; expected one JSON object per line")
    out = sys.stdout
    for d in replay(family, looks, analysis=args.analysis):
        d.pop("reasons")
        out.write(json.dumps(_clean_row(d), ensure_ascii=False) + "\n")
    return 0


def _clean_row(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _need_arms(args: argparse.Namespace, what: str) -> None:
    if args.batch:
        if args.control or args.variant:
            raise CliError("--batch replaces --control/--variant: give one or the other")
        return
    if not (args.control and args.variant):
        raise CliError(f"give --control and --variant ({what}), or --batch FILE.jsonl")


def _binary(args: argparse.Namespace) -> int:
    _need_arms(args, "N,X each")
    if args.batch:
        return _batch(args, "binary")
    c = parse_numbers(args.control, count=2, what="--control N,X", integer=True)
    v = parse_numbers(args.variant, count=2, what="--variant N,X", integer=True)
    prior = parse_numbers(args.prior, count=2, what="--prior A,B")
    if not all(p > 0 for p in prior):
        raise CliError(f"--prior A,B: both must be positive, got {args.prior!r}")
    r = analyze_binary(
        _build(BinaryStats, *c, what="--control N,X"),
        _build(BinaryStats, *v, what="--variant N,X"),
        prior=tuple(prior),
        lower_is_better=args.lower_is_better,
    )
    look = None
    if tuple(prior) == (1.0, 1.0):  # the decision rule uses the default prior
        look = _look(args, "binary", BinaryStats(*c), BinaryStats(*v))
    if args.json:
        print_json(r.to_dict() | ({"sequential": look} if look else {}))
    else:
        _print_comparison(r, pct_units=True)
        if look:
            _print_look(look)
    return 0


def _mean(args: argparse.Namespace) -> int:
    _need_arms(args, "N,SUM,SUMSQ each")
    if args.batch:
        return _batch(args, "mean")
    c = parse_numbers(args.control, count=3, what="--control N,SUM,SUMSQ")
    v = parse_numbers(args.variant, count=3, what="--variant N,SUM,SUMSQ")
    for vals, what in ((c, "--control N,SUM,SUMSQ"), (v, "--variant N,SUM,SUMSQ")):
        if not float(vals[0]).is_integer():
            raise CliError(f"{what}: N must be a whole number, got {vals[0]:g}")
    cs = _build(MeanStats, int(c[0]), c[1], c[2], what="--control N,SUM,SUMSQ")
    vs = _build(MeanStats, int(v[0]), v[1], v[2], what="--variant N,SUM,SUMSQ")
    r = analyze_mean(cs, vs, lower_is_better=args.lower_is_better)
    look = _look(args, "mean", cs, vs)
    if args.json:
        print_json(r.to_dict() | {"sequential": look})
    else:
        _print_comparison(r, pct_units=False)
        _print_look(look)
    return 0


def _nps(args: argparse.Namespace) -> int:
    what = "PROMOTERS,PASSIVES,DETRACTORS"
    c = parse_numbers(args.control, count=3, what=f"--control {what}", integer=True)
    v = parse_numbers(args.variant, count=3, what=f"--variant {what}", integer=True)
    r = analyze_nps(
        _build(CategoryCounts, *c, what=f"--control {what}"),
        _build(CategoryCounts, *v, what=f"--variant {what}"),
    )
    print_json(r.to_dict()) if args.json else _print_comparison(r, pct_units=False)
    return 0


def _srm(args: argparse.Namespace) -> int:
    counts = parse_numbers(args.counts, count=None, what="--counts A,B[,C...]", integer=True)
    weights = None
    if args.weights:
        weights = parse_numbers(args.weights, count=len(counts), what="--weights W,W[,W...]")
    try:
        r = srm_check(counts, weights)
    except ValueError as exc:
        raise CliError(f"srm: {exc}") from None
    if args.json:
        print_json(r.to_dict())
        return 0
    print(f"observed {list(r.observed)}, expected {[round(e, 1) for e in r.expected]}")
    print(f"chi-square {r.chi2:.4g} on {r.dof} df, p = {r.p_value:.4g}")
    print(
        "MISMATCH: do not trust this experiment's results"
        if r.mismatch
        else f"no sample-ratio mismatch (threshold p < {r.threshold:g})"
    )
    return 0


def _size(args: argparse.Namespace) -> int:
    try:
        n = sample_size_binary(args.baseline, args.mde, alpha=args.alpha, power=args.power)
    except ValueError as exc:
        raise CliError(f"size: {exc}") from None
    out = {
        "n_per_arm": n,
        "baseline": args.baseline,
        "mde": args.mde,
        "alpha": args.alpha,
        "power": args.power,
        "total": 2 * n,
    }
    if args.json:
        print_json(out)
        return 0
    print(
        f"{n:,} units per arm ({2 * n:,} in total) to detect a {args.mde:+.1%} relative change "
        f"of a {args.baseline:.2%} rate (alpha {args.alpha:g} two-sided, power {args.power:g})"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    ab = subparsers.add_parser("ab", help="Bayesian A/B analysis from counts (quick calculator)")
    sub = ab.add_subparsers(dest="ab_command", metavar="KIND", required=True)

    p = sub.add_parser("binary", help="conversion-type metric: N units, X successes per arm")
    p.add_argument("--control", metavar="N,X")
    p.add_argument("--variant", metavar="N,X")
    p.add_argument("--prior", default="1,1", metavar="A,B", help="Beta prior (default 1,1)")
    p.add_argument("--lower-is-better", action="store_true", help="e.g. churn, escalations")
    _add_sequential_options(p)
    add_json_option(p)
    p.set_defaults(func=_binary)

    p = sub.add_parser("mean", help="continuous metric: N, sum and sum of squares per arm")
    p.add_argument("--control", metavar="N,SUM,SUMSQ")
    p.add_argument("--variant", metavar="N,SUM,SUMSQ")
    p.add_argument("--lower-is-better", action="store_true", help="e.g. handle time")
    _add_sequential_options(p)
    add_json_option(p)
    p.set_defaults(func=_mean)

    p = sub.add_parser("nps", help="NPS: promoters, passives, detractors per arm")
    p.add_argument("--control", required=True, metavar="PROMOTERS,PASSIVES,DETRACTORS")
    p.add_argument("--variant", required=True, metavar="PROMOTERS,PASSIVES,DETRACTORS")
    add_json_option(p)
    p.set_defaults(func=_nps)

    p = sub.add_parser("srm", help="sample-ratio mismatch check of assigned counts")
    p.add_argument("--counts", required=True, metavar="A,B[,C...]")
    p.add_argument("--weights", default=None, metavar="W,W[,W...]", help="planned split")
    add_json_option(p)
    p.set_defaults(func=_srm)

    p = sub.add_parser("size", help="sample size per arm for a relative MDE of a rate")
    p.add_argument("--baseline", required=True, type=float, metavar="RATE")
    p.add_argument("--mde", required=True, type=float, metavar="REL", help="e.g. 0.1 for +10 %%")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--power", type=float, default=0.8)
    add_json_option(p)
    p.set_defaults(func=_size)


def _add_sequential_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--planned-n",
        type=float,
        default=None,
        metavar="N",
        help="planned units per arm (O'Brien–Fleming within it, confidence sequence beyond)",
    )
    p.add_argument(
        "--looks-before",
        default=None,
        metavar="N[,N...]",
        help="effective units per arm at each earlier look, 2/(1/n_control + 1/n_variant)",
    )
    p.add_argument(
        "--analysis",
        choices=("sequential", "fixed"),
        default="sequential",
        help="fixed: one pre-registered look at the end",
    )
    p.add_argument(
        "--batch",
        default=None,
        metavar="FILE.jsonl",
        help="replay looks from a JSON-lines file; prints one JSON object per line",
    )
