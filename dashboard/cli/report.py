"""`cx report overview --out FILE.html`: the Overview as one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)
from dashboard.cli.kpis import _parse_date, _parse_filters

# metrics.periods.COMPARISONS, written out: importing metrics.periods (polars, scipy) would
# slow every `cx` command's start; tests/test_kpi_report_alerts.py checks they agree.
COMPARISONS = ("previous", "month", "year")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a report for people who do not open dashboards",
        description="Write the Overview (same numbers as the page) as one HTML file.",
    )
    sub = p.add_subparsers(dest="report_command", metavar="REPORT")
    ov = sub.add_parser(
        "overview",
        help="the Overview page as a self-contained HTML file",
        description=(
            "Every KPI vs its target and an earlier window (--compare: the period before, the "
            "same days a month or a year earlier), what misses its target, and the channel "
            "breakdown, in the UI language (setting ui.language, or --lang). The period "
            "defaults to the last full month of the data; --from inclusive, --to exclusive, "
            "in business days."
        ),
    )
    add_db_option(ov)
    ov.add_argument("--out", type=Path, required=True, metavar="FILE.html")
    ov.add_argument("--lang", choices=("sv", "en"), default=None, help="default: the setting")
    ov.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", default=None)
    ov.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", default=None)
    ov.add_argument("--filter", action="append", default=[], metavar="DIM=VALUE")
    ov.add_argument(
        "--compare",
        choices=COMPARISONS,
        default="previous",
        help="the window changes are against, as the Overview's comparison (default: previous)",
    )
    add_json_option(ov)
    ov.set_defaults(func=run_overview)
    p.set_defaults(func=lambda args: _no_report(p))


def _no_report(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _formatters() -> dict[str, Any]:
    """The pages' own labels, so the file reads like the page (numbers: metrics.units)."""
    from dashboard import i18n

    return {
        "kpi_label": i18n.kpi_label,
        "channel_label": lambda c: i18n.value_label("channel", c),
        "_use_language": i18n.use_language,
    }


def run_overview(args: argparse.Namespace) -> int:
    from metrics.kpi_query import KpiRequestError
    from metrics.report import overview_report, render_html
    from metrics.settings import load_currency, load_language
    from metrics.store import StoreError, default_db_path

    path = args.db or default_db_path()
    date_from = _parse_date(args.date_from, "--from")
    date_to = _parse_date(args.date_to, "--to")
    if args.out.suffix.lower() not in (".html", ".htm"):
        raise CliError(f"--out: expected a file name ending in .html, got {str(args.out)!r}")
    if not args.out.parent.exists():
        raise CliError(f"--out: the folder {args.out.parent} does not exist")
    try:
        with open_cli_store(args, write=False) as store:
            lang = args.lang or load_language(store)
            currency = load_currency(store)
            filters = _parse_filters(args.filter)
            report = overview_report(store, date_from, date_to, filters, args.compare)
    except (StoreError, KpiRequestError, ValueError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    if report is None:
        raise CliError(f"the store {path} has no contacts or surveys yet")
    fmt = _formatters()
    with fmt.pop("_use_language")(lang):
        text = render_html(report, lang, store_name=str(path), currency=currency, **fmt)
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)  # all or nothing: a reader never sees half a report
    print(
        f"wrote {args.out} ({report.date_from} – {report.date_to}, exclusive end)", file=sys.stderr
    )
    if args.json:
        period = {"date_from": report.date_from, "date_to": report.date_to}
        from metrics.periods import comparison_window

        compared = comparison_window(report.date_from, report.date_to, report.comparison)
        print_json(
            {
                "out": str(args.out),
                **period,
                "compare": report.comparison,
                "compared_from": compared[0],
                "compared_to": compared[1],
                "language": lang,
            }
        )
    return 0
