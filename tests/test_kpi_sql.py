"""Compiled KPI SQL: snapshots (so a change of meaning shows in review) and the Spark dialect.

Regenerate the snapshots after an intended change with
`CX_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_kpi_sql.py` and review the diff.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlglot

from metrics.catalogue import KPI_NAMES
from metrics.compiler import compile_request, to_dialect
from metrics.kpi_query import KpiRequest
from metrics.settings import KpiSettings

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("CX_UPDATE_SNAPSHOTS") == "1"

WINDOW = {"date_from": date(2026, 9, 1), "date_to": date(2026, 10, 1)}
SHAPES: dict[str, KpiRequest] = {
    **{f"kpi_{k}": KpiRequest(kpis=(k,), **WINDOW) for k in KPI_NAMES},
    "shape_overview_all": KpiRequest(**WINDOW),
    "shape_by_channel_week_filtered": KpiRequest(
        kpis=("nps", "fcr", "frt_live_median", "channel_mix", "churn_by_satisfaction"),
        by=("channel",),
        grain="week",
        filters={"segment": ("consumer", "business")},
        **WINDOW,
    ),
    "shape_churn_by_segment_month": KpiRequest(
        kpis=("churn_rate",), by=("segment",), grain="month"
    ),
}


def _compiled(request: KpiRequest) -> list:
    return compile_request(
        request.kpis,
        request.by,
        request.grain,
        request.date_from,
        request.date_to,
        request.filters,
        KpiSettings(),  # type: ignore[arg-type]
    )


def _render(request: KpiRequest) -> str:
    parts = []
    for q in _compiled(request):
        pretty = sqlglot.transpile(q.sql, read="duckdb", write="duckdb", pretty=True)[0]
        parts.append(
            f"-- source: {q.source}; kpis: {', '.join(q.kpis)}; "
            f"params: {', '.join(sorted(q.params))}\n{pretty};\n"
        )
    return "\n".join(parts)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_compiled_sql_matches_snapshot(name: str) -> None:
    text = _render(SHAPES[name])
    path = SNAPSHOTS / f"{name}.sql"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"no snapshot {path}; run with CX_UPDATE_SNAPSHOTS=1 to create it")
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"compiled SQL of {name} changed; if intended, regenerate with CX_UPDATE_SNAPSHOTS=1"
    )


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_compiled_sql_transpiles_to_spark_without_errors(name: str) -> None:
    for q in _compiled(SHAPES[name]):
        spark = to_dialect(q.sql, "spark", strict=True)
        tree = sqlglot.parse_one(spark, read="spark")  # Spark's own parser accepts it
        assert tree is not None
        # Portable forms: no DuckDB-only functions, no FILTER, parameters as :name.
        upper = spark.upper()
        for duck_only in ("QUANTILE_CONT", "EPOCH(", "FILTER (", "$"):
            assert duck_only not in upper, (duck_only, spark)
        for param in q.params:
            assert f":{param}" in spark


def test_compiled_sql_binds_filter_values_never_inlines_them() -> None:
    request = KpiRequest(kpis=("nps",), filters={"channel": ("x'); DROP TABLE contacts; --",)})
    (q,) = _compiled(request)
    assert "DROP TABLE" not in q.sql
    assert q.params["f0_0"] == "x'); DROP TABLE contacts; --"


def test_compiled_sql_one_query_per_source_for_overview() -> None:
    sources = [(q.source, q.kpis) for q in _compiled(KpiRequest(**WINDOW))]
    # One scan per source; channel_mix apart (its denominator is a window over the groups).
    assert [s for s, _ in sources] == ["surveys", "contacts", "contacts", "customer_months"]
    assert sum(len(k) for _, k in sources) == len(KPI_NAMES)


def test_plan_merges_periods_and_breakdowns_into_grouping_sets() -> None:
    from metrics.compiler import plan

    now = KpiRequest(kpis=("nps", "churn_by_satisfaction"), **WINDOW)
    before = KpiRequest(
        kpis=("nps", "churn_by_satisfaction"), date_from=date(2026, 8, 2), date_to=date(2026, 9, 1)
    )
    ((q, uses),) = plan([now, before], KpiSettings())
    assert q.sets == ((), ("satisfaction_band",))
    assert q.windows == (
        (date(2026, 9, 1), date(2026, 10, 1)),
        (date(2026, 8, 2), date(2026, 9, 1)),
    )
    assert (
        "GROUPING SETS" in q.sql and "GROUPING(satisfaction_band) AS g__satisfaction_band" in q.sql
    )
    assert [(u.request, u.set, u.window) for u in uses] == [
        (0, (), 0),
        (0, ("satisfaction_band",), 0),
        (1, (), 1),
        (1, ("satisfaction_band",), 1),
    ]


def test_plan_merges_a_breakdown_of_one_period_into_the_shared_statement() -> None:
    from metrics.compiler import plan

    now = KpiRequest(kpis=("nps", "churn_by_satisfaction"), **WINDOW)
    before = KpiRequest(kpis=("nps",), date_from=date(2026, 8, 2), date_to=date(2026, 9, 1))
    by_channel = KpiRequest(kpis=("nps",), by=("channel",), **WINDOW)
    ((q, uses),) = plan([now, before, by_channel], KpiSettings())
    assert q.sets == ((), ("satisfaction_band",), ("channel",))
    assert q.windows == (
        (date(2026, 9, 1), date(2026, 10, 1)),
        (date(2026, 8, 2), date(2026, 9, 1)),
    )
    assert "GROUPING(channel) AS g__channel" in q.sql
    assert [(u.request, u.set, u.window) for u in uses] == [
        (0, (), 0),
        (0, ("satisfaction_band",), 0),
        (1, (), 1),
        (2, ("channel",), 0),
    ]


def test_plan_keeps_a_quantile_breakdown_of_one_period_out_of_the_others_statement() -> None:
    """The Overview's contacts: the current period also by channel, the previous one not. One
    statement for both would compute the previous period's quantiles by channel (for nobody);
    with two grouping sets the quantiles go apart from the other KPIs (see _holistic_apart)."""
    from metrics.compiler import plan

    now = KpiRequest(kpis=("resolution_time", "aht"), **WINDOW)
    before = KpiRequest(
        kpis=("resolution_time", "aht"), date_from=date(2026, 8, 2), date_to=date(2026, 9, 1)
    )
    by_channel = KpiRequest(kpis=("resolution_time",), by=("channel",), **WINDOW)
    statements = plan([now, before, by_channel], KpiSettings())
    cur, prev = ((date(2026, 9, 1), date(2026, 10, 1)),), ((date(2026, 8, 2), date(2026, 9, 1)),)
    assert [(q.kpis, q.sets, q.windows) for q, _ in statements] == [
        (("aht",), ((), ("channel",)), cur),
        (("resolution_time",), ((), ("channel",)), cur),
        (("aht", "resolution_time"), ((),), prev),
    ]
    assert [[(u.request, u.kpis, u.set, u.window) for u in uses] for _, uses in statements] == [
        [(0, ("aht",), (), 0)],
        [(0, ("resolution_time",), (), 0), (2, ("resolution_time",), ("channel",), 0)],
        [(1, ("resolution_time", "aht"), (), 0)],
    ]
    assert "GROUPING" not in statements[2][0].sql


def test_plan_computes_no_quantile_grid_for_a_window_without_intervals() -> None:
    """The Overview's comparison window shows values and deltas only: its quantiles are
    computed at their levels (median and p90 of one time in one aggregate), not on the grid."""
    from metrics.compiler import plan

    now = KpiRequest(kpis=("frt_live_median", "frt_live_p90", "aht"), by=("channel",), **WINDOW)
    before = KpiRequest(
        kpis=("frt_live_median", "frt_live_p90", "aht"),
        date_from=date(2026, 8, 2),
        date_to=date(2026, 9, 1),
        intervals=False,
    )
    statements = [q for q, _ in plan([now, before], KpiSettings())]
    prev = [q for q in statements if q.windows == ((date(2026, 8, 2), date(2026, 9, 1)),)]
    (q,) = prev
    assert "QUANTILE_CONT(" in q.sql and ", [0.5, 0.9]) AS frt_live_median__v" in q.sql
    assert "__g" not in q.sql and "0.49" not in q.sql
    assert all("__v" not in s.sql for s in statements if s is not q)


def test_quantiles_over_several_grouping_sets_read_their_value_projected_once() -> None:
    """Median and p90 of one time share one projected value and one aggregate per set; a
    statement with one set keeps the CASE inside the aggregate."""
    from metrics.compiler import plan

    kpis = ("frt_live_median", "frt_live_p90", "resolution_time")
    now = KpiRequest(kpis=kpis, **WINDOW)
    by_channel = KpiRequest(kpis=kpis, by=("channel",), **WINDOW)
    ((q, _),) = plan([now, by_channel], KpiSettings())
    assert q.sets == ((), ("channel",))
    assert "measured AS (SELECT *, CASE WHEN (first_response_s IS NOT NULL" in q.sql
    assert "QUANTILE_CONT(v__0, [" in q.sql and "QUANTILE_CONT(v__1, [" in q.sql
    assert "v__2" not in q.sql and "QUANTILE_CONT(CASE" not in q.sql
    ((single, _),) = plan([now], KpiSettings())
    assert "measured" not in single.sql and "QUANTILE_CONT(CASE WHEN" in single.sql


def test_compiled_sql_repeat_lookup_only_when_fcr_or_repeats_are_asked() -> None:
    (q,) = _compiled(KpiRequest(kpis=("aht",)))
    assert "next_gap_s" not in q.sql and "customers" not in q.sql
    (q,) = _compiled(KpiRequest(kpis=("fcr",), date_from=date(2026, 9, 1)))
    # The precomputed gaps, compared with the window setting; no self-join, no window sort.
    assert "c.next_gap_s <= $fcr_window_s" in q.sql
    assert " JOIN " not in q.sql and " OVER " not in q.sql
    assert q.params["fcr_window_s"] == 7 * 86400.0


def test_compiled_sql_window_bounds_are_local_midnights_in_utc() -> None:
    (q,) = _compiled(
        KpiRequest(kpis=("aht",), date_from=date(2026, 3, 1), date_to=date(2026, 4, 1))
    )
    # Stockholm: CET (UTC+1) on 1 March, CEST (UTC+2) on 1 April.
    assert q.params["date_from"] == datetime(2026, 2, 28, 23, 0)
    assert q.params["date_to"] == datetime(2026, 3, 31, 22, 0)


def test_compiled_period_converts_to_local_time_and_transpiles_to_spark() -> None:
    (q,) = _compiled(KpiRequest(kpis=("aht",), grain="month"))
    assert q.params["tz"] == "Europe/Stockholm"
    spark = to_dialect(q.sql, "spark")
    assert "FROM_UTC_TIMESTAMP" in spark and "AT TIME ZONE" not in spark


def test_compiler_refuses_identifiers_outside_the_catalogue() -> None:
    from metrics.compiler import compile_group

    with pytest.raises(ValueError, match="not a dimension of contacts: channel; DROP"):
        compile_group(("aht",), ("channel; DROP",), None, None, None, (), KpiSettings())
    with pytest.raises(ValueError, match="grain 'year; --'"):
        compile_group(("aht",), (), "year; --", None, None, (), KpiSettings())


@pytest.mark.parametrize("kpi", ["csat", "frt_live_median", "nps", "fcr"])
def test_drill_rows_sql_binds_cell_values_and_transpiles_to_spark(kpi: str) -> None:
    from metrics.compiler import compile_rows

    q = compile_rows(
        kpi,
        (("channel", "x'); DROP TABLE contacts; --"), ("team", None)),
        "quarter",
        date(2026, 7, 1),
        date(2026, 9, 1),
        date(2026, 10, 1),
        (("segment", ("business",)),),
        KpiSettings(),
        50,
    )
    assert "DROP TABLE" not in q.sql and "team IS NULL" in q.sql
    assert q.params["c0"] == "x'); DROP TABLE contacts; --" and q.sql.endswith("LIMIT 50")
    spark = to_dialect(q.sql, "spark", strict=True)
    assert sqlglot.parse_one(spark, read="spark") is not None
    assert "$" not in spark and "QUANTILE_CONT" not in spark.upper()
    for param in q.params:
        assert f":{param}" in spark
    # Exactly the listed columns: never a free-text or person column (comment, extras, agent).
    from metrics.compiler import ROW_COLUMNS

    shown = [e.alias_or_name for e in sqlglot.parse_one(q.sql, read="duckdb").selects]
    source = "contacts" if kpi in ("frt_live_median", "fcr") else "surveys"
    measure = "kpi_counts" if kpi in ("csat", "fcr") else "kpi_value"
    assert shown == [*ROW_COLUMNS[source], "segment", measure, "total__"]
