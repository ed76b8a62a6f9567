"""Drill-down: the contacts or survey responses behind one KPI cell, with their total count.

    drill_rows(store, DrillRequest(kpi="csat", cell=(("channel", "chat"),),
               date_from=date(2026, 9, 1), date_to=date(2026, 10, 1)))

The rows are exactly those the cell's n counts: the SQL comes from the compiler
(compiler.compile_rows) with the KPI statement's base, window, filters and period expression,
so a share recomputed from `kpi_counts` or a median from `kpi_value` equals the cell's value.
Only ids, categories, times, measures and flags are returned (metrics.compiler.ROW_COLUMNS):
personal data is hashed at ingest, and free text (comments, extras) and agent ids are left
out. At most `limit` rows come back; `total` says how many the cell holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from metrics.catalogue import CATALOGUE
from metrics.compiler import compile_rows
from metrics.engine import engine_for
from metrics.kpi_query import Filters, KpiRequest, KpiRequestError
from metrics.settings import load_settings
from metrics.store import Store

DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000


@dataclass(frozen=True)
class DrillRequest:
    """One KPI cell: the KPI, its breakdown values, its period at a grain, dates and filters.

    cell: ((dimension, value), ...) of the breakdown row (value None = missing); period: the
    period start of a trend row at `grain`; dates [date_from, date_to) and filters as in
    KpiRequest. Hashable, so the app can cache it.
    """

    kpi: str
    cell: tuple[tuple[str, str | None], ...] = ()
    grain: str | None = None
    period: date | None = None
    date_from: date | None = None
    date_to: date | None = None
    filters: Filters = field(default=())
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        # The KPI request's own checks and normal form (unknown KPI, filters it cannot take).
        kpi_request = KpiRequest(kpis=(self.kpi,), filters=self.filters)
        object.__setattr__(self, "filters", kpi_request.filter_items)
        object.__setattr__(self, "cell", tuple((str(d), v) for d, v in self.cell))
        kpi = CATALOGUE[self.kpi]
        bad = [d for d, _ in self.cell if d not in kpi.dimensions]
        if bad:
            raise KpiRequestError(
                f"{self.kpi} cannot be cut or filtered by {', '.join(dict.fromkeys(bad))} "
                f"(allowed: {', '.join(kpi.dimensions)})"
            )
        if (self.period is None) != (self.grain is None):
            raise KpiRequestError("a period needs its grain, and a grain its period")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise KpiRequestError(f"limit must be 1..{MAX_LIMIT}, got {self.limit}")


@dataclass(frozen=True)
class DrillResult:
    """Up to `limit` rows of a cell, and how many the cell holds in all."""

    rows: pl.DataFrame
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > self.rows.height


def drill_rows(store: Store, request: DrillRequest) -> DrillResult:
    """The rows behind `request`'s cell (see the module docstring), newest limit last."""
    q = compile_rows(
        request.kpi,
        request.cell,
        request.grain,
        request.period,
        request.date_from,
        request.date_to,
        request.filters,
        load_settings(store),
        request.limit,
    )
    frame = engine_for(store).query(q.sql, q.params)
    total = int(frame["total__"][0]) if frame.height else 0
    return DrillResult(frame.drop("total__"), total)


def drillable(kpi: str) -> bool:
    """Whether a KPI's cells are made of rows one can list (contacts or survey responses)."""
    k = CATALOGUE[kpi]
    return k.source in ("contacts", "surveys") and k.measure.aggregation != "mix"
