"""`cx ingest`: load one exported file into a canonical table (same function as the Data page)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)
from metrics.schema import INGEST_TABLES


def register(subparsers: argparse._SubParsersAction) -> None:
    from metrics.ingest import PRESETS

    p = subparsers.add_parser(
        "ingest",
        help="load a CSV/TSV, XLSX or Parquet export into the store",
        description="Load one file. Whole-file problems write nothing and exit 2; bad rows are "
        "rejected with reasons (see rejected_rows) and the good rows load, in one transaction. "
        "Re-loading the same or an overlapping file updates by key, except rows older than the "
        "stored ones (updated_at). Undo a load with `cx batches undo`.",
    )
    p.add_argument("file", type=Path, help="the exported file")
    p.add_argument("--table", required=True, choices=list(INGEST_TABLES))
    group = p  # --preset and --mapping combine: the mapping overrides the preset
    group.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()),
    )
    group.add_argument(
        "--mapping", type=Path, help="TOML mapping file (with --preset: overrides the preset)"
    )
    p.add_argument("--sheet", help="XLSX sheet name (default: the first sheet)")
    p.add_argument(
        "--tz",
        help="time zone of times written without an offset (default: the preset's, "
        "e.g. Europe/Stockholm for swedish, else UTC)",
    )
    p.add_argument(
        "--insert-only",
        action="store_true",
        help="load new keys only: a row that would change a stored one is rejected",
    )
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from metrics.ingest import IngestError, ingest_file

    if not args.file.exists():
        raise CliError(f"{args.file}: no such file")
    try:
        with open_cli_store(args, write=True) as store:
            report = ingest_file(
                store,
                args.file,
                table=args.table,
                preset=args.preset,
                mapping=args.mapping,
                sheet=args.sheet,
                timezone=args.tz,
                insert_only=args.insert_only,
            )
    except IngestError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(report.to_dict())
    else:
        sys.stdout.write(report.to_text() + "\n")
    return 0
