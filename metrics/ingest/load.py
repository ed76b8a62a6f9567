"""ingest_file and preview_file: read, map, validate and stage in chunks, then merge; one transaction."""

from __future__ import annotations

import functools
import json
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import duckdb
import polars as pl

from metrics.audit import record
from metrics.auth import Actor, require
from metrics.ingest.collapse import Settled, settle_stage, stage_extra_columns
from metrics.ingest.errors import (
    DEFAULT_MAX_REJECT_SHARE,
    IngestError,
    RejectGroup,
    RejectShareExceeded,
)
from metrics.ingest.mapping import (
    NO_HEADER,
    REJECTED_COLUMN,
    Fit,
    Plan,
    Preset,
    better_table,
    choose_options,
    expected_headers,
    guess_table,
    lacks_note,
    preset_hint,
    resolve,
    wrong_table_message,
)
from metrics.ingest.merge import MergeResult, merge_stage
from metrics.ingest.pii import PiiKey, check_store_key, load_key, record_store_key
from metrics.ingest.protect import protect_frame
from metrics.ingest.readers import (
    DEFAULT_LIMITS,
    EncodingChanged,
    Limits,
    RawFile,
    SourceStream,
    open_source,
)
from metrics.ingest.report import (
    MAX_REASON_KINDS,
    MAX_REASONS,
    MAX_STORED_REJECTS,
    IngestReport,
    Preview,
)
from metrics.ingest.spec import keys_of
from metrics.ingest.suggest import shapes_of, suggest_columns
from metrics.ingest.validate import Validated, choose_timezone, filter_notes, validate
from metrics.lake import lake_dir, publish_batch
from metrics.repeats import customers_of, refresh_for_stage, stage_gaps
from metrics.store import Store
from metrics.store import quote_ident as _q
from metrics.supplied import record_supplied, supplied_in
from metrics.survey_links import LINK_SCOPES, refresh_survey_links

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


def _fetch_pl(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    return cur.sql(sql, params=params or None).pl()


def _open(
    source: Path | str | bytes,
    *,
    table: str,
    file_name: str | None,
    preset: str | None,
    mapping: Path | str | dict | None,
    sheet: str | None,
    limits: Limits,
    strict_columns: bool,
) -> tuple[
    SourceStream,
    pl.DataFrame,
    Iterator[pl.DataFrame],
    Plan,
    Fit | None,
]:
    """Open the source, read its first chunk and map it: every whole-file check up front.

    Returns the stream, the first chunk, the iterator of the remaining chunks, the plan and
    the table the columns fit better than `table` (None when `table` fits best); with
    `strict_columns` a missing required column or a better table raises IngestError.
    The mapping (including personal-data detection by value shape) is decided on the first
    chunk, which holds at least 10,000 rows (or the whole file).
    """
    label = file_name or (Path(source).name if not isinstance(source, bytes) else "uploaded file")
    opts = choose_options(table, preset, mapping, label)
    stream = open_source(
        source,
        file_name=label,
        sheet=sheet,
        header_rows=opts.header_rows if opts else None,
        limits=limits,
    )
    chunks = stream.chunks()
    first = next(chunks)  # a file without data rows raises IngestError here
    plan = resolve(table, first, opts, stream.questions)
    if plan.missing_required and strict_columns:
        raise IngestError(
            _missing_message(stream.raw(first), plan, opts),
            file=stream.file_name,
            column=", ".join(plan.missing_required),
            expected=f"a header {table} knows for {', '.join(plan.missing_required)}, or a "
            "[columns] line in a mapping naming the file's column",
        )
    fit = None if plan.missing_required else better_table(first, table, opts)
    if fit is not None and strict_columns:
        raise IngestError(wrong_table_message(stream.file_name, table, fit), file=stream.file_name)
    return stream, first, chunks, plan, fit


def _protected(
    chunks: Iterator[pl.DataFrame], plan: Plan, key: PiiKey | None
) -> Iterator[pl.DataFrame]:
    """The chunks with personal data hashed or dropped before anything reads their values,
    so no reason, raw row or report can quote it (metrics/ingest/pii.py)."""
    for chunk in chunks:
        yield protect_frame(chunk, plan, key)


def _first_rows(
    stream: SourceStream,
    first: pl.DataFrame,
    rest: Iterator[pl.DataFrame],
    plan: Plan,
    tz: str,
    lookup: Callable[[str, pl.Series], pl.Series | None] | None,
) -> tuple[pl.DataFrame, Validated]:
    """The first chunk with data rows, validated; rows of spaces only do not count."""
    while True:
        checked = validate(stream.raw(first), plan, tz, lookup=lookup)
        if checked.rows_read:
            return first, checked
        following = next(rest, None)
        if following is None:
            raise IngestError(
                f"{stream.file_name}: the file has a header but no data rows; "
                "expected at least one row under the header"
            )
        first = following


def _limits(limits: Limits | None, max_bytes: int | None) -> Limits:
    limits = limits or DEFAULT_LIMITS
    return limits if max_bytes is None else replace(limits, max_bytes=max_bytes)


def _missing_message(raw: RawFile, plan: Plan, opts: Preset | None) -> str:
    name, table = raw.file_name, plan.table
    found = [c for c in raw.frame.columns if c != "__row"]
    fit = guess_table(raw.frame, table, opts)
    if fit is not None:
        return (
            f"{name}: this looks like a {fit.table} file, not {table}: required column(s) "
            f"{', '.join(plan.missing_required)} for {table} are missing; expected --table "
            f"{fit.table}, or a {table} file" + lacks_note(fit)
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
        f"Columns found: {shown}. {_mapping_hint(raw, plan, found)}"
        + (NO_HEADER if raw.header_rows == 0 else preset_hint(found) if opts is None else "")
    )


def _mapping_hint(raw: RawFile, plan: Plan, found: list[str]) -> str:
    """What to write in a mapping file for the missing columns: the file column the editor
    would suggest (by name and value shape), else a placeholder to fill in."""
    sample = raw.frame.head(50)
    shapes = shapes_of(
        {c: [None if v is None else str(v) for v in sample[c].to_list()] for c in found}
    )
    suggested = suggest_columns(plan.table, shapes)
    lines = []
    for col in plan.missing_required:
        for one in col.split(" or ")[:1]:  # of alternatives, the first is enough to load
            hit = suggested.get(one)
            source = hit.source if hit is not None else "<file column>"
            lines.append(f'"{source}" = "{one}"')
    them = "it" if len(lines) == 1 else "them"
    return (
        f"To load the file as it is, map {them} in a mapping file (cx ingest --mapping "
        f"FILE.toml, or the Data page's editor): [columns] {'; '.join(lines)}."
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


def _missing_references(store: Store, table: str, good: pl.DataFrame) -> dict[str, int]:
    """{column: rows whose id is not in the referenced table} for the warn-only references."""
    counts: dict[str, int] = {}
    lookup = _ref_lookup(store, table, WARN_REFS.get(table, {}))
    for column, target in WARN_REFS.get(table, {}).items():
        if column not in good.columns or good.height == 0:
            continue
        count = store.cursor().execute(f"SELECT count(*) FROM {_q(target)}").fetchall()[0][0]
        if count == 0:
            continue  # nothing loaded yet: every id would be "unknown"; say nothing
        missing = lookup(column, good[column])
        if missing is not None and missing.len():
            counts[column] = int(good[column].is_in(missing.implode()).sum())
    return counts


def _reference_warnings(table: str, counts: dict[str, int]) -> list[str]:
    return [
        f"{n} row(s) have a {column} not in {target} (kept; load {target} to link them)"
        for column, target in WARN_REFS.get(table, {}).items()
        if (n := counts.get(column, 0))
    ]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _names_file(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """An IngestError leaving `func` carries the file's name in `file` (for --json and the
    Data page) even when the code that raised it did not know the name."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except IngestError as exc:
            if exc.file is None:
                at = 1 if func.__name__ == "ingest_file" else 0
                source = args[at] if len(args) > at else kwargs.get("source")
                name = kwargs.get("file_name")
                if name is None and not isinstance(source, bytes):
                    name = Path(str(source)).name
                exc.file = str(name) if name is not None else "uploaded file"
            raise

    return wrapper


# -- public API -----------------------------------------------------------------------------
@_names_file
def preview_file(
    source: Path | str | bytes,
    *,
    file_name: str,
    table: str,
    preset: str | None = None,
    mapping: Path | str | dict | None = None,
    sheet: str | None = None,
    timezone: str | None = None,
    max_bytes: int | None = None,
    limits: Limits | None = None,
) -> Preview:
    """What ingest would do with this file: format, mapping, first rows. Writes nothing.

    Missing required columns are listed (not raised) so a page can show the mapping anyway;
    an unreadable, empty, oversized or hostile file raises IngestError. The rows are counted
    chunk by chunk, so a preview never holds more than one chunk either.
    """
    stream, first, rest, plan, fit = _open(
        source,
        table=table,
        file_name=file_name,
        preset=preset,
        mapping=mapping,
        sheet=sheet,
        limits=_limits(limits, max_bytes),
        strict_columns=False,
    )
    # No key in a preview: hashed columns show a placeholder, dropped ones "(dropped)".
    first = protect_frame(first, plan, None)
    raw = stream.raw(first)
    tz = choose_timezone(raw, plan, timezone)
    first, first_checked = _first_rows(stream, first, rest, plan, tz, None)
    decimal = first_checked.decimal  # decided on the first chunk, as ingest does
    head = stream.raw(first.head(PREVIEW_ROWS))
    checked = validate(head, plan, tz, decimal=decimal)
    try:
        rows_read = first.height + sum(chunk.height for chunk in rest)
    except EncodingChanged:
        rows_read = sum(chunk.height for chunk in stream.chunks())
    rows = checked.checked.rename({"__row": "row_number", "reason": "problem"}).drop("column_name")
    hashed_canon = [c for c, s in plan.columns.items() if s in plan.hashed]
    if hashed_canon:
        rows = rows.with_columns([pl.lit("(hashed on load)").alias(c) for c in hashed_canon])
    rows = rows.select("row_number", *[c for c in rows.columns if c != "row_number"])
    return Preview(
        file_name=stream.file_name,
        table=table,
        format=stream.format,
        encoding=stream.encoding,
        delimiter=stream.delimiter,
        decimal=decimal,
        header_rows=stream.header_rows,
        timezone=tz,
        mapping=plan.entries,
        missing_required=plan.missing_required,
        rows=rows,
        rows_read=rows_read,
        warnings=checked.warnings
        + ([wrong_table_message(stream.file_name, table, fit)] if fit else []),
    )


@_names_file
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
    max_bytes: int | None = None,
    limits: Limits | None = None,
    insert_only: bool = False,
    actor: Actor | None = None,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
) -> IngestReport:
    """Load one file into `table`: the single way in for the CLI and the app.

    `actor` (default: metrics.auth.current_actor()) must hold the "ingest" permission; the
    load is recorded in the audit log in the same transaction.

    Whole-file problems found from the file's start (format, limits, encoding, header,
    missing columns) raise IngestError before the transaction. Then, in one transaction,
    the file is read, validated and staged chunk by chunk into a temporary `__stage`
    table, duplicates across chunks are rejected on the stage, and the stage is merged
    into `table`. A problem found in a later chunk (a ragged row, a field over the limit)
    raises IngestError from inside the transaction; any exception, or a kill, rolls all of
    it back, so the store is as it was. The merge (metrics/ingest/merge.py) skips a row older
    than the stored one (updated_at), keeps the previous version of every row it changes for
    undo, and never changes a running experiment's assignments; with `insert_only` a row that
    would change a stored one is rejected instead. Personal data is hashed (HMAC, key outside
    the store) or dropped chunk by chunk before validation.

    All or nothing: when more than `max_reject_share` (0..1, default 1 %) of the file's rows
    would be rejected, RejectShareExceeded (an IngestError with the rejected rows grouped by
    cause) is raised inside the transaction, so no batch, row or rejected row is written;
    call again with the share accepted to load the good rows. The canonical columns the
    batch supplied (non-null in at least one row) are recorded (metrics/supplied.py).
    """
    if not 0.0 <= max_reject_share <= 1.0:
        raise ValueError(f"max_reject_share must be between 0 and 1, got {max_reject_share!r}")
    who = require(actor, "ingest")
    stream, first, rest, plan, _ = _open(
        source,
        table=table,
        file_name=file_name,
        preset=preset,
        mapping=mapping,
        sheet=sheet,
        limits=_limits(limits, max_bytes),
        strict_columns=True,
    )
    tz = choose_timezone(stream.raw(first), plan, timezone)
    key = load_key() if plan.hashed else None
    key_notes = check_store_key(store.cursor(), key) if key is not None else []
    first = protect_frame(first, plan, key)
    rest = _protected(rest, plan, key)
    lookup = _ref_lookup(store, table, REJECT_REFS.get(table, {}))
    # The first chunk is validated before the transaction: its decisions (decimal
    # separator) hold for the file, and a file that fails there costs no write lock.
    stream.start_checksum()
    first, first_checked = _first_rows(stream, first, rest, plan, tz, lookup)
    batch_id = uuid.uuid4().hex[:16]
    started = datetime.now(UTC).replace(tzinfo=None)
    with store.write() as cur, _bounded_memory(cur, stream.size) as widen:
        if key is not None:
            record_store_key(cur, key)
        cur.execute(
            "INSERT INTO ingest_batches (batch_id, table_name, file_name, checksum, started_at) "
            "VALUES (?, ?, ?, '', ?)",
            [batch_id, table, stream.file_name, started],
        )
        staged = _Staged()
        try:
            _stage_chunks(
                cur, store, stream, plan, tz, batch_id, staged, first_checked, chain([first], rest)
            )
        except EncodingChanged:
            # A later chunk was not UTF-8: start over with the whole file read as cp1252.
            cur.execute("DELETE FROM rejected_rows WHERE batch_id = ?", [batch_id])
            staged = _Staged()
            chunks = _protected(stream.chunks(), plan, key)
            _stage_chunks(cur, store, stream, plan, tz, batch_id, staged, None, chunks)
        staged.warnings += key_notes
        _settle_keys(cur, plan, batch_id, staged)
        _check_reject_share(stream.file_name, staged, max_reject_share)  # before the merge's work
        supplied = supplied_in(cur, STAGE, list(plan.columns))
        # FCR repeat gaps (metrics/repeats.py): the staged contacts' customers before and after.
        ids_sql = f"SELECT contact_id FROM {STAGE}" if table == "contacts" else None
        before = customers_of(cur, contacts_sql=ids_sql)
        # Into an empty table the gaps are computed in the insert itself (stage_gaps); else
        # refreshed after the merge in customer-hash passes, within the cap above.
        gaps = stage_gaps(cur, STAGE) if table == "contacts" else None
        widen()  # the chunks are gone: the merge may have their memory
        merged = merge_stage(cur, table, STAGE, batch_id, insert_only=insert_only, derived=gaps)
        if table == "contacts" and merged.inserted + merged.updated and not merged.first_load:
            refresh_for_stage(cur, STAGE, before)
        # The linked contact's and customer's values on surveys (metrics/survey_links.py): of
        # the surveys naming a staged contact or customer, or of the staged surveys.
        if merged.inserted + merged.updated and table in LINK_SCOPES:
            scope, id_column = LINK_SCOPES[table]
            refresh_survey_links(cur, **{scope: f"SELECT {id_column} FROM {STAGE}"})
        if merged.rejected.height:
            _record_rejected(cur, batch_id, staged, _with_staged_values(cur, merged.rejected))
            _check_reject_share(stream.file_name, staged, max_reject_share)
        record_supplied(cur, batch_id, table, supplied)
        _trim_rejected(cur, batch_id)
        report = _finish(cur, stream, plan, batch_id, staged, merged, insert_only)
        report.supplied_columns = supplied
        cur.execute(f"DROP TABLE IF EXISTS {STAGE}")
        lake = lake_dir()
        if lake is not None:
            # Same transaction: a failed Delta commit rolls the local batch back (lake.py).
            publish_batch(cur, lake, table, batch_id)
        record(cur, who, "ingest", f"table:{table}", _audit_details(report))
    return report


MAX_REJECT_GROUPS = 10  # causes listed when a batch is refused; the rest are summed
REJECT_EXAMPLES = 3  # example row numbers per cause


def _check_reject_share(file_name: str, staged: _Staged, limit: float) -> None:
    """Refuse the batch (raise inside the transaction, which rolls back) when more than
    `limit` of its rows were rejected. Exactly `limit` is accepted, with a relative margin of
    1e-9 so neither 10 of 1,000 at 0.01 nor a share handed back as `exc.share` (1/12 as a
    float) is refused by a rounding error."""
    rows, rejected = staged.rows_read, staged.rejected
    if rows == 0 or rejected <= limit * rows * (1 + 1e-9):
        return
    ranked = sorted(staged.groups.items(), key=lambda kv: (-kv[1][0], min(kv[1][1] or [0])))
    groups = [
        RejectGroup(column=col, reason=kind, count=n, examples=tuple(sorted(ex)))
        for (col, kind), (n, ex) in ranked[:MAX_REJECT_GROUPS]
    ]
    if len(ranked) > MAX_REJECT_GROUPS:
        rest = ranked[MAX_REJECT_GROUPS:]
        examples = sorted(r for _, (_, ex) in rest for r in ex)[:REJECT_EXAMPLES]
        groups.append(
            RejectGroup("", "(other reasons)", sum(n for _, (n, _) in rest), tuple(examples))
        )
    raise RejectShareExceeded(
        file=file_name,
        share=rejected / rows,
        limit=limit,
        rows=rows,
        rejected=rejected,
        groups=groups,
    )


def _reject_groups(rejected: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows by cause: (column, reason kind) with the row count and the first few
    row numbers. A row failing two checks counts under both, as in reason_counts."""
    reasons = rejected["reason"].fill_null("")
    columns = rejected["column_name"].fill_null("")
    parts = pl.DataFrame(
        {
            "__row": rejected["__row"].cast(pl.Int64),
            # "...; expected ..." belongs to one reason: protect it before splitting.
            "reason": reasons.str.replace_all("; expected", "\x00expected", literal=True).str.split(
                "; "
            ),
            "column": columns.str.split(", "),
        }
    )
    # Reasons are joined in the order their columns are listed; when a row's lists do not
    # line up (one reason naming several columns, as the merge's refusals do) the reason is
    # one cause of all its columns.
    same = parts["reason"].list.len() == parts["column"].list.len()
    aligned = parts.filter(same).explode("reason", "column")
    other = parts.filter(~same).with_columns(
        pl.col("reason").list.join("; "), pl.col("column").list.join(", ")
    )
    flat = pl.concat([aligned, other.select(aligned.columns)])
    flat = flat.with_columns(
        pl.col("reason")
        .str.replace_all("\x00", "; ", literal=True)
        .str.replace_all(r"'[^']*'", "'…'")
        .str.replace_all(r"\brow \d+", "row …")
        # The merge names keys unquoted (merge.py): "K1 is already stored ...", "experiment
        # E1 is running: unit C1 is assigned ...".
        .str.replace(r"^\S+ is already stored", "… is already stored")
        .str.replace(r"^experiment \S+ is (\w+): unit \S+ is", "experiment … is $1: unit … is")
    )
    return (
        flat.group_by("column", "reason")
        .agg(pl.len().alias("count"), pl.col("__row").sort().head(REJECT_EXAMPLES).alias("rows"))
        .sort("count", descending=True)
    )


def _add_groups(staged: _Staged, rejected: pl.DataFrame) -> None:
    if rejected.height == 0 or "column_name" not in rejected.columns:
        return
    for col, kind, n, rows in _reject_groups(rejected).iter_rows():
        count, examples = staged.groups.get((col, kind), (0, []))
        staged.groups[(col, kind)] = (count + n, sorted([*examples, *rows])[:REJECT_EXAMPLES])


def _audit_details(report: IngestReport) -> dict:
    return {
        "batch_id": report.batch_id,
        "file": report.file_name,
        "checksum": report.checksum,
        **{k: getattr(report, k) for k in ("rows_read", "inserted", "updated", "unchanged")},
        "rejected": report.rejected,
    }


@contextmanager
def _bounded_memory(cur: duckdb.DuckDBPyConnection, size: int) -> Iterator[Callable[[], None]]:
    """For a large file, cap DuckDB's buffer pool while it loads, then put the cap back.
    Yields `widen`, which raises the cap to INGEST_MERGE_MEMORY_LIMIT once the chunks are
    staged (a no-op for a small file).

    Without a cap the TEMP stage stays in memory (~160 bytes a row: 1.4 GB for a 1 GB
    contacts file) and written blocks stay cached up to DuckDB's default limit of 80 % of
    RAM; under the cap the stage spills to DuckDB's temp directory. The setting is per
    database, not per connection: the app's queries during a large ingest get the cap too.
    """
    if size < LARGE_FILE_BYTES:
        yield lambda: None
        return
    setting = "SELECT current_setting('memory_limit')"
    before = cur.execute(setting).fetchall()[0][0]
    cur.execute("RESET memory_limit")
    # The setting reads back rounded (18.8 GiB); putting that back after every ingest
    # would creep downwards, so the default is restored with RESET.
    default = cur.execute(setting).fetchall()[0][0] == before
    cur.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
    # Under the cap, the joins and DISTINCTs over the whole stage (merge, repeat gaps) must
    # spill rather than keep rows in file order: with insertion order preserved a 1 GB file
    # ran out of memory in them.
    cur.execute("SET preserve_insertion_order = false")

    def widen() -> None:
        cur.execute(f"SET memory_limit = '{INGEST_MERGE_MEMORY_LIMIT}'")

    try:
        yield widen
    finally:
        try:
            cur.execute("RESET preserve_insertion_order")
            cur.execute("RESET memory_limit" if default else f"SET memory_limit = '{before}'")
        except duckdb.Error:
            # An aborted transaction refuses even SET: the original error is the one to
            # report; the settings end with this write's connection or are reset next time.
            pass


# -- staging --------------------------------------------------------------------------------
# The stage is a TEMP table of the write transaction's own connection, created inside the
# transaction and dropped before it commits: no other connection sees it, and a rollback
# (or a kill) removes it. DuckDB keeps temporary tables in memory (~160 bytes a row of a
# contacts file) until its memory_limit, then spills them to its temp directory; hence the
# cap for large files below.
STAGE = "__stage"
LARGE_FILE_BYTES = 64 << 20  # files from here on load under INGEST_MEMORY_LIMIT
INGEST_MEMORY_LIMIT = "512MB"
# The merge's cap: by then the validated chunks (polars) are freed, and the first load's
# insert joins its repeat gaps by rowid, a hash join over every staged row that spills much
# of its time away under 512 MB. Measured on the 1.03 GB contacts file (8.6M rows):
# 512 MB 29.1 s, peak RSS 1.26 GiB; 768 MB 22.1 s, 1.30 GiB; 1 GB 21.4 s, 1.45 GiB (over
# the 1.5 GB the issue allows). benchmarks/ingest.py.
INGEST_MERGE_MEMORY_LIMIT = "768MB"


@dataclass
class _Staged:
    """What the chunks added up to, kept while the rows themselves sit in the stage."""

    rows_read: int = 0
    rejected: int = 0
    stored: int = 0  # rejected rows written to rejected_rows (at most MAX_STORED_REJECTS)
    reason_counts: Counter[str] = field(default_factory=Counter)
    key_hashes: list[pl.Series] = field(default_factory=list)
    missing_refs: Counter[str] = field(default_factory=Counter)
    decimal: str = "."
    timezone: str = "UTC"
    warnings: list[str] = field(default_factory=list)
    created: bool = False
    settled: Settled = field(default_factory=Settled)  # [dedupe] / [aggregate] counts
    # (column, reason kind) -> (rows, first row numbers): the causes a refused batch lists.
    groups: dict[tuple[str, str], tuple[int, list[int]]] = field(default_factory=dict)


def _stage_chunks(
    cur: duckdb.DuckDBPyConnection,
    store: Store,
    stream: SourceStream,
    plan: Plan,
    tz: str,
    batch_id: str,
    staged: _Staged,
    first_checked: Validated | None,
    chunks: Iterator[pl.DataFrame],
) -> None:
    """Validate each chunk and append its good rows to the stage, its bad ones (capped) to
    rejected_rows. The first chunk fixes the decimal separator; the rest verify it."""
    table = plan.table
    lookup = _ref_lookup(store, table, REJECT_REFS.get(table, {}))
    hashed_extra = [s for s in plan.hashed if s not in plan.columns.values()]
    extras_src = plan.extras + hashed_extra
    canon = list(plan.columns)
    keys = list(keys_of(table))
    if not staged.created:
        cols = ", ".join(_q(c) for c in [*canon, *(["extras"] if extras_src else []), "batch_id"])
        more = "".join(f", CAST(NULL AS {t}) AS {c}" for c, t in stage_extra_columns(plan).items())
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT CAST(NULL AS BIGINT) AS __row, "
            f"{cols}{more} FROM {_q(table)} LIMIT 0"
        )
        staged.created = True
    else:
        cur.execute(f"DELETE FROM {STAGE}")
    for checked in _validated_ahead(stream, plan, tz, lookup, first_checked, chunks):
        if staged.rows_read == 0:
            staged.decimal, staged.timezone = checked.decimal, checked.timezone
            staged.warnings = list(checked.warnings)
        staged.rows_read += checked.rows_read
        good, rejected = checked.good, checked.rejected
        loading = good.filter(~pl.col(REJECTED_COLUMN)) if REJECTED_COLUMN in good.columns else good
        staged.missing_refs.update(_missing_references(store, table, loading))
        if good.height:
            frame = good.select(
                "__row",
                *canon,
                *(
                    [pl.struct(extras_src).struct.json_encode().alias("extras")]
                    if extras_src
                    else []
                ),
                pl.lit(batch_id).alias("batch_id"),
                *stage_extra_columns(plan),
            )
            if not plan.keys_on_stage and all(k in frame.columns for k in keys):
                key = (
                    frame[keys[0]] if len(keys) == 1 else frame.select(pl.struct(keys)).to_series()
                )
                staged.key_hashes.append(key.hash())
            # A relation, not register() + INSERT: registered Arrow data was measured to stay
            # resident after unregister (~70 bytes a row), which a 1 GB file cannot afford.
            # The frame's columns are in the stage's order.
            cur.from_arrow(_arrow(frame)).insert_into(STAGE)
        if rejected.height:
            _record_rejected(cur, batch_id, staged, rejected)


_DONE = object()
_T = TypeVar("_T")


def _ahead(items: Iterator[_T], name: str) -> Iterator[_T]:
    """`items`, produced one ahead in a thread named `name` while the caller works on the
    previous one.

    polars and DuckDB release the GIL, so the steps overlap. At most one finished item
    waits in the queue, so memory stays at a few chunks. An exception in the thread
    (IngestError, EncodingChanged, anything) is raised here, in the caller's transaction;
    when the caller stops early the thread stops after its current item.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator upstream (another _ahead) stops its own thread

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _validated_ahead(
    stream: SourceStream,
    plan: Plan,
    tz: str,
    lookup: Callable[[str, pl.Series], pl.Series | None],
    first_checked: Validated | None,
    chunks: Iterator[pl.DataFrame],
) -> Iterator[Validated]:
    """The chunks read one ahead in one thread and validated one ahead in another, while
    the caller stages: three steps side by side. Reading (parsing included) and validating
    took about as long as each other, 5.3 and 5.2 s for the 1.03 GB contacts file, in one
    thread that the staging waited 4.1 s for."""

    def checked_chunks() -> Iterator[Validated]:
        checked, decimal = first_checked, None
        if first_checked is not None:
            decimal = first_checked.decimal
        for chunk in _ahead(chunks, "ingest-read"):
            if checked is None:
                checked = validate(stream.raw(chunk), plan, tz, lookup=lookup, decimal=decimal)
            if decimal is None and checked.rows_read:
                decimal = checked.decimal  # the first rows decide; later chunks verify
            yield checked
            checked = None

    return _ahead(checked_chunks(), "ingest-validate")


def _record_rejected(
    cur: duckdb.DuckDBPyConnection, batch_id: str, staged: _Staged, rejected: pl.DataFrame
) -> None:
    """Count every rejected row by reason; store the rows only while under the cap."""
    staged.rejected += rejected.height
    staged.reason_counts.update(_reason_counts(rejected["reason"]))
    _add_groups(staged, rejected)
    room = MAX_STORED_REJECTS - staged.stored
    if room > 0:
        part = rejected.sort("__row").head(room)
        _write_rejected(cur, batch_id, part)
        staged.stored += part.height


def _with_staged_values(cur: duckdb.DuckDBPyConnection, refused: pl.DataFrame) -> pl.DataFrame:
    """Rows the merge refused, with their staged values as the raw columns (the file's
    chunks are gone by then; the stage holds the typed values, personal data protected).

    Only the first MAX_STORED_REJECTS rows are kept in rejected_rows, so only those get
    their values; the rest are counted by reason.
    """
    refused = refused.with_columns(pl.col("__row").cast(pl.Int64)).sort("__row")
    head, rest = refused.head(MAX_STORED_REJECTS), refused.slice(MAX_STORED_REJECTS)
    cols = [c for c in _columns(cur, STAGE) if c not in ("__row", "batch_id")]
    cur.register("__refused", _arrow(head.select("__row")))
    try:
        rows = cur.execute(
            "SELECT r.__row, "
            + ", ".join(f"CAST(s.{_q(c)} AS VARCHAR)" for c in cols)
            + f" FROM __refused r JOIN {STAGE} s USING (__row) ORDER BY r.__row"
        ).fetchall()
    finally:
        cur.unregister("__refused")
    records = []
    for row in rows:
        values = dict(zip(cols, row[1:], strict=True))
        # The file's own unmapped columns, as in a validator reject's raw values.
        extras = values.pop("extras", None)
        records.append({"__row": row[0], **(json.loads(extras) if extras else {}), **values})
    raw = pl.DataFrame(records, infer_schema_length=None) if records else None
    if raw is not None:
        raw = raw.with_columns(pl.exclude("__row").cast(pl.String))
        head = head.join(raw, on="__row", how="left")
    return pl.concat([head, rest], how="diagonal") if rest.height else head


def _reason_counts(reasons: pl.Series) -> dict[str, int]:
    """Rows per kind of reason: the value and row numbers in a reason are replaced by '…'.

    A row failing two checks counts under both, so the counts may add up to more than the
    rejected rows.
    """
    # Reasons of several columns are joined by "; ", and each says "...; expected ...":
    # protect the latter before splitting.
    kinds = (
        reasons.str.replace_all("; expected", "\x00expected", literal=True)
        .str.split("; ")
        .explode()
        .str.replace_all("\x00", "; ", literal=True)
        .str.replace_all(r"'[^']*'", "'…'")
        .str.replace_all(r"\brow \d+", "row …")
    )
    counts = kinds.value_counts(sort=True)
    return dict(zip(counts[:, 0].to_list(), counts[:, 1].to_list(), strict=True))


def _settle_keys(
    cur: duckdb.DuckDBPyConnection, plan: Plan, batch_id: str, staged: _Staged
) -> None:
    """Rows sharing a key across the whole file: settled by the mapping's [ids], [dedupe]
    or [aggregate] (collapse.py), else the later ones rejected as duplicates."""
    if not plan.keys_on_stage:
        _reject_cross_chunk_duplicates(cur, plan, batch_id, staged)
        return

    def reject(refused: pl.DataFrame) -> None:
        _record_rejected(cur, batch_id, staged, _with_staged_values(cur, refused))

    staged.settled = settle_stage(cur, plan, STAGE, reject)
    if staged.settled.stale:
        n = staged.settled.stale
        staged.warnings.append(
            f"{n:,} key(s) not loaded: the row [dedupe] keeps for each was rejected (see the "
            "rejected rows), so an older row of the key was not loaded in its place; fix those "
            "rows and load the file again"
        )
    staged.rows_read -= staged.settled.filtered  # filtered rows are not counted as read


def _reject_cross_chunk_duplicates(
    cur: duckdb.DuckDBPyConnection, plan: Plan, batch_id: str, staged: _Staged
) -> None:
    """Duplicate keys in different chunks, on the stage: the first row loads, later ones are
    rejected naming it, as within a chunk. Distinct 64-bit hashes prove there are none."""
    if len(staged.key_hashes) < 2:
        return  # one chunk: the validator already resolved its duplicates
    hashes = pl.concat(staged.key_hashes)
    staged.key_hashes.clear()
    if hashes.n_unique() == hashes.len():
        return
    keys = list(keys_of(plan.table))
    label = ", ".join(keys)
    on = " AND ".join(f"s.{_q(k)} = f.{_q(k)}" for k in keys)
    key_text = " || '/' || ".join(f"CAST(s.{_q(k)} AS VARCHAR)" for k in keys)
    cols = [c for c in _columns(cur, STAGE) if c not in ("__row", "batch_id")]
    raw = "to_json(struct_pack(" + ", ".join(f"{_q(c)} := s.{_q(c)}" for c in cols) + "))"
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE __dups AS "
        f"WITH firsts AS (SELECT {', '.join(_q(k) for k in keys)}, min(__row) AS __first "
        f"FROM {STAGE} GROUP BY ALL HAVING count(*) > 1) "
        f"SELECT s.__row, ? AS column_name, 'duplicate ' || ? || ' ''' || {key_text} || "
        f"''': row ' || f.__first || ' with the same key is loaded; expected each key once "
        f"per file' AS reason, CAST({raw} AS VARCHAR) AS raw "
        f"FROM {STAGE} s JOIN firsts f ON {on} WHERE s.__row > f.__first",
        [label, label],
    )
    n = cur.execute("SELECT count(*) FROM __dups").fetchall()[0][0]
    if n:
        cur.execute(f"DELETE FROM {STAGE} WHERE __row IN (SELECT __row FROM __dups)")
        staged.rejected += n
        kind = f"duplicate {label} '…': row … with the same key is loaded; expected each key once per file"
        staged.reason_counts[kind] += n
        first = [
            r[0]
            for r in cur.execute(
                f"SELECT __row FROM __dups ORDER BY __row LIMIT {REJECT_EXAMPLES}"
            ).fetchall()
        ]
        count, examples = staged.groups.get((label, kind), (0, []))
        staged.groups[(label, kind)] = (count + n, sorted([*examples, *first])[:REJECT_EXAMPLES])
        # Only rows that can be among the first MAX_STORED_REJECTS are written; the trim
        # after the merge keeps exactly the first ones by row number.
        cur.execute(
            "INSERT INTO rejected_rows (batch_id, row_number, column_name, reason, raw) "
            "SELECT ?, __row, column_name, reason, raw FROM __dups ORDER BY __row LIMIT ?",
            [batch_id, MAX_STORED_REJECTS],
        )
        staged.stored += min(n, MAX_STORED_REJECTS)
    cur.execute("DROP TABLE __dups")


def _trim_rejected(cur: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """Keep the first MAX_STORED_REJECTS rejected rows of the batch by row number."""
    cur.execute(
        "DELETE FROM rejected_rows WHERE batch_id = ? AND row_number > (SELECT row_number "
        "FROM rejected_rows WHERE batch_id = ? ORDER BY row_number LIMIT 1 OFFSET ?)",
        [batch_id, batch_id, MAX_STORED_REJECTS - 1],
    )


def _columns(cur: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in cur.execute(f"DESCRIBE {_q(table)}").fetchall()]


def _finish(
    cur: duckdb.DuckDBPyConnection,
    stream: SourceStream,
    plan: Plan,
    batch_id: str,
    staged: _Staged,
    merged: MergeResult,
    insert_only: bool = False,
) -> IngestReport:
    table = plan.table
    stored = cur.execute(
        "SELECT count(*) FROM rejected_rows WHERE batch_id = ?", [batch_id]
    ).fetchall()[0][0]
    reasons = [
        {"row_number": int(r[0]), "column": r[1], "reason": r[2]}
        for r in cur.execute(
            "SELECT row_number, column_name, reason FROM rejected_rows WHERE batch_id = ? "
            "ORDER BY row_number LIMIT ?",
            [batch_id, MAX_REASONS],
        ).fetchall()
    ]
    counts = staged.reason_counts.most_common()
    reason_counts = dict(counts[:MAX_REASON_KINDS])
    if len(counts) > MAX_REASON_KINDS:
        reason_counts["(other reasons)"] = sum(n for _, n in counts[MAX_REASON_KINDS:])
    report = IngestReport(
        batch_id=batch_id,
        file_name=stream.file_name,
        table=table,
        rows_read=staged.rows_read,
        inserted=merged.inserted,
        updated=merged.updated,
        unchanged=merged.unchanged,
        rejected=staged.rejected,
        reasons=reasons,
        pii=dict(plan.pii),
        extras_columns=list(plan.extras),
        mapping=plan.entries,
        format=stream.format,
        encoding=stream.encoding,
        delimiter=stream.delimiter,
        decimal=staged.decimal,
        timezone=staged.timezone,
        checksum=stream.checksum,
        warnings=staged.warnings
        + _reference_warnings(table, staged.missing_refs)
        + filter_notes(plan),  # issue 10 [filter] (validate.py)
        reason_counts=reason_counts,
        rejected_stored=int(stored),
        skipped_older=merged.skipped_older,
        skipped_older_examples=merged.skipped_older_examples,
        updated_without_time=merged.undated,
        updated_without_time_examples=merged.undated_examples,
        changes=merged.changes,
        change_examples=merged.change_examples,
        insert_only=insert_only,
        superseded=staged.settled.superseded,
        folded=staged.settled.folded,
    )
    cur.execute(
        "UPDATE ingest_batches SET finished_at = ?, checksum = ?, rows_read = ?, inserted = ?, "
        "updated = ?, unchanged = ?, rejected = ?, skipped_older = ?, report = ? "
        "WHERE batch_id = ?",
        [
            datetime.now(UTC).replace(tzinfo=None),
            report.checksum,
            report.rows_read,
            report.inserted,
            report.updated,
            report.unchanged,
            report.rejected,
            merged.skipped_older,
            json.dumps(report.to_dict(), ensure_ascii=False),
            batch_id,
        ],
    )
    return report


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
