"""metrics.dialect.to_dialect and metrics.engine without a Spark server (the text and the wiring).

What each Spark rewrite changes is pinned here; that each one is NEEDED (Spark fails or
differs without it) is shown on a real server by tests/test_spark_engines.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
import sqlglot

from metrics.dialect import SPARK_REWRITES, spark_sql, to_dialect
from metrics.engine import DuckDBEngine, EngineConfig, EngineError, engine_for, set_engine


def test_to_dialect_duckdb_returns_the_reference_sql_unchanged() -> None:
    sql = "SELECT QUANTILE_CONT(x, 0.5), EPOCH(t), 25.0 FROM generate_series(1, $n) AS g(x)"
    assert to_dialect(sql, "duckdb") is sql


def test_to_dialect_unknown_engine_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown engine 'oracle'; expected one of duckdb, spark"):
        to_dialect("SELECT 1", "oracle")


def test_spark_quantile_becomes_percentile() -> None:
    out = to_dialect("SELECT QUANTILE_CONT(x, 0.9) FROM t", "spark")
    assert "PERCENTILE(x, CAST(0.9 AS DOUBLE))" in out
    assert "PERCENTILE_CONT" not in out.upper()
    assert "PERCENTILE_CONT(x, CAST(0.9 AS DOUBLE))" in spark_sql(
        "SELECT QUANTILE_CONT(x, 0.9) FROM t", without=("percentile",)
    )


def test_spark_epoch_keeps_fractional_seconds() -> None:
    out = to_dialect("SELECT EPOCH(t) FROM x", "spark")
    assert out == (
        "SELECT UNIX_MICROS(CAST(t AS TIMESTAMP_LTZ)) / CAST(1000000 AS DOUBLE) FROM x"
    ), out
    assert "UNIX_TIMESTAMP(t)" in spark_sql("SELECT EPOCH(t) FROM x", without=("epoch",))


def test_spark_decimal_literals_become_doubles_integers_and_strings_do_not() -> None:
    out = to_dialect("SELECT (csat - 1) * 25.0, 2, '3.5', 1e3, CAST(0.5 AS DOUBLE) FROM s", "spark")
    assert "(csat - 1) * CAST(25.0 AS DOUBLE)" in out
    assert "CAST(1e3 AS DOUBLE)" in out
    assert ", 2," in out and "'3.5'" in out
    assert "CAST(CAST(0.5" not in out  # already typed: left alone


def test_spark_month_series_becomes_explode_of_sequence_over_dates() -> None:
    sql = (
        "SELECT CAST(g.m AS DATE) AS d FROM generate_series(CAST($a AS TIMESTAMP), "
        "CAST($b AS TIMESTAMP), INTERVAL 1 MONTH) AS g(m)"
    )
    out = to_dialect(sql, "spark")
    assert (
        "FROM (SELECT EXPLODE(SEQUENCE(CAST(:a AS DATE), CAST(:b AS DATE), INTERVAL '1' MONTH)) "
        "AS m) AS g" in out
    ), out
    assert "_u(" in spark_sql(sql, without=("series",))  # what Spark refused


def test_spark_range_end_is_exclusive_like_duckdb() -> None:
    out = to_dialect("SELECT k.x FROM range(0, $n) AS k(x)", "spark")
    assert "SEQUENCE(0, :n - 1)" in out
    out = to_dialect("SELECT k.x FROM generate_series(0, $n) AS k(x)", "spark")
    assert "SEQUENCE(0, :n)" in out


def test_spark_series_without_a_column_alias_is_refused() -> None:
    with pytest.raises(ValueError, match=r"AS g\(x\)"):
        to_dialect("SELECT * FROM generate_series(1, 3)", "spark")


def test_spark_named_parameters_become_colon_names() -> None:
    out = to_dialect("SELECT * FROM t WHERE a >= $date_from AND b IN ($f0_0, $f0_1)", "spark")
    assert ":date_from" in out and ":f0_0" in out and "$" not in out


def test_every_rewrite_is_listed_and_pinned() -> None:
    assert set(SPARK_REWRITES) == {"percentile", "epoch", "double_literals", "series"}


def _captured_statements(sample_store) -> list[tuple[str, dict]]:
    """Every fact-table statement the KPI, readout, churn and CLV paths send to the engine."""
    from experiments.metric_defs import METRICS
    from experiments.readout_sql import Window, baseline_stats, query_stats
    from metrics import churn, clv
    from metrics.periods import overview

    real = DuckDBEngine(sample_store)
    seen: list[tuple[str, dict]] = []

    class Spy:
        name = "duckdb"

        def query(self, sql, params=None, *, uploads=None):
            seen.append((sql, dict(params or {})))
            return real.query(sql, params, uploads=uploads)

        def cache_token(self) -> tuple:
            return ()

    set_engine(sample_store, Spy())
    try:
        overview(sample_store, date(2026, 9, 1), date(2026, 10, 1))
        query_stats(
            sample_store,
            "callback_vs_queue",
            list(METRICS.values()),
            Window.from_dates(date(2026, 4, 1), None),
            segments=("channel", "segment"),
        )
        baseline_stats(sample_store, METRICS["repeat_contact_rate"])
        churn.churn_breakdowns(sample_store)
        churn.retention_by_cohort(sample_store)
        clv.simple_clv(sample_store)
    finally:
        set_engine(sample_store, None)
    return seen


def test_fact_statements_use_named_parameters_and_no_duckdb_only_helpers(sample_store) -> None:
    statements = _captured_statements(sample_store)
    assert len(statements) >= 15
    for sql, params in statements:
        # Positional `?` cannot be bound by name (Spark) and a repeated one failed there.
        assert not re.search(r"\?", sql), sql
        for helper in ("to_months", "INTERVAL (", "range("):
            assert helper not in sql, (helper, sql)
        for name in params:
            assert f"${name}" in sql, (name, sql)
        spark = to_dialect(sql, "spark", strict=True)
        assert sqlglot.parse_one(spark, read="spark") is not None


def test_readout_open_window_ends_before_2262() -> None:
    from experiments.readout_sql import OPEN_END, Window

    assert Window.from_dates(date(2026, 1, 1), None).end == OPEN_END
    assert datetime(2262, 4, 11) > OPEN_END


def test_duckdb_engine_rows_equal_the_cursor_rows(sample_store) -> None:
    from metrics.compiler import compile_request
    from metrics.settings import KpiSettings

    (q, *_) = compile_request(
        ("nps", "csat"),
        ("channel",),
        "week",
        date(2026, 7, 1),
        date(2026, 10, 1),
        (),
        KpiSettings(),
    )
    cur = sample_store.cursor()
    cur.execute(q.sql, q.params)
    direct = cur.fetchall()
    via = DuckDBEngine(sample_store).query(q.sql, q.params).rows()
    assert len(direct) > 10
    assert via == direct  # bit-identical: the same values, not merely close


def test_engine_config_from_env_defaults_to_duckdb(store) -> None:
    assert EngineConfig.from_env({}).name == "duckdb"
    assert isinstance(engine_for(store), DuckDBEngine)


def test_engine_config_reads_the_spark_settings() -> None:
    cfg = EngineConfig.from_env(
        {
            "CX_ENGINE": "Spark",
            "CX_SPARK_REMOTE": "sc://db.example:15002/;token=x",
            "CX_SPARK_CATALOG": "main",
            "CX_SPARK_SCHEMA": "cx",
            "CX_SPARK_CACHE_TTL": "60",
        }
    )
    assert (cfg.name, cfg.catalog, cfg.schema, cfg.cache_ttl_s) == ("spark", "main", "cx", 60.0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CX_ENGINE": "oracle"}, "CX_ENGINE must be one of duckdb, spark, got 'oracle'"),
        (
            {"CX_ENGINE": "spark", "CX_SPARK_REMOTE": "http://x:15002"},
            "CX_SPARK_REMOTE must be a Spark Connect URL sc://host:port, got 'http://x:15002'",
        ),
        ({"CX_SPARK_CACHE_TTL": "soon"}, "CX_SPARK_CACHE_TTL must be a positive number"),
    ],
)
def test_engine_config_bad_values_say_what_is_expected(env: dict, message: str) -> None:
    with pytest.raises(EngineError, match=re.escape(message)):
        EngineConfig.from_env(env)


def test_spark_engine_unreachable_server_is_one_line_error() -> None:
    from metrics.engine import SparkEngine

    pytest.importorskip("pyspark.sql.connect")
    engine = SparkEngine(EngineConfig(name="spark", remote="sc://127.0.0.1:9"))
    with pytest.raises(EngineError, match=r"^cannot use the Spark Connect server sc://127.0.0.1:9"):
        engine.query("SELECT 1")


def test_spark_params_send_naive_datetimes_as_utc() -> None:
    from datetime import UTC

    from metrics.engine import _spark_value

    assert _spark_value(datetime(2026, 1, 1, 10)) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert _spark_value(date(2026, 1, 1)) == date(2026, 1, 1)
    assert _spark_value(None) is None
