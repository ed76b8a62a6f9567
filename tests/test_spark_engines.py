"""The same statements on DuckDB and on a real Spark Connect server: same numbers.

Run by `make test-spark` (it starts a local Spark Connect server and sets CX_SPARK_REMOTE);
marked `spark`, so `make test` leaves them out. The seeded sample world is loaded into Spark
as parquet tables; every KPI shape of the snapshot tests, the readout statistics of each
metric family and the churn/CLV statements run on both engines and are compared: integers,
strings, dates and booleans exactly, doubles (and decimals) within 1e-12.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.spark

SCHEMA = "cx_spark_test"
TOL = 1e-12


@pytest.fixture(scope="module")
def engines(sample_db: Path, tmp_path_factory: pytest.TempPathFactory):
    """(store, DuckDB engine, Spark engine) over the same sample world."""
    remote = os.environ.get("CX_SPARK_REMOTE")
    if not remote:
        if os.environ.get("CX_SPARK_REQUIRED") == "1":
            pytest.fail("CX_SPARK_REQUIRED=1 but CX_SPARK_REMOTE is not set")
        pytest.skip("needs a Spark Connect server: run `make test-spark`")
    from metrics.engine import DuckDBEngine, EngineConfig, SparkEngine
    from metrics.lake import export_parquet, spark_tables_sql
    from metrics.store import open_store

    root = tmp_path_factory.mktemp("spark")
    db = root / "cx.duckdb"
    shutil.copy(sample_db, db)
    store = open_store(db)
    folders = export_parquet(store, root / "parquet")
    spark_engine = SparkEngine(EngineConfig(name="spark", remote=remote))
    spark = spark_engine.session()
    for sql in spark_tables_sql(folders, SCHEMA):
        spark.sql(sql)
    spark.catalog.setCurrentDatabase(SCHEMA)
    yield store, DuckDBEngine(store), spark_engine
    store.close()


def _same_value(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):  # quantile grids: element by element
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | Decimal) or isinstance(b, float | Decimal):
        fa, fb = float(a), float(b)  # type: ignore[arg-type]
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=TOL, abs_tol=TOL)
    return a == b


def assert_same(duck: pl.DataFrame, spark: pl.DataFrame, what: str) -> None:
    """Same columns and rows (order-free: Spark sorts NULLs first, DuckDB last)."""
    assert duck.columns == spark.columns, what
    assert duck.height == spark.height, (what, duck.height, spark.height)
    keys = [
        c
        for c, t in duck.schema.items()
        if not (t.is_float() or isinstance(t, pl.Decimal))
        and not (spark.schema[c].is_float() or isinstance(spark.schema[c], pl.Decimal))
    ]
    if keys:
        duck = duck.sort(keys, nulls_last=True)
        spark = spark.sort(keys, nulls_last=True)
    for col in duck.columns:
        for i, (a, b) in enumerate(zip(duck[col].to_list(), spark[col].to_list(), strict=True)):
            assert _same_value(a, b), f"{what}: column {col}, row {i}: DuckDB {a!r} vs Spark {b!r}"


# --------------------------------------------------------------------------- KPI shapes
def _shapes():
    from test_kpi_sql import SHAPES

    return SHAPES


@pytest.mark.parametrize("name", sorted(_shapes()))
def test_every_kpi_shape_same_rows_on_spark_and_duckdb(engines, name: str) -> None:
    from metrics.compiler import compile_request
    from metrics.settings import KpiSettings

    _, duck, spark = engines
    req = _shapes()[name]
    queries = compile_request(
        req.kpis, req.by, req.grain, req.date_from, req.date_to, req.filters, KpiSettings()
    )
    for q in queries:
        d = duck.query(q.sql, q.params)
        assert d.height > 0, f"{name}/{q.source}: the sample gives no rows, nothing compared"
        assert_same(d, spark.query(q.sql, q.params), f"{name}/{q.source}")


def _with_engine(store, engine, fn: Callable, *args, **kwargs):
    from metrics.engine import set_engine

    set_engine(store, engine)
    try:
        return fn(store, *args, **kwargs)
    finally:
        set_engine(store, None)


def test_overview_same_on_spark(engines) -> None:
    # End to end through the planner (GROUPING SETS + window labels) and the finishing maths.
    from metrics.periods import overview

    store, duck, spark = engines
    args = (date(2026, 9, 1), date(2026, 10, 1))
    d_cmp, d_by = _with_engine(store, duck, overview, *args)
    s_cmp, s_by = _with_engine(store, spark, overview, *args)
    assert d_cmp.height >= 15
    assert_same(d_cmp, s_cmp, "overview compare_periods")
    assert_same(d_by, s_by, "overview by channel")


def test_kpi_query_by_week_and_filters_same_on_spark(engines) -> None:
    from metrics.kpi_query import KpiRequest, query_detail

    store, duck, spark = engines
    req = KpiRequest(
        by=("channel",),
        grain="week",
        date_from=date(2026, 7, 1),
        date_to=date(2026, 10, 1),
        filters={"segment": ("consumer",)},
    )
    d = _with_engine(store, duck, query_detail, req)
    assert d.height > 50
    assert_same(d, _with_engine(store, spark, query_detail, req), "kpis by channel and week")


# --------------------------------------------------------------------------- readouts
FAMILIES = {
    "ratio": ("fcr", "csat"),
    "ratio_previous_contact": ("repeat_contact_rate", "resolution_time"),
    "mean": ("contacts_per_customer",),
    "nps": ("nps",),
    "binary": ("churn_rate",),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("segments", [(), ("channel", "segment", "age_band")])
def test_readout_stats_same_on_spark(engines, family: str, segments: tuple) -> None:
    from experiments.metric_defs import METRICS
    from experiments.readout_sql import Window, query_stats

    store, duck, spark = engines
    metrics = [METRICS[m] for m in FAMILIES[family]]
    window = Window.from_dates(date(2026, 4, 1), None)  # an open end: the far-future bound
    kw = {"by_day": not segments, "segments": segments}
    d = _with_engine(store, duck, query_stats, "callback_vs_queue", metrics, window, **kw)
    s = _with_engine(store, spark, query_stats, "callback_vs_queue", metrics, window, **kw)
    assert d.height >= 2 and d["n"].sum() > 100
    assert_same(d, s, f"readout {family} {segments}")


@pytest.mark.parametrize("metric", ["fcr", "nps", "contacts_per_customer", "churn_rate"])
def test_planning_baselines_same_on_spark(engines, metric: str) -> None:
    from experiments.metric_defs import METRICS
    from experiments.readout_sql import baseline_stats, eligible_units_per_day

    store, duck, spark = engines
    m = METRICS[metric]
    for fn in (baseline_stats, eligible_units_per_day):
        d = _with_engine(store, duck, fn, m)
        s = _with_engine(store, spark, fn, m)
        assert d.keys() == s.keys()
        for k in d:
            assert _same_value(d[k], s[k]), (fn.__name__, metric, k, d[k], s[k])


# --------------------------------------------------------------------------- churn and CLV
def _churn_calls():
    from metrics import churn, clv

    return {
        "retention_by_cohort": churn.retention_by_cohort,
        "churn_by_tenure": churn.churn_by_tenure,
        "churn_after_invoice": churn.churn_after_invoice,
        "churn_by_last_channel": churn.churn_by_last_channel,
        "simple_clv": clv.simple_clv,
    }


@pytest.mark.parametrize("name", sorted(_churn_calls()))
def test_churn_and_clv_same_on_spark(engines, name: str) -> None:
    store, duck, spark = engines
    fn = _churn_calls()[name]
    d = _with_engine(store, duck, fn)
    assert d.height > 0
    assert_same(d, _with_engine(store, spark, fn), name)


def test_data_bounds_same_on_spark(engines) -> None:
    from metrics.churn import data_end, data_start

    store, duck, spark = engines
    for fn in (data_end, data_start):
        assert _with_engine(store, duck, fn) == _with_engine(store, spark, fn)


# --------------------------------------------------------------------------- the rewrites
def _run_spark(spark_engine, text: str, params: dict):
    from metrics.engine import _naive_utc, _spark_value

    session = spark_engine.session()
    args = {k: _spark_value(v) for k, v in params.items()}
    return _naive_utc(pl.from_arrow(session.sql(text, args=args).toArrow()))


def _fcr_edge_sql() -> tuple[str, dict]:
    # Two contacts 7 days + 0.4 s apart: outside a 7-day repeat window, unless seconds are
    # truncated (UNIX_TIMESTAMP), which puts them exactly 7 days apart.
    sql = (
        "WITH t AS (SELECT CAST($a AS TIMESTAMP) AS x, CAST($b AS TIMESTAMP) AS y) "
        "SELECT SUM(CASE WHEN ABS(EPOCH(y) - EPOCH(x)) <= $w THEN 1 ELSE 0 END) AS n FROM t"
    )
    params = {
        "a": datetime(2026, 9, 1, 10, 0, 0),
        "b": datetime(2026, 9, 8, 10, 0, 0, 400000),
        "w": 7 * 86400.0,
    }
    return sql, params


def _decimal_sql() -> tuple[str, dict]:
    # satisfaction_index averages (csat - 1) * 25.0; with a decimal literal Spark averages
    # in fixed scale and rounds (here 7/9 to 0.7777777).
    return (
        "SELECT AVG(x / 3.0) AS v FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 4) t",
        {},
    )


def _churn_months_sql() -> tuple[str, dict]:
    from metrics.compiler import compile_request
    from metrics.settings import KpiSettings

    (q,) = compile_request(("churn_rate",), (), "month", None, None, (), KpiSettings())
    return q.sql, q.params


def _quantile_sql() -> tuple[str, dict]:
    return "SELECT QUANTILE_CONT(x, 0.9) AS v FROM (SELECT 1 AS x UNION ALL SELECT 4) t", {}


REWRITE_CASES = {
    "epoch": _fcr_edge_sql,
    "double_literals": _decimal_sql,
    "series": _churn_months_sql,
    "percentile": _quantile_sql,
}


@pytest.mark.parametrize("rewrite", sorted(REWRITE_CASES))
def test_each_spark_rewrite_is_needed(engines, rewrite: str) -> None:
    """Without the rewrite Spark fails or returns other numbers; with it, DuckDB's."""
    from metrics.dialect import SPARK_REWRITES, spark_sql

    assert set(REWRITE_CASES) == set(SPARK_REWRITES)
    _, duck, spark = engines
    sql, params = REWRITE_CASES[rewrite]()
    expected = duck.query(sql, params)
    assert_same(expected, spark.query(sql, params), f"{rewrite}: with the rewrite")
    try:
        without = _run_spark(spark, spark_sql(sql, without=(rewrite,)), params)
    except Exception:  # Spark refused the statement: the rewrite is needed
        return
    with pytest.raises(AssertionError):
        assert_same(expected, without, f"{rewrite}: without the rewrite")


# --------------------------------------------------------------------------- the app
def test_overview_page_on_spark_shows_the_duckdb_cards(engines, tmp_path, monkeypatch) -> None:
    """`make run` with CX_ENGINE=spark: the local store holds no facts at all, the page
    reads them from Spark and shows the same cards (values, deltas) as on DuckDB."""
    from conftest import start_page

    from metrics.store import open_store

    store, _, spark = engines
    page = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "overview.py"
    monkeypatch.delenv("CX_ENGINE", raising=False)
    on_duckdb = start_page(page, store.path, monkeypatch)
    local = tmp_path / "settings_only.duckdb"
    open_store(local).close()  # migrated, no facts
    monkeypatch.setenv("CX_ENGINE", "spark")
    monkeypatch.setenv("CX_SPARK_REMOTE", spark.config.remote)
    monkeypatch.setenv("CX_SPARK_SCHEMA", SCHEMA)
    on_spark = start_page(page, local, monkeypatch)

    def cards(at) -> list[tuple]:
        return [(m.label, m.value, m.proto.delta) for m in at.metric]

    assert len(cards(on_duckdb)) >= 10
    assert cards(on_spark) == cards(on_duckdb)
    assert on_spark.caption[0].value == on_duckdb.caption[0].value


# --------------------------------------------------------------------------- the lake
def test_delta_tables_read_by_spark_give_the_duckdb_kpis(engines, tmp_path) -> None:
    """Accepted batches as Delta tables, read by Spark without delta-spark's JARs (those
    come from Maven at run time): the snapshot's parquet files, listed by deltalake."""
    from metrics.compiler import compile_request
    from metrics.lake import delta_files, export_delta
    from metrics.settings import KpiSettings

    store, duck, spark = engines
    paths = export_delta(store, tmp_path / "delta")
    session = spark.session()
    try:
        for name, path in paths.items():  # temporary views shadow the parquet tables
            session.read.parquet(*delta_files(path)).createOrReplaceTempView(name)
        for q in compile_request(
            (), ("channel",), None, date(2026, 9, 1), date(2026, 10, 1), (), KpiSettings()
        ):
            assert_same(duck.query(q.sql, q.params), spark.query(q.sql, q.params), q.source)
    finally:
        for name in paths:
            session.catalog.dropTempView(name)


def test_mapping_views_on_spark_answer_like_the_canonical_table(engines) -> None:
    from metrics.compiler import compile_request
    from metrics.lake import mapping_views
    from metrics.settings import KpiSettings

    store, duck, spark = engines
    session = spark.session()
    # A "company" table with its own names, made from the canonical contacts.
    session.sql(
        f"CREATE OR REPLACE TEMP VIEW tickets AS SELECT contact_id AS ticket_id, "
        f"upper(channel) AS origin, opened_at AS created_ts, handle_s AS handling, "
        f"bot_handled AS bot, abandoned AS hung_up FROM {SCHEMA}.contacts"
    )
    toml = (
        'target_schema = "cx_mapped_test"\n[contacts]\nsource = "tickets"\n[contacts.columns]\n'
        'contact_id = "ticket_id"\nchannel = "lower(origin)"\nopened_at = "created_ts"\n'
        'handle_s = "handling"\nbot_handled = "bot"\nabandoned = "hung_up"\n'
    )
    stmts = mapping_views(toml)
    session.sql(stmts[0])
    # A persistent view cannot read a temporary one: the mapped view is temporary here too.
    session.sql(
        stmts[1].replace("CREATE OR REPLACE VIEW cx_mapped_test.", "CREATE OR REPLACE TEMP VIEW ")
    )
    try:
        (q,) = compile_request(("aht",), ("channel",), None, None, None, (), KpiSettings())
        assert_same(duck.query(q.sql, q.params), spark.query(q.sql, q.params), "mapped aht")
    finally:
        session.catalog.dropTempView("contacts")
        session.catalog.dropTempView("tickets")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_point_in_time_series_same_on_spark(engines, family: str) -> None:
    from experiments.metric_defs import METRICS
    from experiments.readout_sql import Window, query_point_in_time

    store, duck, spark = engines
    metrics = [METRICS[m] for m in FAMILIES[family]]
    window = Window.from_dates(date(2026, 4, 1), date(2026, 6, 30))
    d = _with_engine(store, duck, query_point_in_time, "callback_vs_queue", metrics, window)
    s = _with_engine(store, spark, query_point_in_time, "callback_vs_queue", metrics, window)
    assert d.height >= 2
    # The day's increments are differences of running sums (cum - prev), which amplify the
    # last-bit differences of summation order (2e-10 relative seen): compare what the
    # readout shows, the series cumulated per variant, at the usual 1e-12.
    value_cols = [c for c in d.columns if "__" in c]

    def cumulated(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.sort("variant", "day").with_columns(
            pl.col(value_cols).cum_sum().over("variant")
        )

    assert_same(cumulated(d), cumulated(s), f"point in time {family}")
