"""`cx experiment`: create, list, analyze, decide, search and export experiments."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)

DECISION_CHOICES = ("ship", "stop", "keep_running")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "experiment",
        help="plan, read out and decide experiments",
        description="The experiment registry: plans, readouts from the store, decisions.",
    )
    sub = parser.add_subparsers(dest="experiment_command", metavar="ACTION", required=True)

    p = sub.add_parser("create", help="register an experiment from a TOML plan")
    p.add_argument("--file", type=Path, required=True, help="plan file (see sample_data/plans)")
    p.add_argument("--start", action="store_true", help="start it now (status running)")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_create)

    p = sub.add_parser("list", help="list experiments with status and decision")
    p.add_argument("--status", choices=("draft", "running", "decided"))
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_list)

    p = sub.add_parser("analyze", help="read an experiment out of the store")
    p.add_argument("experiment_id", metavar="ID")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_analyze)

    p = sub.add_parser("decide", help="record a decision, who made it, and learnings")
    p.add_argument("experiment_id", metavar="ID")
    p.add_argument("--decision", required=True, choices=DECISION_CHOICES)
    p.add_argument("--by", required=True, help="who decided")
    p.add_argument("--learnings", default=None, help="what the team learned")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_decide)

    p = sub.add_parser("search", help="search past experiments (name, hypothesis, learnings)")
    p.add_argument("text")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_search)

    p = sub.add_parser("segments", help="lift per channel / segment / age band")
    p.add_argument("experiment_id", metavar="ID")
    p.add_argument("--metric", default=None, help="metric (default: the primary)")
    p.add_argument(
        "--fit",
        action="store_true",
        help="also fit the hierarchical (partially pooled) model with PyMC; slow",
    )
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_segments)

    p = sub.add_parser("report", help="write a self-contained HTML readout")
    p.add_argument("experiment_id", metavar="ID")
    p.add_argument("--out", type=Path, required=True, help="output .html file")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_report)


def _open(args: argparse.Namespace, *, write: bool):
    return open_cli_store(args, write=write)


def _registry_call(fn, *a, **kw):
    from experiments.metric_defs import UnknownMetricError
    from experiments.plan_validation import RegistryError
    from experiments.readout import ReadoutError

    try:
        return fn(*a, **kw)
    except (RegistryError, ReadoutError, UnknownMetricError) as exc:
        raise CliError(str(exc)) from None


def _create(args: argparse.Namespace) -> int:
    from experiments.plan_validation import load_plan_toml
    from experiments.registry import create_experiment, start_experiment

    plan = _registry_call(load_plan_toml, args.file)
    with _open(args, write=True) as store:
        exp = _registry_call(create_experiment, store, plan, source=str(args.file))
        if args.start:
            exp = _registry_call(start_experiment, store, exp.experiment_id)
    if args.json:
        print_json(exp.to_dict())
    else:
        print(f"created {exp.experiment_id} ({exp.status}): {exp.name}")
    return 0


def _row(e) -> str:
    decision = f"{e.decision} by {e.decided_by}" if e.decision else "-"
    return f"{e.experiment_id:<36} {e.status:<8} {e.primary_metric:<22} {decision}"


def _list(args: argparse.Namespace) -> int:
    from experiments.registry import list_experiments

    with _open(args, write=False) as store:
        items = list_experiments(store, args.status)
    if args.json:
        print_json([e.to_dict() for e in items])
        return 0
    if not items:
        print("no experiments")
        return 0
    print(f"{'id':<36} {'status':<8} {'primary':<22} decision")
    for e in items:
        print(_row(e))
    return 0


def _fmt(v: float | None, digits: int = 3) -> str:
    import math

    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}g}"


def _analyze(args: argparse.Namespace) -> int:
    from experiments.readout import analyze

    with _open(args, write=False) as store:
        readout = _registry_call(analyze, store, args.experiment_id)
    d = readout.to_dict()
    if args.json:
        print_json(d)
        return 0
    e, p = readout.experiment, readout.primary.result
    print(f"{e.experiment_id}: {e.name} [{e.status}]")
    print(
        "units: "
        + ", ".join(f"{k} {v}" for k, v in readout.n_by_variant.items())
        + f"  (SRM p = {_fmt(readout.srm.p_value)}{', MISMATCH' if readout.srm.mismatch else ''})"
    )
    print(
        f"primary {readout.primary.metric}: control {_fmt(p.control.mean)}, "
        f"{readout.variant} {_fmt(p.variant.mean)}, lift {_fmt(p.absolute_lift.mean)} "
        f"[{_fmt(p.absolute_lift.ci_low)}, {_fmt(p.absolute_lift.ci_high)}], "
        f"P(better) {p.prob_variant_better:.1%}"
    )
    seq = readout.primary.sequential
    if seq is not None:
        print(
            f"sequential interval [{_fmt(seq.ci_low)}, {_fmt(seq.ci_high)}] "
            f"({seq.rule}, {readout.analysis} analysis)"
        )
    for g in readout.guardrails:
        v = g.guardrail
        print(
            f"guardrail {g.metric}: lift {_fmt(g.result.absolute_lift.mean)}, "
            f"P(worse beyond {g.tolerance:g}) {_fmt(v.prob_worse)} -> "
            f"{'ok' if v.passed else 'NOT OK'}"
        )
    print(f"decision: {readout.decision.action} (rule: {readout.rule or 'Bayesian, one look'})")
    for reason in readout.decision.reasons:
        print(f"  - {reason}")
    for m in readout.messages:
        print(f"note: {m}")
    return 0


def _decide(args: argparse.Namespace) -> int:
    from experiments.readout import analyze
    from experiments.registry import record_decision

    with _open(args, write=True) as store:
        reasons: list[str] = []
        try:
            reasons = list(analyze(store, args.experiment_id).decision.reasons)
        except Exception:  # noqa: BLE001 - a decision may be recorded without a readout
            reasons = []
        exp = _registry_call(
            record_decision,
            store,
            args.experiment_id,
            args.decision,
            args.by,
            learnings=args.learnings,
            reasons=reasons,
        )
    if args.json:
        print_json(exp.to_dict())
    else:
        print(f"{exp.experiment_id}: {exp.decision} by {exp.decided_by} ({exp.status})")
    return 0


def _search(args: argparse.Namespace) -> int:
    from experiments.registry import search_experiments

    with _open(args, write=False) as store:
        items = search_experiments(store, args.text)
    if args.json:
        print_json([e.to_dict() for e in items])
        return 0
    if not items:
        print(f"no experiment matches {args.text!r}")
        return 0
    for e in items:
        print(_row(e))
        if e.learnings:
            print(f"    learnings: {e.learnings}")
    return 0


def _segments(args: argparse.Namespace) -> int:
    from experiments.segments import segment_fit_status, start_segment_fit, unpooled_segments

    with _open(args, write=bool(args.fit)) as store:
        if args.fit:
            _registry_call(start_segment_fit, store, args.experiment_id, args.metric, wait=True)
            status = _registry_call(segment_fit_status, store, args.experiment_id, args.metric)
            if status["status"] != "done":
                raise CliError(f"the segment model did not finish: {status['error']}")
            rows = status["result"]["segments"]
        else:
            rows = [
                e.to_dict()
                for e in _registry_call(unpooled_segments, store, args.experiment_id, args.metric)
            ]
    if args.json:
        print_json(rows)
        return 0
    pooled = args.fit
    print(
        f"{'dimension':<10} {'level':<18} {'n ctl':>7} {'n var':>7} {'lift':>9} "
        f"{'95 % interval':>22}" + (f" {'pooled':>9}" if pooled else "")
    )
    for r in rows:
        line = (
            f"{r['dimension']:<10} {r['level']:<18} {r['n_control']:>7} {r['n_variant']:>7} "
            f"{_fmt(r['lift']):>9} {'[' + _fmt(r['ci_low']) + ', ' + _fmt(r['ci_high']) + ']':>22}"
        )
        if pooled:
            line += f" {_fmt(r['pooled_mean']):>9}"
        print(line)
    return 0


def _report(args: argparse.Namespace) -> int:
    from dashboard.report_html import readout_html
    from metrics.settings import load_language

    _check_report_target(args.out)
    with _open(args, write=False) as store:
        lang = load_language(store)  # the report reads like the page, in the UI language
        html = _registry_call(readout_html, store, args.experiment_id, lang=lang)
    html = _mark_report(html)
    tmp = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, args.out)  # never a half-written report
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CliError(f"cannot write {args.out}: {exc.strerror}") from None
    if args.json:
        print_json(
            {
                "experiment_id": args.experiment_id,
                "out": str(args.out),
                "bytes": args.out.stat().st_size,
            }
        )
    else:
        print(f"wrote {args.out} ({len(html) // 1024} KiB)")
    return 0


# Written into every report, so `--out` overwrites only an earlier report of ours.
REPORT_MARKER = "<!-- cx-console experiment report -->"


def _mark_report(html: str) -> str:
    head, sep, rest = html.partition("\n")
    if head.lower().startswith("<!doctype"):
        return f"{head}\n{REPORT_MARKER}{sep}{rest}"
    return f"{REPORT_MARKER}\n{html}"


def _check_report_target(out: Path) -> None:
    """Refuse to overwrite anything but an earlier report (someone's page, a data file)."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_file():
        raise CliError(f"refusing to write over {out}: it is not a regular file")
    try:
        with out.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError as exc:
        raise CliError(f"cannot read {out} to check it: {exc.strerror}") from None
    if REPORT_MARKER not in head:
        raise CliError(
            f"refusing to overwrite {out}: it is not an experiment report written by cx "
            "(choose another --out, or remove the file yourself)"
        )
