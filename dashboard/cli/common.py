"""Shared pieces of the `cx` commands: options, output, and errors a person can act on."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any


class CliError(Exception):
    """An error to print as one clear line (no traceback) before exiting non-zero."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None,
        help="DuckDB store file (default: $CX_DB or data/cx.duckdb)",
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
