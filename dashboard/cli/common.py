"""Shared pieces of the `cx` commands: options, output, opening the store, and errors a person can act on."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metrics.store import Store


class CliError(Exception):
    """An error to print as one clear line (no traceback) before exiting non-zero."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected zero or more seconds, got {text!r}")
    return value


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """--db and --wait, for every command that uses the store."""
    parser.add_argument(
        "--db", type=Path, default=None,
        help="DuckDB store file (default: $CX_DB or data/cx.duckdb)",
    )  # fmt: skip
    parser.add_argument(
        "--wait", type=_seconds, default=None, metavar="SECONDS",
        help="how long to wait while another program (the app, another cx) holds the store "
        "(default: $CX_STORE_TIMEOUT or 60)",
    )  # fmt: skip


def _notice(message: str) -> None:
    print(f"cx: {message}", file=sys.stderr, flush=True)


def open_cli_store(args: argparse.Namespace, *, write: bool, create: bool = False) -> Store:
    """The one way a `cx` command opens the store.

    Shared access: the file is held only while the command reads or writes, so the app
    and other `cx` commands keep working; a command waits (telling stderr after ~1.5 s)
    while another program writes, up to --wait / $CX_STORE_TIMEOUT / 60 s. A path that
    does not exist is refused unless `create` (only `cx init` and `cx sample`). Read-only
    commands (write=False) cannot write by mistake. StoreError, DuckDB and OS errors are
    turned into one line with exit 2 by `dashboard.cli.main`.
    """
    from metrics.store import default_db_path, open_store

    return open_store(
        getattr(args, "db", None) or default_db_path(),
        shared=True,
        read_only=not write,
        create=create,
        timeout=getattr(args, "wait", None),
        on_wait=_notice,
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity: undefined figures are null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(obj: Any) -> str:
    return json.dumps(_clean(obj), default=_default, ensure_ascii=False, indent=2)


def print_json(obj: Any) -> None:
    sys.stdout.write(to_json(obj) + "\n")


def parse_numbers(text: str, *, count: int | None, what: str, integer: bool = False) -> list[float]:
    """Parse "N,X" style arguments with a message naming the option and what was expected."""
    parts = [p.strip() for p in text.split(",")]
    if count is not None and len(parts) != count:
        raise CliError(f"{what}: expected {count} comma-separated numbers, got {text!r}")
    out: list[float] = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise CliError(f"{what}: {p!r} is not a number (in {text!r})") from None
        if integer:
            if not v.is_integer():
                raise CliError(f"{what}: {p!r} must be a whole number (in {text!r})")
            v = int(v)
        out.append(v)
    return out
