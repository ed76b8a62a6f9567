"""Keys settled on the stage: [ids] generated, [dedupe] one row per key, [aggregate] folded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import duckdb
import polars as pl

from metrics.ingest.mapping import FILTER_COLUMN, ORDER_COLUMN, REJECTED_COLUMN, Plan
from metrics.ingest.spec import keys_of
from metrics.store import quote_ident as _q

# Not data: the stage's bookkeeping columns.
_BOOKKEEPING = ("__row", "batch_id", ORDER_COLUMN, FILTER_COLUMN, REJECTED_COLUMN)


@dataclass(frozen=True)
class Settled:
    """Rows the stage lost to [dedupe] (superseded) and [aggregate] (folded into another
    row of their key); rows refused by [aggregate] are handed to the caller's callback."""

    superseded: int = 0
    folded: int = 0
    filtered: int = 0  # kept rows of keys left out by [filter] (with [dedupe]); in plan.filtered
    # Keys of several rows whose kept row ([dedupe]) was rejected: nothing of them loads.
    stale: int = 0


def _columns(cur: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    return [r[0] for r in cur.execute(f"DESCRIBE {_q(stage)}").fetchall()]


def stage_extra_columns(plan: Plan) -> dict[str, str]:
    """Columns the stage needs besides the table's: {name: SQL type}."""
    out = {ORDER_COLUMN: "DOUBLE"} if plan.order_source is not None else {}
    if plan.filter and plan.dedupe is not None:
        out[FILTER_COLUMN] = "VARCHAR"
    if plan.dedupe is not None:
        out[REJECTED_COLUMN] = "BOOLEAN"
    return out


def settle_stage(
    cur: duckdb.DuckDBPyConnection,
    plan: Plan,
    stage: str,
    reject: Callable[[pl.DataFrame], None],
) -> Settled:
    """Apply [ids], [dedupe] or [aggregate] to the whole staged file (every chunk), in the
    caller's transaction; afterwards every key is staged once (with [dedupe], a key whose
    kept row [filter] marks is gone) and the bookkeeping columns are dropped.

    `reject(frame)` receives rows refused (__row, column_name, reason) while they are still
    on the stage, so their staged values can be kept as the raw values.
    """
    settled = Settled()
    keys = list(keys_of(plan.table))
    if plan.ids:
        _generate_ids(cur, plan, stage)
    elif _repeats(cur, stage, keys):
        if plan.dedupe is not None:
            superseded, stale = _dedupe(cur, plan, stage, keys)
            settled = Settled(superseded=superseded, stale=stale)
        elif plan.aggregate:
            settled = Settled(folded=_aggregate(cur, plan, stage, keys, reject))
    extra = stage_extra_columns(plan)  # what the stage was made with (load._stage_chunks)
    if REJECTED_COLUMN in extra:
        # Rejected rows (already counted so) that their key kept, or that had no other row.
        cur.execute(f"DELETE FROM {_q(stage)} WHERE {REJECTED_COLUMN}")
    if FILTER_COLUMN in extra:
        settled = replace(settled, filtered=_drop_filtered(cur, plan, stage))
    for col in extra:
        cur.execute(f"ALTER TABLE {_q(stage)} DROP COLUMN {col}")
    return settled


def _drop_filtered(cur: duckdb.DuckDBPyConnection, plan: Plan, stage: str) -> int:
    """Keys whose kept row matches [filter]: left out, counted in plan.filtered per header."""
    counts = cur.execute(
        f"SELECT {FILTER_COLUMN}, count(*) FROM {_q(stage)} WHERE {FILTER_COLUMN} IS NOT NULL "
        "GROUP BY 1"
    ).fetchall()
    for src, n in counts:
        plan.filtered[src] = plan.filtered.get(src, 0) + int(n)
    cur.execute(f"DELETE FROM {_q(stage)} WHERE {FILTER_COLUMN} IS NOT NULL")
    return sum(int(n) for _, n in counts)


def _repeats(cur: duckdb.DuckDBPyConnection, stage: str, keys: list[str]) -> bool:
    cols = ", ".join(_q(k) for k in keys)
    n, distinct = cur.execute(
        f"SELECT count(*), count(DISTINCT ({cols})) FROM {_q(stage)}"
    ).fetchall()[0]
    return bool(n != distinct)


def _generate_ids(cur: duckdb.DuckDBPyConnection, plan: Plan, stage: str) -> None:
    """[ids] col = "row": 'r' + 16 hex digits of SHA-256 over the row's staged values (every
    mapped column but the generated ones, and extras) and its occurrence among identical
    rows. Re-loading the file gives the same ids, wherever its rows moved; a changed value
    gives a new id."""
    content = [c for c in _columns(cur, stage) if c not in (*_BOOKKEEPING, *plan.ids)]
    text = (
        "concat_ws(chr(31), "
        + ", ".join(f"coalesce(CAST({_q(c)} AS VARCHAR), chr(0))" for c in content)
        + ")"
        if content
        else "''"
    )
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE __ids AS SELECT __row, 'r' || substr(sha256(c || chr(30) "
        f"|| CAST(row_number() OVER (PARTITION BY c ORDER BY __row) AS VARCHAR)), 1, 16) AS id "
        f"FROM (SELECT __row, {text} AS c FROM {_q(stage)})"
    )
    sets = ", ".join(f"{_q(c)} = __ids.id" for c in plan.ids)
    cur.execute(f"UPDATE {_q(stage)} SET {sets} FROM __ids WHERE {_q(stage)}.__row = __ids.__row")
    cur.execute("DROP TABLE __ids")


def _dedupe(
    cur: duckdb.DuckDBPyConnection, plan: Plan, stage: str, keys: list[str]
) -> tuple[int, int]:
    """Keep one row per key: "latest" = the largest order value (ties and blanks: the later
    row in the file wins over the earlier, a blank loses to any value), "first" = the
    smallest (ties: the earlier row). Without an order, file order.

    Rejected rows on the stage (REJECTED_COLUMN) take part: one kept leaves its key with no
    row to load. Returns (valid rows superseded, keys of several rows whose kept row was a
    rejected one)."""
    assert plan.dedupe is not None
    keep, order = plan.dedupe
    way = "DESC" if keep == "latest" else "ASC"
    by = (f"{_q(order)} {way} NULLS LAST, " if order else "") + f"__row {way}"
    part = ", ".join(_q(k) for k in keys)
    stg = _q(stage)
    # One pass ranks each key's rows: the rank-1 row stays, the others go (superseded when
    # valid); a rank-1 rejected row of a key with several rows leaves the key stale.
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE __ranked AS SELECT __row, {REJECTED_COLUMN} AS r, "
        f"row_number() OVER w AS n, count(*) OVER (PARTITION BY {part}) AS c FROM {stg} "
        f"WINDOW w AS (PARTITION BY {part} ORDER BY {by})"
    )
    superseded, stale = cur.execute(
        "SELECT count(*) FILTER (WHERE n > 1 AND NOT r), "
        "count(*) FILTER (WHERE n = 1 AND r AND c > 1) FROM __ranked"
    ).fetchall()[0]
    cur.execute(f"DELETE FROM {stg} WHERE __row IN (SELECT __row FROM __ranked WHERE n > 1)")
    cur.execute("DROP TABLE __ranked")
    return int(superseded), int(stale)


def _count(cur: duckdb.DuckDBPyConnection, stage: str) -> int:
    return int(cur.execute(f"SELECT count(*) FROM {_q(stage)}").fetchall()[0][0])


_AGG_SQL = {
    "sum": "sum({c})",
    "min": "min({c})",
    "max": "max({c})",
    "first": "arg_min({c}, __row) FILTER (WHERE {c} IS NOT NULL)",
    "last": "arg_max({c}, __row) FILTER (WHERE {c} IS NOT NULL)",
    "count": "count(*)",
}


def _aggregate(
    cur: duckdb.DuckDBPyConnection,
    plan: Plan,
    stage: str,
    keys: list[str],
    reject: Callable[[pl.DataFrame], None],
) -> int:
    """Fold the rows of each key into one: [aggregate] columns by their function, every
    other column must agree within the key (blank cells aside), else all the key's rows are
    refused with both values; extras come from the key's first row."""
    cols = [c for c in _columns(cur, stage) if c not in (*_BOOKKEEPING, *keys)]
    agree = [c for c in cols if c not in plan.aggregate and c != "extras"]
    part = ", ".join(_q(k) for k in keys)
    stg = _q(stage)
    if agree:
        what = ", ".join(
            f"CASE WHEN count(DISTINCT {_q(c)}) > 1 THEN '{c} ''' || CAST(min({_q(c)}) AS VARCHAR)"
            f" || ''' and ''' || CAST(max({_q(c)}) AS VARCHAR) || '''' END"
            for c in agree
        )
        names = ", ".join(f"CASE WHEN count(DISTINCT {_q(c)}) > 1 THEN '{c}' END" for c in agree)
        key_text = " || '/' || ".join(f"CAST(s.{_q(k)} AS VARCHAR)" for k in keys)
        label = ", ".join(keys)
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE __disagree AS SELECT {part}, w, n FROM (SELECT "
            # ", " between the columns, not "; ": a reason's parts are split at "; " when
            # the rejected rows are grouped by cause (load._reject_groups).
            f"{part}, concat_ws(', ', {what}) AS w, concat_ws(', ', {names}) AS n "
            f"FROM {stg} GROUP BY ALL HAVING count(*) > 1) WHERE w <> ''"
        )
        on = " AND ".join(f"s.{_q(k)} = d.{_q(k)}" for k in keys)
        refused = cur.sql(
            f"SELECT s.__row, d.n AS column_name, '{label} ''' || {key_text}"
            f" || ''': its rows disagree on ' || d.w || '; expected one value per {label} "
            "in the rows [aggregate] folds (or an [aggregate] rule for the column)' AS reason "
            f"FROM {stg} s JOIN __disagree d ON {on} ORDER BY s.__row"
        ).pl()
        if refused.height:
            reject(refused)
            cur.execute(
                f"DELETE FROM {stg} WHERE __row IN (SELECT s.__row FROM {stg} s "
                f"JOIN __disagree d ON {on})"
            )
        cur.execute("DROP TABLE __disagree")
    before = _count(cur, stage)
    exprs = ["min(__row) AS __row", *(_q(k) for k in keys), "any_value(batch_id) AS batch_id"]
    for c in cols:
        how = plan.aggregate.get(c, "first")
        exprs.append(_AGG_SQL[how].format(c=_q(c)) + f" AS {_q(c)}")
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE __folded AS SELECT {', '.join(exprs)} FROM {stg} "
        f"GROUP BY {part}"
    )
    cur.execute(f"DELETE FROM {stg}")
    cur.execute(f"INSERT INTO {stg} BY NAME SELECT * FROM __folded")
    cur.execute("DROP TABLE __folded")
    return before - _count(cur, stage)
