"""`cx sample`: fill a store with the seeded sample world and print the rows written per table."""

from __future__ import annotations

import argparse
import time
from datetime import date

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)


def _end_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sample",
        help="generate the seeded sample data (customers, contacts, surveys, invoices, "
        "experiments)",
        description="Write a seeded, realistic sample world into the store (one transaction). "
        "Refuses a store that already holds data unless --replace is given.",
    )
    p.add_argument("--customers", type=int, default=20_000, help="customers (default 20000)")
    p.add_argument("--months", type=int, default=12, help="months of history (default 12)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--end", type=_end_date, default=None,
        help="exclusive end of the data, YYYY-MM-DD (default: first day of this month)",
    )  # fmt: skip
    p.add_argument(
        "--replace", action="store_true",
        help="empty the sample tables first when the store already holds data",
    )  # fmt: skip
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sample_data.generator import SampleDataError, generate

    store = open_cli_store(args, write=True, create=True)
    started = time.perf_counter()
    try:
        counts = generate(
            store, customers=args.customers, months=args.months, seed=args.seed,
            end=args.end, replace=args.replace,
        )  # fmt: skip
    except SampleDataError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    seconds = time.perf_counter() - started
    if args.json:
        print_json({"db": str(store.path), "seconds": round(seconds, 2), "rows": counts})
        return 0
    width = max(len(t) for t in counts)
    print(f"sample data written to {store.path} in {seconds:.1f} s (seed {args.seed})")
    for table, n in counts.items():
        print(f"  {table:<{width}}  {n:>12,}")
    return 0
