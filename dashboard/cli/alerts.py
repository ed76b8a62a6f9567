"""`cx alerts check [--json]`: exit 1 and list the KPIs that probably miss their target by
more than the near tolerance (P ≥ 0.9); exit 0 when none does. Made for cron."""

from __future__ import annotations

import argparse
from datetime import date

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
    check.add_argument("--lang", choices=("sv", "en"), default=None, help="default: the setting")
    check.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_check(args: argparse.Namespace) -> int:
    from metrics.alerts import check_alerts
    from metrics.kpi_query import KpiRequestError
    from metrics.settings import load_currency, load_language
    from metrics.store import StoreError, default_db_path

    path = args.db or default_db_path()
    date_from = _parse_date(args.date_from, "--from")
    date_to = _parse_date(args.date_to, "--to")
    try:
        with open_cli_store(args, write=False) as store:
            result = check_alerts(store, date_from, date_to, _parse_filters(args.filter))
            lang = args.lang or load_language(store)
            currency = load_currency(store)
    except (StoreError, KpiRequestError, ValueError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    if result is None:
        raise CliError(f"the store {path} has no contacts or surveys yet")
    if args.json:
        print_json(result.as_dict())
    else:
        from dashboard.i18n import kpi_label, use_language, value_label
        from metrics.alerts import no_alert_text

        last = date.fromordinal(result.date_to.toordinal() - 1)
        period = f"{result.date_from} – {last}"
        if not result.alerts:
            print(no_alert_text(period, lang))
        with use_language(lang):  # KPI and channel names in the alert's language
            for a in result.alerts:
                line = a.text(
                    period,
                    lang=lang,
                    currency=currency,
                    label=kpi_label(a.kpi),
                    channel_label=lambda c: value_label("channel", c),
                )
                print(line)
    return 1 if result.alerts else 0
