"""`cx batches`: list ingest batches and undo one exactly (same functions as the Data page)."""

from __future__ import annotations

import argparse
import getpass

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)

LIST_COLUMNS = (
    "batch_id",
    "table_name",
    "file_name",
    "started_at",
    "inserted",
    "updated",
    "unchanged",
    "skipped_older",
    "rejected",
    "status",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batches",
        help="list ingest batches, undo one",
        description="Every `cx ingest` or Data-page upload is one batch. Undo restores the "
        "table exactly as it was before that batch.",
    )
    sub = parser.add_subparsers(dest="batches_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="ingest batches, newest first, with counts and status")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_list)

    p = sub.add_parser(
        "undo",
        help="undo one batch: remove the rows it inserted, restore the rows it updated",
        description="Refused when a later batch (not undone) changed rows this batch loaded; "
        "undo those first.",
    )
    p.add_argument("batch_id", metavar="BATCH_ID")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=_undo)


def _open(args: argparse.Namespace, *, write: bool = False):
    return open_cli_store(args, write=write)


def _list(args: argparse.Namespace) -> int:
    from metrics.ingest.batches import list_batches

    with _open(args) as store:
        frame = list_batches(store)
    if args.json:
        print_json(frame.to_dicts())
        return 0
    if frame.is_empty():
        print("no batches: nothing was ingested into this store yet")
        return 0
    rows = frame.select(LIST_COLUMNS).rows()
    cells = [list(LIST_COLUMNS)] + [
        [f"{v:%Y-%m-%d %H:%M:%S}" if hasattr(v, "strftime") else str(v) for v in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(LIST_COLUMNS))]
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _undo(args: argparse.Namespace) -> int:
    from metrics.ingest.batches import BatchError, undo_batch

    with _open(args, write=True) as store:
        try:
            result = undo_batch(store, args.batch_id, by=f"cli:{_user()}")
        except BatchError as exc:
            raise CliError(str(exc)) from None
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.to_text())
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"
