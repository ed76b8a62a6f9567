"""merge_stage: apply a staged file to its table by key, never older over newer, with history."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import polars as pl

from metrics.ingest.spec import keys_of

EXAMPLES = 5  # example keys kept per column changed and for skipped older rows
# Experiments whose assignments may no longer change: the analysis reads them as they are.
FROZEN_STATUSES = ("running", "decided")
_MERGE = "__merge"  # per-row decision, a temp table that lives only inside merge_stage


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
    changes: dict[str, int] = field(default_factory=dict)
    change_examples: dict[str, list[str]] = field(default_factory=dict)
    rejected: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"__row": pl.Int64, "column_name": pl.String, "reason": pl.String}
        )
    )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _key_text(alias: str, keys: list[str]) -> str:
    """One readable key per row ('E1/C42' for assignments), for examples and reasons."""
    return " || '/' || ".join(f"CAST({alias}.{_q(k)} AS VARCHAR)" for k in keys)


def _same(c: str) -> str:
    # extras is JSON in the table and text in the stage: compare the text.
    if c == "extras":
        return f"CAST(s.{_q(c)} AS VARCHAR) IS NOT DISTINCT FROM CAST(t.{_q(c)} AS VARCHAR)"
    return f"s.{_q(c)} IS NOT DISTINCT FROM t.{_q(c)}"


def merge_stage(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    stage: str,
    batch_id: str,
    *,
    insert_only: bool = False,
) -> MergeResult:
    """Merge the temp table `stage` into `table`, inside the caller's transaction.

    `stage` holds `__row` (data-row number), the canonical columns the file has (typed like
    the table), optionally `extras`, and `batch_id`; keys are unique. Per staged row:
    - a new key is inserted;
    - a row equal to the stored one in every column the file has is left alone (unchanged);
    - a row whose updated_at is older than the stored updated_at is not applied
      (skipped_older); a blank updated_at on either side counts as not older;
    - an assignment that would change a unit's variant in a running or decided experiment is
      rejected, and so is any other update when `insert_only`;
    - otherwise the stored row is updated, in the columns the file has only.
    Before any change the previous version of each updated row (all columns) goes to
    `<table>_history` under `batch_id`. Inserted rows need no history: they carry `batch_id`,
    and a later update saves that version with it (metrics/ingest/batches.py finds them).
    All set-based SQL: one join classifies the rows, then one statement per action.
    """
    keys = list(keys_of(table))
    staged = [r[0] for r in cur.execute(f"DESCRIBE {_q(stage)}").fetchall()]
    data_cols = [c for c in staged if c != "__row"]
    compare = [c for c in data_cols if c not in keys and c != "batch_id"]
    tbl, stg = _q(table), _q(stage)
    cols = ", ".join(_q(c) for c in data_cols)
    key_list = ", ".join(_q(k) for k in keys)
    empty = not cur.execute(f"SELECT 1 FROM {tbl} LIMIT 1").fetchall()
    if empty:
        # Nothing to compare with: every row is new. Key order makes the key index build
        # about twice as fast as shuffled keys.
        cur.execute(f"INSERT INTO {tbl} ({cols}) SELECT {cols} FROM {stg} ORDER BY {key_list}")
        n = cur.execute(f"SELECT count(*) FROM {stg}").fetchall()[0][0]
        return MergeResult(inserted=int(n), updated=0, unchanged=0, skipped_older=0)

    on = " AND ".join(f"s.{_q(k)} = t.{_q(k)}" for k in keys)
    same = " AND ".join(_same(c) for c in compare) or "TRUE"
    found = f"t.{_q(keys[0])} IS NOT NULL"
    cases = [f"WHEN NOT ({found}) THEN 'insert'", f"WHEN {same} THEN 'unchanged'"]
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
    diff = ", ".join(f"({found} AND NOT ({_same(c)})) AS {_q('d_' + c)}" for c in compare)
    frozen_cols = (
        ", e.status AS exp_status, t.variant AS stored_variant, s.variant AS new_variant"
        if frozen
        else ""
    )
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE {_MERGE} AS SELECT s.__row, "
        f"{', '.join(f's.{_q(k)}' for k in keys)}, {_key_text('s', keys)} AS key_text, "
        f"CASE {' '.join(cases)} ELSE 'update' END AS op"
        f"{', ' + diff if diff else ''}{frozen_cols} "
        f"FROM {stg} s LEFT JOIN {tbl} t ON {on} {joins}"
    )
    result = _apply(cur, table, stage, batch_id, keys, data_cols, compare, frozen)
    # Not in a finally: after a failed statement the transaction only accepts ROLLBACK, which
    # removes the temp table anyway; a DROP there would hide the real error.
    cur.execute(f"DROP TABLE {_MERGE}")
    return result


def _apply(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    stage: str,
    batch_id: str,
    keys: list[str],
    data_cols: list[str],
    compare: list[str],
    frozen: bool,
) -> MergeResult:
    tbl, stg, hist = _q(table), _q(stage), _q(f"{table}_history")
    counts = dict(cur.execute(f"SELECT op, count(*) FROM {_MERGE} GROUP BY op").fetchall())
    n_insert, n_update = int(counts.get("insert", 0)), int(counts.get("update", 0))

    older_examples: list[str] = []
    if counts.get("older"):
        older_examples = cur.execute(
            f"SELECT min(key_text, {EXAMPLES}) FROM {_MERGE} WHERE op = 'older'"
        ).fetchall()[0][0]
    changes: dict[str, int] = {}
    change_examples: dict[str, list[str]] = {}
    if n_update and compare:
        aggs = ", ".join(
            f"count(*) FILTER (WHERE {_q('d_' + c)}), "
            f"min(key_text, {EXAMPLES}) FILTER (WHERE {_q('d_' + c)})"
            for c in compare
        )
        row = cur.execute(f"SELECT {aggs} FROM {_MERGE} WHERE op = 'update'").fetchall()[0]
        for i, c in enumerate(compare):
            if row[2 * i]:
                changes[c] = int(row[2 * i])
                change_examples[c] = list(row[2 * i + 1])
    rejected = _rejected(cur, compare, frozen, counts)

    m_on = " AND ".join(f"m.{_q(k)} = t.{_q(k)}" for k in keys)
    if n_update:
        # The previous version first, then the change: undo restores it column for column.
        cur.execute(
            f"INSERT INTO {hist} BY NAME SELECT ? AS hist_batch, 'update' AS hist_op, t.* "
            f"FROM {tbl} t JOIN {_MERGE} m ON {m_on} WHERE m.op = 'update'",
            [batch_id],
        )
        sets = ", ".join(f"{_q(c)} = s.{_q(c)}" for c in [*compare, "batch_id"])
        s_on = " AND ".join(f"s.{_q(k)} = t.{_q(k)}" for k in keys)
        cur.execute(
            f"UPDATE {tbl} AS t SET {sets} FROM (SELECT x.* FROM {stg} x JOIN {_MERGE} m "
            f"ON x.__row = m.__row WHERE m.op = 'update') AS s WHERE {s_on}"
        )
    if n_insert:
        cols = ", ".join(f"x.{_q(c)}" for c in data_cols)
        names = ", ".join(_q(c) for c in data_cols)
        order = ", ".join(f"x.{_q(k)}" for k in keys)
        cur.execute(
            f"INSERT INTO {tbl} ({names}) SELECT {cols} FROM {stg} x JOIN {_MERGE} m "
            f"ON x.__row = m.__row WHERE m.op = 'insert' ORDER BY {order}"
        )
    return MergeResult(
        inserted=n_insert,
        updated=n_update,
        unchanged=int(counts.get("unchanged", 0)),
        skipped_older=int(counts.get("older", 0)),
        skipped_older_examples=list(older_examples),
        changes=changes,
        change_examples=change_examples,
        rejected=rejected,
    )


def _rejected(
    cur: duckdb.DuckDBPyConnection, compare: list[str], frozen: bool, counts: dict[str, int]
) -> pl.DataFrame:
    """The refused rows with a reason naming the key, the stored and the incoming values."""
    parts = []
    if counts.get("frozen"):
        parts.append(
            "SELECT __row, 'variant' AS column_name, 'experiment ' || experiment_id || ' is ' "
            "|| exp_status || ': unit ' || unit_id || ' is assigned to variant ' || "
            "coalesce('''' || stored_variant || '''', 'none') || ', the file says ' || "
            "coalesce('''' || new_variant || '''', 'none') || '; assignments of a running or "
            f"decided experiment cannot change' AS reason FROM {_MERGE} WHERE op = 'frozen'"
        )
    if counts.get("refused"):
        changed = ", ".join(f"CASE WHEN {_q('d_' + c)} THEN '{c}' END" for c in compare)
        parts.append(
            f"SELECT __row, concat_ws(', ', {changed}) AS column_name, key_text || ' is already "
            f"stored with a different ' || concat_ws(', ', {changed}) || '; --insert-only "
            f"refuses updates' AS reason FROM {_MERGE} WHERE op = 'refused'"
        )
    if not parts:
        return MergeResult(0, 0, 0, 0).rejected
    frame = cur.sql(" UNION ALL ".join(parts) + " ORDER BY __row").pl()
    return frame.with_columns(pl.col("__row").cast(pl.Int64))
