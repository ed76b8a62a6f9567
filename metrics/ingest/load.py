"""ingest_file and preview_file: read -> map -> validate -> upsert in one transaction."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from metrics.ingest.errors import IngestError
from metrics.ingest.mapping import (
    Plan,
    Preset,
    better_table,
    choose_options,
    expected_headers,
    guess_table,
    resolve,
    wrong_table_message,
)
from metrics.ingest.merge import merge_stage
from metrics.ingest.pii import check_store_key, load_key, protect_raw, record_store_key
from metrics.ingest.readers import DEFAULT_MAX_BYTES, RawFile, read_source
from metrics.ingest.report import MAX_REASONS, IngestReport, Preview
from metrics.ingest.spec import keys_of
from metrics.ingest.validate import Validated, choose_timezone, validate
from metrics.lake import lake_dir, publish_batch
from metrics.store import Store

if TYPE_CHECKING:
    import pyarrow as pa  # only for the annotation; polars imports it when converting

PREVIEW_ROWS = 20
# References checked against the store: a survey about a contact that was never loaded is
# rejected (its KPI cuts by channel would silently lose it); the others only warn, because
# customers are often loaded after their contacts.
REJECT_REFS: dict[str, dict[str, str]] = {"surveys": {"contact_id": "contacts"}}
WARN_REFS: dict[str, dict[str, str]] = {
    "contacts": {"customer_id": "customers"},
    "surveys": {"customer_id": "customers"},
    "invoices": {"customer_id": "customers"},
    "assignments": {"experiment_id": "experiments"},
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fetch_pl(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    return cur.sql(sql, params=params or None).pl()


def _prepare(
    source: Path | str | bytes,
    *,
    table: str,
    file_name: str | None,
    preset: str | None,
    mapping: Path | str | dict | None,
    sheet: str | None,
    max_bytes: int,
    strict_columns: bool,
) -> tuple[RawFile, Plan, Preset | None]:
    label = file_name or (Path(source).name if not isinstance(source, bytes) else "uploaded file")
    opts = choose_options(table, preset, mapping, label)
    raw = read_source(
        source,
        file_name=label,
        sheet=sheet,
        max_bytes=max_bytes,
        header_rows=opts.header_rows if opts else None,
    )
    plan = resolve(table, raw.frame, opts, raw.questions)
    if plan.missing_required and strict_columns:
        raise IngestError(_missing_message(raw, plan, opts))
    if strict_columns:
        fit = better_table(raw.frame, table, opts)
        if fit is not None:
            raise IngestError(wrong_table_message(raw.file_name, table, fit))
    return raw, plan, opts


def _missing_message(raw: RawFile, plan: Plan, opts: Preset | None) -> str:
    name, table = raw.file_name, plan.table
    found = [c for c in raw.frame.columns if c != "__row"]
    other = guess_table(raw.frame, table, opts)
    if other is not None:
        return (
            f"{name}: this looks like a {other} file, not {table}: required column(s) "
            f"{', '.join(plan.missing_required)} for {table} are missing; expected --table "
            f"{other}, or a {table} file"
        )
    parts = []
    for col in plan.missing_required:
        if " or " in col:
            parts.append(f"one of {col}")
        else:
            heads = ", ".join(repr(h) for h in expected_headers(table, col, opts))
            parts.append(f"{col!r} (expected a header such as {heads})")
    shown = ", ".join(repr(c) for c in found[:15]) + (" ..." if len(found) > 15 else "")
    noun = "column" if len(parts) == 1 else "columns"
    return (
        f"{name}: missing required {noun} for table {table}: {'; '.join(parts)}. "
        f"Columns found: {shown}"
    )


def _ref_lookup(store: Store, table: str, refs: dict[str, str]):
    """A callable giving the values of `column` that do not exist in the referenced table."""

    def lookup(column: str, values: pl.Series) -> pl.Series | None:
        target = refs.get(column)
        if target is None:
            return None
        key = keys_of(target)[0] if target != "experiments" else "experiment_id"
        cur = store.cursor()
        ids = pl.DataFrame({"v": values.drop_nulls().unique()})
        cur.register("__ids", ids)
        try:
            missing = _fetch_pl(
                cur, f"SELECT v FROM __ids WHERE v NOT IN (SELECT {_q(key)} FROM {_q(target)})"
            )
        finally:
            cur.unregister("__ids")
        return missing["v"]

    return lookup


def _reference_warnings(store: Store, table: str, good: pl.DataFrame) -> list[str]:
    notes = []
    lookup = _ref_lookup(store, table, WARN_REFS.get(table, {}))
    for column, target in WARN_REFS.get(table, {}).items():
        if column not in good.columns or good.height == 0:
            continue
        count = store.cursor().execute(f"SELECT count(*) FROM {_q(target)}").fetchall()[0][0]
        if count == 0:
            continue  # nothing loaded yet: every id would be "unknown"; say nothing
        missing = lookup(column, good[column])
        if missing is not None and missing.len():
            n_rows = int(good[column].is_in(missing.implode()).sum())
            notes.append(
                f"{n_rows} row(s) have a {column} not in {target} (kept; load {target} to link them)"
            )
    return notes


# -- public API -----------------------------------------------------------------------------
def preview_file(
    source: Path | str | bytes,
    *,
    file_name: str,
    table: str,
    preset: str | None = None,
    mapping: Path | str | dict | None = None,
    sheet: str | None = None,
    timezone: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Preview:
    """What ingest would do with this file: format, mapping, first rows. Writes nothing.

    Missing required columns are listed (not raised) so a page can show the mapping anyway;
    an unreadable, empty or oversized file raises IngestError.
    """
    raw, plan, opts = _prepare(
        source,
        table=table,
        file_name=file_name,
        preset=preset,
        mapping=mapping,
        sheet=sheet,
        max_bytes=max_bytes,
        strict_columns=False,
    )
    fit = None if plan.missing_required else better_table(raw.frame, table, opts)
    tz = choose_timezone(raw, plan, timezone)
    # No key in a preview: hashed columns show a placeholder, dropped ones "(dropped)".
    head = protect_raw(
        RawFile(**{**raw.__dict__, "frame": raw.frame.head(PREVIEW_ROWS)}), plan, None
    )
    checked = validate(head, plan, tz)
    rows = checked.checked.rename({"__row": "row_number", "reason": "problem"}).drop("column_name")
    hashed_canon = [c for c, s in plan.columns.items() if s in plan.hashed]
    if hashed_canon:
        rows = rows.with_columns([pl.lit("(hashed on load)").alias(c) for c in hashed_canon])
    rows = rows.select("row_number", *[c for c in rows.columns if c != "row_number"])
    return Preview(
        file_name=raw.file_name,
        table=table,
        format=raw.format,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        decimal=checked.decimal,
        header_rows=raw.header_rows,
        timezone=tz,
        mapping=plan.entries,
        missing_required=plan.missing_required,
        rows=rows,
        rows_read=raw.frame.height,
        warnings=checked.warnings
        + ([wrong_table_message(raw.file_name, table, fit)] if fit else []),
    )


def ingest_file(
    store: Store,
    source: Path | str | bytes,
    *,
    table: str,
    file_name: str | None = None,
    preset: str | None = None,
    mapping: Path | str | dict | None = None,
    sheet: str | None = None,
    timezone: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    insert_only: bool = False,
) -> IngestReport:
    """Load one file into `table`: the single way in for the CLI and the app.

    A whole-file problem raises IngestError before anything is written. Otherwise good rows
    are upserted by key, bad rows go to rejected_rows, and one ingest_batches row records the
    counts, all in one transaction: an exception anywhere leaves the store as it was.
    A row older than the stored one (updated_at) is skipped; with `insert_only` a row that
    would change a stored one is rejected instead of updating it.
    """
    raw, plan, _ = _prepare(
        source,
        table=table,
        file_name=file_name,
        preset=preset,
        mapping=mapping,
        sheet=sheet,
        max_bytes=max_bytes,
        strict_columns=True,
    )
    tz = choose_timezone(raw, plan, timezone)
    # Personal data is hashed or dropped before any value is validated, so no reason, raw
    # row or report can quote it; the key lives outside the store (metrics/ingest/pii.py).
    key = load_key() if plan.hashed else None
    key_notes = check_store_key(store.cursor(), key) if key is not None else []
    raw = protect_raw(raw, plan, key)
    checked = validate(raw, plan, tz, lookup=_ref_lookup(store, table, REJECT_REFS.get(table, {})))
    warnings = checked.warnings + key_notes + _reference_warnings(store, table, checked.good)
    batch_id = uuid.uuid4().hex[:16]
    started = datetime.now(UTC).replace(tzinfo=None)
    with store.write() as cur:
        if key is not None:
            record_store_key(cur, key)
        report = _load(cur, raw, plan, checked, batch_id, started, warnings, insert_only)
        lake = lake_dir()
        if lake is not None:
            # Same transaction: a failed Delta commit rolls the local batch back (lake.py).
            publish_batch(cur, lake, table, batch_id)
    return report


def _load(
    cur: duckdb.DuckDBPyConnection,
    raw: RawFile,
    plan: Plan,
    checked: Validated,
    batch_id: str,
    started: datetime,
    warnings: list[str],
    insert_only: bool = False,
) -> IngestReport:
    table = plan.table
    good, rejected = checked.good, checked.rejected
    extras_src = [
        c
        for c in good.columns
        if c in plan.extras or (c in plan.hashed and c not in plan.columns.values())
    ]
    canon = [c for c in plan.columns if c in good.columns]
    stage = good.select(
        pl.col("__row").cast(pl.Int64),
        *canon,
        *([pl.struct(extras_src).struct.json_encode().alias("extras")] if extras_src else []),
        pl.lit(batch_id).alias("batch_id"),
    )
    cur.execute(
        "INSERT INTO ingest_batches (batch_id, table_name, file_name, checksum, started_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [batch_id, table, raw.file_name, raw.checksum, started],
    )
    cur.register("__stage_src", _arrow(stage))
    try:
        cur.execute("CREATE OR REPLACE TEMP TABLE __stage AS SELECT * FROM __stage_src")
    finally:
        cur.unregister("__stage_src")
    merged = merge_stage(cur, table, "__stage", batch_id, insert_only=insert_only)
    cur.execute("DROP TABLE __stage")
    inserted, updated, unchanged = merged.inserted, merged.updated, merged.unchanged
    if merged.rejected.height:
        refused = _refused_rows(raw, plan, merged.rejected)
        rejected = pl.concat(
            [rejected.with_columns(pl.col("__row").cast(pl.Int64)), refused], how="diagonal"
        )
    _write_rejected(cur, batch_id, rejected)
    reasons = [
        {"row_number": int(r["__row"]), "column": r["column_name"], "reason": r["reason"]}
        for r in rejected.sort("__row")
        .head(MAX_REASONS)
        .select("__row", "column_name", "reason")
        .iter_rows(named=True)
    ]
    report = IngestReport(
        batch_id=batch_id,
        file_name=raw.file_name,
        table=table,
        rows_read=checked.rows_read,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        rejected=rejected.height,
        reasons=reasons,
        pii=dict(plan.pii),
        extras_columns=list(plan.extras),
        mapping=plan.entries,
        format=raw.format,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        decimal=checked.decimal,
        timezone=checked.timezone,
        checksum=raw.checksum,
        warnings=warnings,
        skipped_older=merged.skipped_older,
        skipped_older_examples=merged.skipped_older_examples,
        changes=merged.changes,
        change_examples=merged.change_examples,
        insert_only=insert_only,
    )
    cur.execute(
        "UPDATE ingest_batches SET finished_at = ?, rows_read = ?, inserted = ?, updated = ?, "
        "unchanged = ?, rejected = ?, skipped_older = ?, report = ? WHERE batch_id = ?",
        [
            datetime.now(UTC).replace(tzinfo=None),
            report.rows_read,
            inserted,
            updated,
            unchanged,
            report.rejected,
            merged.skipped_older,
            json.dumps(report.to_dict(), ensure_ascii=False),
            batch_id,
        ],
    )
    return report


def _refused_rows(raw: RawFile, plan: Plan, refused: pl.DataFrame) -> pl.DataFrame:
    """Rows the merge refused, shaped like the validator's rejects: reason plus raw values.

    `raw` has already been through protect_raw, so its personal data is hashed or dropped.
    """
    src_cols = [c for c in raw.frame.columns if c != "__row" and c not in plan.dropped]
    rows = raw.frame.select(pl.col("__row").cast(pl.Int64), *src_cols).join(
        refused.select(pl.col("__row").cast(pl.Int64), "column_name", "reason"), on="__row"
    )
    return rows.select("__row", "column_name", "reason", *src_cols)


def _arrow(frame: pl.DataFrame) -> pa.Table:
    """The frame as Arrow with polars' own string views, which DuckDB scans without a copy.

    Registering the DataFrame itself makes DuckDB call `to_arrow()`, which rewrites every
    string column as large_string first (~0.08 s per million rows here).
    """
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def _write_rejected(cur: duckdb.DuckDBPyConnection, batch_id: str, rejected: pl.DataFrame) -> None:
    if rejected.height == 0:
        return
    raw_cols = [c for c in rejected.columns if c not in ("__row", "column_name", "reason")]
    frame = rejected.select(
        pl.lit(batch_id).alias("batch_id"),
        pl.col("__row").cast(pl.Int64).alias("row_number"),
        pl.col("column_name"),
        pl.col("reason"),
        (pl.struct(raw_cols).struct.json_encode() if raw_cols else pl.lit("{}")).alias("raw"),
    )
    cur.register("__rejected", _arrow(frame))
    try:
        cur.execute(
            "INSERT INTO rejected_rows (batch_id, row_number, column_name, reason, raw) "
            "SELECT batch_id, row_number, column_name, reason, raw FROM __rejected"
        )
    finally:
        cur.unregister("__rejected")


def ingest_history(store: Store) -> pl.DataFrame:
    """One row per committed ingest, newest first."""
    return _fetch_pl(
        store.cursor(),
        "SELECT batch_id, table_name, file_name, checksum, started_at, finished_at, rows_read, "
        "inserted, updated, unchanged, skipped_older, rejected, status, undone_at "
        "FROM ingest_batches ORDER BY seq DESC NULLS LAST, started_at DESC",
    )


def rejected_rows(store: Store, batch_id: str) -> pl.DataFrame:
    """The rejected rows of one batch with their reasons and raw values (JSON text)."""
    return _fetch_pl(
        store.cursor(),
        "SELECT row_number, column_name, reason, CAST(raw AS VARCHAR) AS raw FROM rejected_rows "
        "WHERE batch_id = ? ORDER BY row_number",
        [batch_id],
    )
