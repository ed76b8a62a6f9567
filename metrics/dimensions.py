"""Distinct values of the filter dimensions and the date extent of the data, for the filters."""

from __future__ import annotations

import re
from datetime import date

from metrics.engine import engine_for
from metrics.schema import MIGRATIONS
from metrics.store import Store

# Where each filterable dimension lives. Contact dimensions are on contacts; customer
# dimensions on customers. Checked against the schema text below, never from user input.
DIMENSION_SOURCES: dict[str, tuple[str, str]] = {
    "channel": ("contacts", "channel"),
    "issue_type": ("contacts", "issue_type"),
    "team": ("contacts", "team"),
    "segment": ("customers", "segment"),
    "tier": ("customers", "tier"),
    "region": ("customers", "region"),
    "age_band": ("customers", "age_band"),
}

# The tables and columns whose timestamps say when something happened.
EVENT_TIMES: tuple[tuple[str, str], ...] = (("contacts", "opened_at"), ("surveys", "answered_at"))


def _schema_columns() -> dict[str, set[str]]:
    text = "\n".join(MIGRATIONS)
    tables: dict[str, set[str]] = {}
    for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", text, flags=re.S):
        tables[name] = {m for m in re.findall(r"^\s+(\w+)\s+[A-Z]", body, flags=re.M)}
    return tables


def _check_sources() -> None:
    columns = _schema_columns()
    bad = [
        f"{dim} -> {t}.{c}"
        for dim, (t, c) in DIMENSION_SOURCES.items()
        if c not in columns.get(t, set())
    ] + [f"event time {t}.{c}" for t, c in EVENT_TIMES if c not in columns.get(t, set())]
    if bad:
        raise RuntimeError("dimension sources not in metrics/schema.py: " + ", ".join(bad))


_check_sources()


def distinct_values(store: Store, dimension: str) -> tuple[str, ...]:
    """The sorted non-null values of `dimension` present in the store."""
    if dimension not in DIMENSION_SOURCES:
        raise ValueError(
            f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSION_SOURCES)}"
        )
    table, column = DIMENSION_SOURCES[dimension]
    sql = f"SELECT DISTINCT {column} AS v FROM {table} WHERE {column} IS NOT NULL ORDER BY 1"
    return tuple(str(v) for v in engine_for(store).query(sql)["v"].to_list())


def date_extent(store: Store) -> tuple[date, date] | None:
    """First and last event day (inclusive, business time zone) over contacts and surveys; None
    for an empty store."""
    parts = " UNION ALL ".join(
        f"SELECT min({c}) AS lo, max({c}) AS hi FROM {t}" for t, c in EVENT_TIMES
    )
    # Fact tables: through the engine (DuckDB, or Spark with CX_ENGINE=spark).
    lo, hi = engine_for(store).query(f"SELECT min(lo) AS lo, max(hi) AS hi FROM ({parts}) t").row(0)
    if lo is None or hi is None:
        return None
    # Days in the business time zone (timestamps are stored in UTC).
    from metrics.settings import load_settings, local_day

    tz = load_settings(store).time_zone
    return local_day(lo, tz), local_day(hi, tz)
