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
        description="Load one file, all or nothing. Exit 0: loaded. Exit 2: a whole-file problem (format, "
        "columns, limits), nothing written. Exit 3: more than 1 %% of the rows (or "
        "--max-reject-share) would be rejected, nothing written; the reasons are listed by "
        "cause. Otherwise bad rows are rejected with reasons (see rejected_rows) and the good "
        "rows load, in one transaction. With --json a failure is a JSON object on stdout. "
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
    p.add_argument(
        "--max-reject-share",
        type=_share,
        default=None,
        metavar="SHARE",
        help="accept up to this share (0..1) of the rows rejected and load the rest (default "
        "0.01: a file with more than 1 %% of its rows rejected loads nothing and exits 3)",
    )
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=run)


EXIT_FILE_ERROR = 2  # a whole-file problem: nothing written
EXIT_TOO_MANY_REJECTED = 3  # more rows rejected than accepted: nothing written


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a share between 0 and 1, got {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a share between 0 and 1 (0.05 = 5 %), got {text!r}"
        )
    return value


def run(args: argparse.Namespace) -> int:
    from metrics.ingest import (
        DEFAULT_MAX_REJECT_SHARE,
        IngestError,
        RejectShareExceeded,
        ingest_file,
    )

    if not args.file.exists():
        if args.json:
            error = IngestError(f"{args.file}: no such file", file=str(args.file))
            print_json(error.to_dict())
            return EXIT_FILE_ERROR
        raise CliError(f"{args.file}: no such file")
    share = DEFAULT_MAX_REJECT_SHARE if args.max_reject_share is None else args.max_reject_share
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
                max_reject_share=share,
            )
    except IngestError as exc:
        code = EXIT_TOO_MANY_REJECTED if isinstance(exc, RejectShareExceeded) else EXIT_FILE_ERROR
        if args.json:
            print_json(exc.to_dict())
            return code
        raise CliError(str(exc), exit_code=code) from None
    if args.json:
        print_json(report.to_dict())
    else:
        sys.stdout.write(report.to_text() + "\n")
    return 0
