"""`cx alerts check [--json]`: exit 1 and list the KPIs that probably miss their target by
more than the near tolerance (P ≥ 0.9); exit 0 when none does. Made for cron."""

from __future__ import annotations

import argparse

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)
from dashboard.cli.kpis import _parse_date, _parse_filters


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "alerts",
        help="check the KPIs against their targets (exit 1 when one misses)",
        description="Alerts for cron: KPIs that miss their target.",
    )
    sub = p.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND")
    check = sub.add_parser(
        "check",
        help="list the KPIs that miss their target; exit 1 if any",
        description=(
            "Lists every KPI, overall and per channel, that misses its target by more than "
            "the near tolerance with probability at least 0.9 over the period (default: the "
            "last full month of the data, as on the Overview). Exit status: 0 none, 1 some, "
            "2 an error."
        ),
    )
    add_db_option(check)
    add_json_option(check)
    check.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", default=None)
    check.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", default=None)
    check.add_argument("--filter", action="append", default=[], metavar="DIM=VALUE")
    check.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_check(args: argparse.Namespace) -> int:
    from metrics.alerts import check_alerts
    from metrics.kpi_query import KpiRequestError
    from metrics.store import StoreError, default_db_path

    path = args.db or default_db_path()
    date_from = _parse_date(args.date_from, "--from")
    date_to = _parse_date(args.date_to, "--to")
    try:
        with open_cli_store(args, write=False) as store:
            result = check_alerts(store, date_from, date_to, _parse_filters(args.filter))
    except (StoreError, KpiRequestError, ValueError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    if result is None:
        raise CliError(f"the store {path} has no contacts or surveys yet")
    if args.json:
        print_json(result.as_dict())
    else:
        last = result.date_to.toordinal() - 1
        from datetime import date

        period = f"{result.date_from} – {date.fromordinal(last)}"
        if not result.alerts:
            print(f"{period}: no KPI misses its target (P ≥ 0.9)")
        from dashboard.figures.kpi import format_value

        for a in result.alerts:
            where = a.channel or "all channels"
            print(
                f"{a.label} ({where}): {format_value(a.value, a.unit)} vs target "
                f"{format_value(a.target, a.unit)}, n = {a.n}, P(misses by more than the "
                f"tolerance) = {a.p_misses:.0%} — {period}"
            )
    return 1 if result.alerts else 0
