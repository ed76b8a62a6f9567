"""Where fact-table SQL runs: the local DuckDB store (default) or a Spark Connect server.

    CX_ENGINE=duckdb                      (default) the store's own tables
    CX_ENGINE=spark                       the fact tables on a Spark Connect server:
    CX_SPARK_REMOTE=sc://127.0.0.1:15002  its URL (Databricks Connect speaks the same protocol)
    CX_SPARK_CATALOG / CX_SPARK_SCHEMA    where customers, contacts, surveys, invoices live
    CX_SPARK_CACHE_TTL=300                seconds the app keeps an aggregated Spark result

Only fact tables (customers, contacts, surveys, invoices) are read through the engine: the
KPI runner, the readout statistics and the churn/CLV queries. Settings, targets,
experiments, assignments and caches stay in the local store; a statement that joins a local
table (the readout's assignments) names it in `uploads`, and the Spark engine sends that
small table along as a temporary view. Every statement leaves through `to_dialect`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import polars as pl

from metrics.dialect import DIALECTS, to_dialect
from metrics.store import Store

DEFAULT_REMOTE = "sc://127.0.0.1:15002"
DEFAULT_TTL_S = 300.0
FACT_TABLES: tuple[str, ...] = ("customers", "contacts", "surveys", "invoices")

# A small local table a statement joins with, built only when the engine needs it.
Uploads = Mapping[str, Callable[[], pl.DataFrame]]


class EngineError(RuntimeError):
    """A configuration or connection problem a person can act on (one line, no traceback)."""


class Engine(Protocol):
    """Runs one reference SQL statement with named parameters; returns the whole result."""

    name: str

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, uploads: Uploads | None = None
    ) -> pl.DataFrame: ...

    def cache_token(self) -> tuple:
        """Changes when cached aggregates of this engine's tables must be recomputed."""
        ...


@dataclass(frozen=True)
class EngineConfig:
    """The engine settings, from the environment (see the module docstring)."""

    name: str = "duckdb"
    remote: str = DEFAULT_REMOTE
    catalog: str | None = None
    schema: str | None = None
    cache_ttl_s: float = DEFAULT_TTL_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineConfig:
        env = os.environ if env is None else env
        name = (env.get("CX_ENGINE") or "duckdb").strip().lower()
        if name not in DIALECTS:
            raise EngineError(f"CX_ENGINE must be one of {', '.join(DIALECTS)}, got {name!r}")
        raw_ttl = env.get("CX_SPARK_CACHE_TTL") or str(DEFAULT_TTL_S)
        try:
            ttl = float(raw_ttl)
        except ValueError:
            ttl = -1.0
        if not ttl > 0:
            raise EngineError(
                f"CX_SPARK_CACHE_TTL must be a positive number of seconds, got {raw_ttl!r}"
            )
        remote = (env.get("CX_SPARK_REMOTE") or DEFAULT_REMOTE).strip()
        if name == "spark" and not remote.startswith("sc://"):
            raise EngineError(
                f"CX_SPARK_REMOTE must be a Spark Connect URL sc://host:port, got {remote!r}"
            )
        return cls(
            name=name,
            remote=remote,
            catalog=env.get("CX_SPARK_CATALOG") or None,
            schema=env.get("CX_SPARK_SCHEMA") or None,
            cache_ttl_s=ttl,
        )


class DuckDBEngine:
    """The store's own DuckDB: the reference SQL runs as written."""

    name = "duckdb"

    def __init__(self, store: Store) -> None:
        self.store = store

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, uploads: Uploads | None = None
    ) -> pl.DataFrame:
        # uploads are tables of this very store already. A relation's .pl() fetches every
        # row, so no unread result is left on the thread's cursor (duckdb 2).
        return self.store.cursor().sql(to_dialect(sql, "duckdb"), params=dict(params or {})).pl()

    def cache_token(self) -> tuple:
        return ("duckdb", str(self.store.path), self.store.data_version())


def _spark_value(value: Any) -> Any:
    """A parameter as Spark Connect binds it.

    A naive datetime (the store's TIMESTAMPs have no zone) is sent as UTC: the client
    otherwise reads it in the client machine's local zone, and the session runs in UTC.
    """
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, float | int | str | bool | date | datetime) or value is None:
        return value
    return str(value)


def _naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Zoned timestamps (Spark's TIMESTAMP) as naive UTC, as DuckDB returns them."""
    zoned = [
        name
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    if not zoned:
        return frame
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None) for c in zoned
    )


class SparkEngine:
    """Fact tables on a Spark Connect server; the thin `pyspark-client` is imported lazily."""

    name = "spark"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._session: Any = None
        self._lock = threading.RLock()

    def session(self) -> Any:
        """The Spark Connect session (created on first use, pinned to UTC)."""
        with self._lock:
            if self._session is not None:
                return self._session
            try:
                from pyspark.sql import SparkSession
            except ImportError as exc:
                raise EngineError(
                    "CX_ENGINE=spark needs the Spark Connect client: "
                    "pip install 'cx-console[spark]' (pyspark-client, no Java)"
                ) from exc
            _check_reachable(self.config.remote)
            try:
                spark = SparkSession.builder.remote(self.config.remote).getOrCreate()
                # The reference SQL's timestamps carry no zone (DuckDB TIMESTAMP); UTC keeps
                # Spark's conversions of them offset-free (see dialect._epoch).
                spark.conf.set("spark.sql.session.timeZone", "UTC")
                if self.config.catalog:
                    spark.catalog.setCurrentCatalog(self.config.catalog)
                if self.config.schema:
                    spark.catalog.setCurrentDatabase(self.config.schema)
            except Exception as exc:  # grpc / Spark errors: one line a person can act on
                raise EngineError(
                    f"cannot use the Spark Connect server {self.config.remote}: {_first_line(exc)}"
                ) from exc
            self._session = spark
            return spark

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, uploads: Uploads | None = None
    ) -> pl.DataFrame:
        spark = self.session()
        args = {k: _spark_value(v) for k, v in (params or {}).items()}
        text = to_dialect(sql, "spark")
        # Temporary views are per session: one statement with uploads at a time.
        with self._lock if uploads else _NO_LOCK:
            for name, make in (uploads or {}).items():
                spark.createDataFrame(make().to_arrow()).createOrReplaceTempView(name)
            table = spark.sql(text, args=args).toArrow()
        frame = pl.from_arrow(table)
        if not isinstance(frame, pl.DataFrame):  # from_arrow gives a Series only for an array
            raise TypeError(f"Spark returned {type(table).__name__}, not a table")
        return _naive_utc(frame)

    def cache_token(self) -> tuple:
        # Spark tables have no cheap version counter common to parquet, Delta and views:
        # cached aggregates live for one TTL bucket (CX_SPARK_CACHE_TTL, default 5 min).
        bucket = int(time.time() // self.config.cache_ttl_s)
        return ("spark", self.config.remote, self.config.catalog, self.config.schema, bucket)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


def _check_reachable(remote: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at the URL: the gRPC client would retry for minutes."""
    hostport = remote.removeprefix("sc://").split("/", 1)[0].split(";", 1)[0]
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "15002")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise EngineError(
            f"cannot use the Spark Connect server {remote}: nothing answers at "
            f"{host}:{port} ({exc.__class__.__name__}); is the server running?"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


_SPARK: dict[EngineConfig, SparkEngine] = {}
_SPARK_LOCK = threading.Lock()
_OVERRIDES: weakref.WeakKeyDictionary[Store, Engine] = weakref.WeakKeyDictionary()


def spark_engine(config: EngineConfig) -> SparkEngine:
    """One SparkEngine (one Spark Connect session) per configuration and process."""
    with _SPARK_LOCK:
        if config not in _SPARK:
            _SPARK[config] = SparkEngine(config)
        return _SPARK[config]


def set_engine(store: Store, engine: Engine | None) -> None:
    """Route `store`'s fact-table queries to `engine` (None: back to the environment's)."""
    if engine is None:
        _OVERRIDES.pop(store, None)
    else:
        _OVERRIDES[store] = engine


def engine_cache_token() -> tuple:
    """What the app's cache keys add for the configured engine, without touching the store.

    DuckDB: nothing (the store's own version token already changes with every write).
    Spark: the server, catalog, schema and the current TTL bucket (CX_SPARK_CACHE_TTL): a
    lake table changes without telling this process, so cached aggregates expire instead.
    """
    config = EngineConfig.from_env()
    if config.name == "spark":
        return spark_engine(config).cache_token()
    return ()


def engine_for(store: Store) -> Engine:
    """The engine that answers fact-table queries for `store` (CX_ENGINE, or set_engine's)."""
    override = _OVERRIDES.get(store)
    if override is not None:
        return override
    config = EngineConfig.from_env()
    if config.name == "spark":
        return spark_engine(config)
    return DuckDBEngine(store)
