"""Entry point of `cx`: builds the parser from the command-group modules and runs one command."""

from __future__ import annotations

import argparse
import importlib
import sys

from dashboard.cli.common import CliError

# Each module defines register(subparsers) and sets `func` on its parsers.
COMMAND_MODULES = (
    "dashboard.cli.sample",
    "dashboard.cli.ingest",
    "dashboard.cli.kpis",
    "dashboard.cli.ab",
    "dashboard.cli.experiment",
    "dashboard.cli.clv",
    "dashboard.cli.churn",
    "dashboard.cli.drivers",
    "dashboard.cli.followups",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cx", description="CX Console: customer-experience KPIs and Bayesian experiments."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not built yet
                continue
            raise
        module.register(sub)
    return parser


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
    except KeyboardInterrupt:
        print("interrupted; nothing was committed by the unfinished step", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
