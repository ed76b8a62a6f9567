"""merge_stage: apply a staged file to its table by key, never older over newer, with history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import polars as pl

from metrics.ingest.spec import keys_of
from metrics.store import quote_ident as _q

EXAMPLES = 5  # example keys kept per column changed and for skipped older rows
# Experiments whose assignments may no longer change: the analysis reads them as they are.
FROZEN_STATUSES = ("running", "decided")
_MERGE = "__merge"  # per-row decision, a temp table that lives only inside merge_stage
_DERIVED = "__derived"  # a first load's derived columns, likewise (_derive)


@dataclass(frozen=True, eq=False)
class MergeResult:
    """What merging one staged file did. Staged rows = inserted + updated + unchanged +
    skipped_older + len(rejected).

    `changes` maps each column to the number of updated rows whose value in that column
    changed; `change_examples` gives a few of those rows' keys (the smallest, so runs agree).
    `rejected` has one row per refused file row: __row, column_name, reason.
    """

    inserted: int
    updated: int
    unchanged: int
    skipped_older: int
    skipped_older_examples: list[str] = field(default_factory=list)
    # Updates by rows without an updated_at of rows stored with one: applied (a row without
    # a time is not known to be older), the stored updated_at kept.
    undated: int = 0
    undated_examples: list[str] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    change_examples: dict[str, list[str]] = field(default_factory=dict)
    rejected: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"__row": pl.Int64, "column_name": pl.String, "reason": pl.String}
        )
    )
    first_load: bool = False  # the table was empty: every row inserted, `derived` included


def _key_text(alias: str, keys: list[str]) -> str:
    """One readable key per row ('E1/C42' for assignments), for examples and reasons."""
    return " || '/' || ".join(f"CAST({alias}.{_q(k)} AS VARCHAR)" for k in keys)


def _same(c: str) -> str:
    # extras is JSON in the table and text in the stage: compare the text.
    if c == "extras":
        return f"CAST(s.{_q(c)} AS VARCHAR) IS NOT DISTINCT FROM CAST(t.{_q(c)} AS VARCHAR)"
    if c == "updated_at":
        # A blank time says nothing about the row's time: it never changes the stored one.
        return "(s.updated_at IS NULL OR s.updated_at IS NOT DISTINCT FROM t.updated_at)"
    return f"s.{_q(c)} IS NOT DISTINCT FROM t.{_q(c)}"


def _new_value(c: str) -> str:
    """The value an update writes to column `c` (the staged row is s, the stored one t)."""
    if c == "updated_at":
        return "coalesce(s.updated_at, t.updated_at)"  # keep the stored time over a blank
    return f"s.{_q(c)}"


def merge_stage(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    stage: str,
    batch_id: str,
    *,
    insert_only: bool = False,
    derived: Mapping[str, str] | None = None,
) -> MergeResult:
    """Merge the temp table `stage` into `table`, inside the caller's transaction.

    `stage` holds `__row` (data-row number), the canonical columns the file has (typed like
    the table), optionally `extras`, and `batch_id`; keys are unique. Per staged row:
    - a new key is inserted;
    - a row equal to the stored one in every column the file has is left alone (unchanged);
    - a row whose updated_at is older than the stored updated_at is not applied
      (skipped_older); a blank updated_at on either side counts as not older;
    - a blank incoming updated_at never overwrites a stored one: the row is compared and
      applied without it, the stored time kept, and an update of a row stored with a time by
      one without is counted (`undated`, with examples);
    - an assignment that would change a unit's variant in a running or decided experiment is
      rejected, and so is any other update when `insert_only`;
    - otherwise the stored row is updated, in the columns the file has only.
    Before any change the previous version of each updated row (all columns) goes to
    `<table>_history` under `batch_id`. Inserted rows need no history: they carry `batch_id`,
    and a later update saves that version with it (metrics/ingest/batches.py finds them).
    All set-based SQL: one join classifies the rows, then one statement per action over the
    rows it picked.

    Into an empty table (`first_load` in the result) every row is inserted in one statement,
    with the columns of `derived` (column -> SQL expression over the stage's columns, code,
    never user text; window functions allowed) filled too: values that otherwise need a
    pass over the table after the merge (the contacts' repeat gaps, metrics/repeats.py
    stage_gaps).
    """
    keys = list(keys_of(table))
    staged = [r[0] for r in cur.execute(f"DESCRIBE {_q(stage)}").fetchall()]
    data_cols = [c for c in staged if c != "__row"]
    compare = [c for c in data_cols if c not in keys and c != "batch_id"]
    tbl, stg = _q(table), _q(stage)
    cols = ", ".join(_q(c) for c in data_cols)
    empty = not cur.execute(f"SELECT 1 FROM {tbl} LIMIT 1").fetchall()
    if empty:
        # Nothing to compare with: every row is new. In no particular order: the table has
        # no key index to build in key order (schema V10).
        extra = dict(derived or {})
        names = ", ".join([cols, *(_q(c) for c in extra)])
        values = ", ".join([*(f"s.{_q(c)}" for c in data_cols), *(f"d.{_q(c)}" for c in extra)])
        if extra:
            _derive(cur, stage, extra)
            source = f"{stg} s LEFT JOIN {_DERIVED} d ON d.__rowid = s.rowid"
        else:
            source = f"{stg} s"
        cur.execute(f"INSERT INTO {tbl} ({names}) SELECT {values} FROM {source}")
        if extra:
            cur.execute(f"DROP TABLE {_DERIVED}")
        n = cur.execute(f"SELECT count(*) FROM {stg}").fetchall()[0][0]
        return MergeResult(
            inserted=int(n), updated=0, unchanged=0, skipped_older=0, first_load=True
        )

    on = " AND ".join(f"s.{_q(k)} = t.{_q(k)}" for k in keys)
    same = " AND ".join(_same(c) for c in compare) or "TRUE"
    cases = [f"WHEN t.{_q(keys[0])} IS NULL THEN 'insert'", f"WHEN {same} THEN 'unchanged'"]
    if "updated_at" in compare:
        cases.append("WHEN s.updated_at < t.updated_at THEN 'older'")
    joins = ""
    frozen = table == "assignments" and "variant" in compare
    if frozen:
        statuses = ", ".join(f"'{s}'" for s in FROZEN_STATUSES)
        joins = "LEFT JOIN experiments e ON e.experiment_id = s.experiment_id"
        cases.append(
            f"WHEN s.variant IS DISTINCT FROM t.variant AND e.status IN ({statuses}) THEN 'frozen'"
        )
    if insert_only:
        cases.append("WHEN TRUE THEN 'refused'")
    # Only the rows that need something are kept (row number and decision): re-loading a
    # file that is already stored writes next to nothing here.
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {_MERGE} AS SELECT __row, op FROM (SELECT s.__row, "
        f"CASE {' '.join(cases)} ELSE 'update' END AS op FROM {stg} s "
        f"LEFT JOIN {tbl} t ON {on} {joins}) WHERE op <> 'unchanged'"
    )
    total = cur.execute(f"SELECT count(*) FROM {stg}").fetchall()[0][0]
    result = _apply(cur, table, stage, batch_id, keys, data_cols, compare, int(total))
    # Not in a finally: after a failed statement the transaction only accepts ROLLBACK, which
    # removes the temp table anyway; a DROP there would hide the real error.
    cur.execute(f"DROP TABLE {_MERGE}")
    return result


def _derive(cur: duckdb.DuckDBPyConnection, stage: str, derived: Mapping[str, str]) -> None:
    """The `derived` columns of the staged rows that have any, as the temp table _DERIVED,
    with the stage row's rowid (`__rowid`, stable within the transaction, the rows
    _settle_keys deleted absent alike), for merge_stage to LEFT JOIN the insert to: a row
    missing here gets NULLs, which is what it would have got.

    A window computed in the insert itself carries every column of every row through its
    sort; here it sorts only the columns it reads. Measured on 2M staged contacts (a file
    store): window here 0.5 s + insert joined by rowid 1.4 s, against 0.6 s + 2.0 s for the
    same table kept in stage order and attached by POSITIONAL JOIN (which runs the insert on
    one thread) and 1.9-2.1 s for the window inside the insert. Keeping only the rows with a
    value (the contacts' repeat gaps: 13 % of the benchmark's contacts have a next one)
    shrinks the join's hash table: 8.6M contacts, insert 7.9 -> 6.9 s."""
    exprs = ", ".join(f"{expr} AS {_q(c)}" for c, expr in derived.items())
    some = " OR ".join(f"{_q(c)} IS NOT NULL" for c in derived)
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {_DERIVED} AS SELECT * FROM (SELECT rowid AS __rowid, "
        f"{exprs} FROM {_q(stage)}) WHERE {some}"
    )


def _pick(stage: str, op: str) -> str:
    """The staged rows merge decided `op` for, as a subquery aliased s, joined to the table t."""
    return (
        f"(SELECT x.* FROM {_q(stage)} x JOIN {_MERGE} m ON x.__row = m.__row "
        f"WHERE m.op = '{op}') AS s"
    )


def _apply(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    stage: str,
    batch_id: str,
    keys: list[str],
    data_cols: list[str],
    compare: list[str],
    total: int,
) -> MergeResult:
    tbl, hist = _q(table), _q(f"{table}_history")
    on = " AND ".join(f"s.{_q(k)} = t.{_q(k)}" for k in keys)
    counts = dict(cur.execute(f"SELECT op, count(*) FROM {_MERGE} GROUP BY op").fetchall())
    n_insert, n_update = int(counts.get("insert", 0)), int(counts.get("update", 0))
    key_text = _key_text("s", keys)

    older_examples: list[str] = []
    undated, undated_examples = 0, []
    if counts.get("older"):
        older_examples = cur.execute(
            f"SELECT min({key_text}, {EXAMPLES}) FROM {_pick(stage, 'older')}"
        ).fetchall()[0][0]
    changes: dict[str, int] = {}
    change_examples: dict[str, list[str]] = {}
    if n_update and compare:
        aggs = ", ".join(
            f"count(*) FILTER (WHERE NOT ({_same(c)})), "
            f"min({key_text}, {EXAMPLES}) FILTER (WHERE NOT ({_same(c)}))"
            for c in compare
        )
        if "updated_at" in compare:
            undated_if = "FILTER (WHERE s.updated_at IS NULL AND t.updated_at IS NOT NULL)"
            aggs += f", count(*) {undated_if}, min({key_text}, {EXAMPLES}) {undated_if}"
        row = cur.execute(
            f"SELECT {aggs} FROM {_pick(stage, 'update')} JOIN {tbl} t ON {on}"
        ).fetchall()[0]
        if "updated_at" in compare:
            undated, undated_examples = int(row[-2]), list(row[-1] or [])
        for i, c in enumerate(compare):
            if row[2 * i]:
                changes[c] = int(row[2 * i])
                change_examples[c] = list(row[2 * i + 1])
    rejected = _rejected(cur, table, stage, keys, compare, counts)

    if n_update:
        # The previous version first, then the change: undo restores it column for column.
        cur.execute(
            f"INSERT INTO {hist} BY NAME SELECT ? AS hist_batch, 'update' AS hist_op, t.* "
            f"FROM {tbl} t JOIN {_pick(stage, 'update')} ON {on}",
            [batch_id],
        )
        sets = ", ".join(f"{_q(c)} = {_new_value(c)}" for c in [*compare, "batch_id"])
        cur.execute(f"UPDATE {tbl} AS t SET {sets} FROM {_pick(stage, 'update')} WHERE {on}")
    if n_insert:
        cols = ", ".join(f"s.{_q(c)}" for c in data_cols)
        names = ", ".join(_q(c) for c in data_cols)
        cur.execute(f"INSERT INTO {tbl} ({names}) SELECT {cols} FROM {_pick(stage, 'insert')}")
    return MergeResult(
        inserted=n_insert,
        updated=n_update,
        unchanged=total - sum(int(v) for v in counts.values()),
        skipped_older=int(counts.get("older", 0)),
        skipped_older_examples=list(older_examples),
        undated=undated,
        undated_examples=undated_examples,
        changes=changes,
        change_examples=change_examples,
        rejected=rejected,
    )


def _rejected(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    stage: str,
    keys: list[str],
    compare: list[str],
    counts: dict[str, int],
) -> pl.DataFrame:
    """The refused rows with a reason naming the key, the stored and the incoming values."""
    tbl = _q(table)
    on = " AND ".join(f"s.{_q(k)} = t.{_q(k)}" for k in keys)
    parts = []
    if counts.get("frozen"):
        parts.append(
            "SELECT s.__row, 'variant' AS column_name, 'experiment ' || s.experiment_id || "
            "' is ' || e.status || ': unit ' || s.unit_id || ' is assigned to variant ' || "
            "coalesce('''' || t.variant || '''', 'none') || ', the file says ' || "
            "coalesce('''' || s.variant || '''', 'none') || '; assignments of a running or "
            f"decided experiment cannot change' AS reason FROM {_pick(stage, 'frozen')} "
            f"JOIN {tbl} t ON {on} JOIN experiments e ON e.experiment_id = s.experiment_id"
        )
    if counts.get("refused"):
        changed = ", ".join(f"CASE WHEN NOT ({_same(c)}) THEN '{c}' END" for c in compare)
        parts.append(
            f"SELECT s.__row, concat_ws(', ', {changed}) AS column_name, {_key_text('s', keys)} "
            f"|| ' is already stored with a different ' || concat_ws(', ', {changed}) || "
            f"'; --insert-only refuses updates' AS reason FROM {_pick(stage, 'refused')} "
            f"JOIN {tbl} t ON {on}"
        )
    if not parts:
        return MergeResult(0, 0, 0, 0).rejected
    frame = cur.sql(" UNION ALL ".join(parts) + " ORDER BY __row").pl()
    return frame.with_columns(pl.col("__row").cast(pl.Int64))
