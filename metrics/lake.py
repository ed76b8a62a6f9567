"""Fact tables at lake scale: accepted batches as Delta Lake tables, and views over a company's own.

Two ways to give a Spark engine (metrics.engine) the canonical tables:

1. `write_batch_delta(path, table, frame, keys)`: ingest validates a batch locally, then
   MERGEs it into a Delta table on the canonical keys, one Delta commit per batch, so a
   batch is in the table whole or not at all (`pip install 'cx-console[lake]'`).
   Spark reads it with delta-spark where the Delta JARs are installed; DuckDB (and Spark
   without them) read the current snapshot through `delta_arrow` / `delta_files`.
2. `mapping_views(toml_text)`: the company's existing tables, mapped column by column onto
   the canonical names, as `CREATE VIEW` statements to run once on their Spark.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from metrics.store import Store
from metrics.survey_links import LINKED_CONTACT, LINKED_CUSTOMER

FACT_TABLES: tuple[str, ...] = ("customers", "contacts", "surveys", "invoices")
# The canonical keys each fact table is merged on (metrics/schema.py's primary keys).
CANONICAL_KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "contacts": ("contact_id",),
    "surveys": ("response_id",),
    "invoices": ("invoice_id",),
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


class LakeError(ValueError):
    """A batch or mapping the lake cannot take, said in one line (table, column, what)."""


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError as exc:
        raise LakeError(
            "writing Delta Lake tables needs the deltalake package: pip install 'cx-console[lake]'"
        ) from exc
    return deltalake


def _as_arrow(data: pl.DataFrame | pa.Table) -> pa.Table:
    return data.to_arrow() if isinstance(data, pl.DataFrame) else data


def write_batch_delta(
    path: str | Path, table: str, data: pl.DataFrame | pa.Table, keys: Sequence[str]
) -> int:
    """MERGE one accepted batch into the Delta table at `path` on `keys`; its new version.

    Rows whose keys exist are updated, the others inserted, in ONE Delta commit: readers
    see the table before or after the whole batch, never part of it, and a failure leaves
    no commit. The first batch creates the table (also one commit).
    """
    dl = _deltalake()
    arrow = _as_arrow(data)
    missing = [k for k in keys if k not in arrow.column_names]
    if not keys or missing:
        raise LakeError(
            f"{table}: key column(s) {', '.join(missing) or '(none given)'} missing from the "
            f"batch; expected the canonical keys {', '.join(CANONICAL_KEYS.get(table, keys))}"
        )
    frame = pl.from_arrow(arrow)
    assert isinstance(frame, pl.DataFrame)
    nulls = [k for k in keys if frame[k].null_count()]
    if nulls:
        raise LakeError(f"{table}: key column {nulls[0]} has empty values; every row needs a key")
    dupes = frame.group_by(list(keys)).len().filter(pl.col("len") > 1)
    if dupes.height:
        first = dupes.row(0, named=True)
        shown = ", ".join(f"{k}={first[k]!r}" for k in keys)
        raise LakeError(
            f"{table}: {dupes.height} key(s) repeated within the batch (first: {shown}); "
            "a batch must hold each key once"
        )
    target = str(path)
    if not dl.DeltaTable.is_deltatable(target):
        dl.write_deltalake(target, arrow, mode="error", name=table)
        return dl.DeltaTable(target).version()
    predicate = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    (
        dl.DeltaTable(target)
        .merge(arrow, predicate=predicate, source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    return dl.DeltaTable(target).version()


def lake_dir() -> Path | None:
    """CX_LAKE_DIR: where ingest also writes accepted batches as Delta tables (unset: nowhere)."""
    raw = os.environ.get("CX_LAKE_DIR", "").strip()
    return Path(raw) if raw else None


def publish_batch(cur: Any, directory: str | Path, table: str, batch_id: str) -> int | None:
    """The rows batch `batch_id` inserted or updated in `table`, MERGEd into its Delta table.

    Called by ingest inside its write transaction, after the local merge: when the Delta
    commit fails, the exception rolls the local batch back too, so the store and the lake
    never disagree about a batch (if the local COMMIT itself failed after a Delta commit,
    re-ingesting the file MERGEs the same rows again: the lake write is idempotent).
    Returns the table's new Delta version, or None when the batch changed no row.
    """
    if table not in CANONICAL_KEYS:
        return None
    frame = cur.sql(
        f"{_export_select(table)} WHERE batch_id = $batch_id", params={"batch_id": batch_id}
    ).pl()
    if frame.height == 0:
        return None
    return write_batch_delta(Path(directory) / table, table, frame, CANONICAL_KEYS[table])


def delta_arrow(path: str | Path) -> pa.Table:
    """The Delta table's current snapshot as Arrow (DuckDB queries it: no extension download)."""
    return _deltalake().DeltaTable(str(path)).to_pyarrow_table()


def delta_files(path: str | Path) -> list[str]:
    """The parquet files of the current snapshot (what a reader without Delta support reads).

    Valid while the table has no deletion vectors (delta-rs MERGE rewrites files instead).
    """
    dt = _deltalake().DeltaTable(str(path))
    if dt.protocol().reader_features and "deletionVectors" in dt.protocol().reader_features:
        raise LakeError(f"{path}: the table uses deletion vectors; read it with delta-spark")
    return list(dt.file_uris())


def _export_select(name: str) -> str:
    # JSON is DuckDB's own type: the extras travel as text.
    return f"SELECT * REPLACE (CAST(extras AS VARCHAR) AS extras) FROM {name}"


def export_delta(store: Store, directory: str | Path) -> dict[str, Path]:
    """Every fact table of `store` as a Delta table under `directory` (one batch each)."""
    out: dict[str, Path] = {}
    for name in FACT_TABLES:
        frame = store.cursor().sql(_export_select(name)).pl()
        path = Path(directory) / name
        write_batch_delta(path, name, frame, CANONICAL_KEYS[name])
        out[name] = path
    return out


def export_parquet(store: Store, directory: str | Path) -> dict[str, Path]:
    """Every fact table of `store` as a folder of parquet under `directory`."""
    out: dict[str, Path] = {}
    for name in FACT_TABLES:
        folder = Path(directory) / name
        folder.mkdir(parents=True, exist_ok=True)
        target = (folder / "part-0.parquet").resolve()
        store.cursor().execute(f"COPY ({_export_select(name)}) TO '{target}' (FORMAT parquet)")
        out[name] = folder.resolve()
    return out


def spark_tables_sql(folders: Mapping[str, Path], schema: str) -> list[str]:
    """Statements that create `schema` and one parquet table per folder on a Spark server."""
    _check_ident(schema, "schema")
    sql = [f"CREATE DATABASE IF NOT EXISTS {schema}"]
    for name, folder in folders.items():
        _check_ident(name, "table")
        location = str(Path(folder).resolve()).replace("'", "''")
        sql += [
            f"DROP TABLE IF EXISTS {schema}.{name}",
            f"CREATE TABLE {schema}.{name} USING parquet LOCATION '{location}'",
        ]
    return sql


def _check_ident(name: str, what: str) -> None:
    if not _IDENT.match(name):
        raise LakeError(f"{what} name {name!r} is not a plain identifier (letters, digits, _)")


# Canonical columns a mapping may fill, per fact table (metrics/schema.py).
CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "customer_id",
        "segment",
        "tier",
        "region",
        "age_band",
        "signup_date",
        "churned_at",
        "monthly_revenue",
    ),
    "contacts": (
        "contact_id",
        "customer_id",
        "channel",
        "issue_type",
        "team",
        "opened_at",
        "wait_s",
        "first_response_s",
        "handle_s",
        "agent_id",
        "abandoned",
        "bot_handled",
        "escalated",
        "resolved",
        "resolved_at",
        "first_contact_resolved",
    ),
    "surveys": (
        "response_id",
        "contact_id",
        "customer_id",
        "answered_at",
        "nps",
        "csat",
        "ces",
        "comment",
    ),
    "invoices": ("invoice_id", "customer_id", "issued_at", "amount", "fee", "paid_at", "reminders"),
}


def mapping_views(toml_text: str) -> list[str]:
    """`CREATE OR REPLACE VIEW` statements mapping a company's tables onto the canonical ones.

        target_schema = "cx"
        [contacts]
        source = "crm.service.tickets"      # their table (catalog.schema.table)
        [contacts.columns]
        contact_id = "ticket_id"            # canonical = their column or a SQL expression
        opened_at = "created_ts"
        channel = "lower(origin)"

    A canonical column left out is NULL (typed by its use); an unknown table or canonical
    column is an error naming it. The expressions are the company's own SQL, run on their
    Spark; the generated views are what CX_SPARK_SCHEMA points at.
    """
    try:
        doc = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise LakeError(f"mapping: not valid TOML: {exc}") from None
    schema = doc.get("target_schema")
    if not isinstance(schema, str):
        raise LakeError('mapping: target_schema = "<schema>" is required (where the views go)')
    _check_ident(schema, "target_schema")
    out = [f"CREATE DATABASE IF NOT EXISTS {schema}"]
    views: list[tuple[str, str]] = []
    for table, spec in doc.items():
        if table == "target_schema":
            continue
        if table not in CANONICAL_COLUMNS:
            raise LakeError(
                f"mapping: [{table}] is not a fact table; expected one of {', '.join(FACT_TABLES)}"
            )
        source = spec.get("source") if isinstance(spec, dict) else None
        if not isinstance(source, str) or not _QUALIFIED.match(source):
            raise LakeError(f'mapping: [{table}] needs source = "catalog.schema.table"')
        columns = spec.get("columns", {})
        unknown = [c for c in columns if c not in CANONICAL_COLUMNS[table]]
        if unknown:
            raise LakeError(
                f"mapping: [{table}.columns] {unknown[0]} is not a column of {table}; expected "
                f"{', '.join(CANONICAL_COLUMNS[table])}"
            )
        key = CANONICAL_KEYS[table][0]
        if key not in columns:
            raise LakeError(f"mapping: [{table}.columns] must map the key {key}")
        select = [f"{columns.get(c, 'NULL')} AS {c}" for c in CANONICAL_COLUMNS[table]]
        view = f"SELECT {', '.join(select)} FROM {source}"
        if table == "surveys":
            view = _linked_survey_view(view, schema, "contacts" in doc, "customers" in doc)
        views.append((table, f"CREATE OR REPLACE VIEW {schema}.{table} AS {view}"))
    # The surveys view reads the contacts and customers views: created after them.
    return out + [v for _, v in sorted(views, key=lambda tv: tv[0] == "surveys")]


def _linked_survey_view(select: str, schema: str, contacts: bool, customers: bool) -> str:
    """A mapped surveys view with the values the store keeps on each survey (the linked
    contact's and customer's, metrics/survey_links.py), joined from the mapped contacts and
    customers views; NULL where that table is not mapped."""
    cols = [f"c.{c} AS {s}" if contacts else f"NULL AS {s}" for c, s in LINKED_CONTACT.items()]
    cols += [f"cu.{c} AS {s}" if customers else f"NULL AS {s}" for c, s in LINKED_CUSTOMER.items()]
    joins = ""
    if contacts:
        joins += f" LEFT JOIN {schema}.contacts AS c ON c.contact_id = s.contact_id"
    if customers:
        key = "COALESCE(s.customer_id, c.customer_id)" if contacts else "s.customer_id"
        joins += f" LEFT JOIN {schema}.customers AS cu ON cu.customer_id = {key}"
    return f"SELECT s.*, {', '.join(cols)} FROM ({select}) AS s{joins}"
