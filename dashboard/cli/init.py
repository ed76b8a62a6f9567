"""`cx init`: create an empty CX store at a new path (the only command besides `cx sample` that may)."""

from __future__ import annotations

import argparse

from dashboard.cli.common import add_db_option, add_json_option, open_cli_store, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "init",
        help="create an empty store (schema only)",
        description="Create an empty CX store at --db / $CX_DB / data/cx.duckdb. An existing CX "
        "store is left as it is (migrated if older); any other existing file is refused.",
    )
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from metrics.store import default_db_path

    path = args.db or default_db_path()
    existed = path.exists()
    store = open_cli_store(args, write=True, create=True)
    try:
        version = store.schema_version()
    finally:
        store.close()
    if args.json:
        print_json({"db": str(path), "created": not existed, "schema_version": version})
    elif existed:
        print(f"{path} is already a CX store (schema version {version}); no data was changed")
    else:
        print(f"created an empty CX store at {path} (schema version {version})")
    return 0
