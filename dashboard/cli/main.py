"""Entry point of `cx`: builds the parser from the command-group modules and runs one command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from dashboard.cli.common import CliError

# Each module defines register(subparsers) and sets `func` on its parsers.
COMMAND_MODULES = (
    "dashboard.cli.init",
    "dashboard.cli.sample",
    "dashboard.cli.ingest",
    "dashboard.cli.batches",
    "dashboard.cli.kpis",
    "dashboard.cli.ab",
    "dashboard.cli.experiment",
    "dashboard.cli.clv",
    "dashboard.cli.churn",
    "dashboard.cli.drivers",
    "dashboard.cli.followups",
    "dashboard.cli.batches",
    "dashboard.cli.settings",
    "dashboard.cli.report",
    "dashboard.cli.alerts",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cx", description="CX Console: customer-experience KPIs and Bayesian experiments."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in dict.fromkeys(COMMAND_MODULES):  # a name listed twice (after a merge) once
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not built yet
                continue
            raise
        module.register(sub)
    return parser


def store_problem(exc: BaseException, db: object = None) -> str | None:
    """One line for a store problem (StoreError, any DuckDB error, an OS error), else None.

    The one place every `cx` command's store trouble (locked after the wait, corrupt,
    truncated, newer schema, not a CX store, disk full, unreadable) becomes a sentence.
    """
    import duckdb

    from metrics.store import StoreError, default_db_path, describe_store_error

    if not isinstance(exc, StoreError | duckdb.Error | OSError):
        return None
    return " ".join(describe_store_error(exc, db or default_db_path()).split())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"cx {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `cx ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - store problems end as one line, see store_problem
        message = store_problem(exc, getattr(args, "db", None))
        if message is None:
            raise
        print(f"cx {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was committed by the unfinished step", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
