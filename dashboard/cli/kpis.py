"""`cx kpis`: KPI values from the catalogue, as a table, JSON or CSV; `--list` the catalogue."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

from dashboard.cli.common import CliError, add_db_option, open_cli_store, to_json
from dashboard.csv_export import csv_text


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "kpis",
        help="compute KPIs from the store",
        description=(
            "Compute KPIs with n, 95 % interval, target and status. --from is inclusive, "
            "--to exclusive, on the event's own time (contact opened, survey answered)."
        ),
    )
    add_db_option(p)
    p.add_argument(
        "--kpi",
        action="append",
        default=[],
        metavar="NAME",
        help="KPI to compute (repeatable; default: all that fit --by/--filter)",
    )
    p.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="DIM",
        help="break down by a dimension (repeatable)",
    )
    p.add_argument(
        "--grain",
        choices=("day", "week", "month", "quarter", "year"),  # metrics.catalogue.GRAINS
        default=None,
        help="one row per period of this length",
    )
    p.add_argument(
        "--from", dest="date_from", metavar="YYYY-MM-DD", default=None, help="first day included"
    )
    p.add_argument(
        "--to", dest="date_to", metavar="YYYY-MM-DD", default=None, help="first day excluded"
    )
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="DIM=VALUE",
        help="keep only rows where DIM is VALUE (repeat a DIM to allow several values)",
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument(
        "--json", dest="format", action="store_const", const="json", help="--format json"
    )
    p.add_argument("--list", action="store_true", help="print the KPI catalogue and exit")
    p.set_defaults(func=run)


def _parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option}: expected a date YYYY-MM-DD, got {text!r}") from None


def _parse_filters(items: list[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for item in items:
        dim, sep, value = item.partition("=")
        if not sep or not dim.strip() or not value.strip():
            raise CliError(f"--filter: expected DIM=VALUE, got {item!r}")
        out.setdefault(dim.strip(), []).append(value.strip())
    return {k: tuple(v) for k, v in out.items()}


def _print_list(fmt: str) -> None:
    from metrics.kpi_query import catalogue_frame

    frame = catalogue_frame()
    if fmt == "json":
        sys.stdout.write(to_json(frame.to_dicts()) + "\n")
    elif fmt == "csv":
        sys.stdout.write(csv_text(frame))
    else:
        for r in frame.to_dicts():
            target = "none" if r["target"] is None else f"{r['target']:g}"
            print(f"{r['kpi']}  ({r['label']}; {r['unit']}, {r['direction']} is better)")
            print(f"    {r['definition']}")
            print(f"    target: {target} — {r['target_source']}")
            print(f"    interval: {r['interval']}; by: {r['dimensions']}; min n {r['min_n']}")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    if args.list:
        _print_list(args.format)
        return 0
    from metrics.kpi_query import KpiRequest, KpiRequestError, query_kpis

    request_args = dict(
        kpis=tuple(args.kpi),
        by=tuple(args.by),
        grain=args.grain,
        date_from=_parse_date(args.date_from, "--from"),
        date_to=_parse_date(args.date_to, "--to"),
        filters=_parse_filters(args.filter),
    )
    try:
        request = KpiRequest(**request_args)
    except KpiRequestError as exc:
        raise CliError(str(exc)) from None
    with open_cli_store(args, write=False) as store:
        frame = query_kpis(store, request)
    if args.format == "json":
        sys.stdout.write(to_json(frame.to_dicts()) + "\n")
    elif args.format == "csv":
        sys.stdout.write(csv_text(frame))
    else:
        if frame.is_empty():
            print("no data for this selection")
        else:
            # A KPI without inputs reads "no data: <reason>" in the reason column (absent is
            # not zero); the column is left out when every KPI has data.
            if frame["reason"].null_count() == frame.height:
                frame = frame.drop("reason")
            else:
                frame = frame.with_columns(("no data: " + frame["reason"]).alias("reason"))
            sys.stdout.write(_table(frame.to_dicts(), frame.columns) + "\n")
    return 0
