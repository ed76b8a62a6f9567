"""Repeat contacts precomputed at ingest: on each contact, the gap in seconds to the next and
previous contact by the same customer on the same issue type (contacts.next_gap_s /
prev_gap_s, NULL when there is none).

The derived FCR ("no other contact on the same issue within N days after") and the
repeat-contact rate ("another within N days before") used to sort every contact on every
query; with the gaps stored on the row, a query compares them with the window setting
(`next_gap_s <= N·86400`) while it reads the row anyway: no join, no sort, and changing the
window needs no rebuild.

Semantics equal to the self-join the compiler ran before: another contact (different id) by
the same customer on the same issue type whose opened_at is within N days after (resp.
before) this one's, ends included; contacts at the very same instant are each other's repeat
both ways (gap 0). Contacts without a customer or an issue type have no such neighbour.

Keep them current inside the transaction that changes contacts:
    before = customers_of(cur, ids)            # ingest/undo: before the change
    ...change the contacts...
    refresh_for_contacts(cur, ids, before)     # after it
or `refresh_repeats(cur)` to rebuild every gap (the sample generator, the V6 migration).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

import duckdb
import pyarrow as pa

# Gaps of every contact with a customer and an issue type ({only}: restrict to some customers).
COMPUTE_SQL = """
SELECT contact_id,
    CASE WHEN COUNT(*) OVER same > 1 THEN 0.0
         ELSE EPOCH(LEAD(opened_at) OVER w) - EPOCH(opened_at) END AS next_gap_s,
    CASE WHEN COUNT(*) OVER same > 1 THEN 0.0
         ELSE EPOCH(opened_at) - EPOCH(LAG(opened_at) OVER w) END AS prev_gap_s
FROM contacts
WHERE customer_id IS NOT NULL AND issue_type IS NOT NULL {only}
WINDOW w AS (PARTITION BY customer_id, issue_type ORDER BY opened_at, contact_id),
       same AS (PARTITION BY customer_id, issue_type, opened_at)
"""

# Write only rows whose gaps change: an UPDATE rewrites what it touches.
UPDATE_SQL = """
UPDATE contacts SET next_gap_s = g.next_gap_s, prev_gap_s = g.prev_gap_s
FROM ({compute}) AS g
WHERE contacts.contact_id = g.contact_id
  AND (contacts.next_gap_s IS DISTINCT FROM g.next_gap_s
       OR contacts.prev_gap_s IS DISTINCT FROM g.prev_gap_s)
"""

# One pass of a refresh (refresh_repeats): the window also reads each contact's rowid and
# stored gaps, keeps only the rows whose gaps change (`_gaps`, below), and the
# UPDATE joins those back by rowid. Joining by contact_id instead hashed every contact id of the table once per pass
# (the update's probe side); the rowid is an integer and the same within the transaction.
PASS_SQL = """
UPDATE contacts SET next_gap_s = g.next_gap_s, prev_gap_s = g.prev_gap_s
FROM (
    SELECT rid, {next_gap} AS next_gap_s, {prev_gap} AS prev_gap_s FROM (
        SELECT rowid AS rid, next_gap_s AS stored_next, prev_gap_s AS stored_prev, opened_at,
            LEAD(opened_at) OVER w AS next_at, LAG(opened_at) OVER w AS prev_at
        FROM contacts
        WHERE customer_id IS NOT NULL AND issue_type IS NOT NULL {only}
        WINDOW w AS (PARTITION BY customer_id, issue_type ORDER BY opened_at, contact_id)
    )
    WHERE {next_gap} IS DISTINCT FROM stored_next OR {prev_gap} IS DISTINCT FROM stored_prev
) AS g
WHERE contacts.rowid = g.rid
"""


def _gaps(next_at: str, prev_at: str) -> tuple[str, str]:
    """next_gap_s and prev_gap_s from the neighbours' times in (opened_at, contact_id) order.

    No second window over (customer, issue, opened_at) as COMPUTE_SQL has (a second sort of
    every row): contacts at the same instant are adjacent in that order, so a contact has a
    tie exactly when a neighbour has its opened_at, and then both its gaps are 0 (the tied
    neighbour's own difference is 0 already)."""
    return (
        f"CASE WHEN {prev_at} = opened_at THEN 0.0 ELSE EPOCH({next_at}) - EPOCH(opened_at) END",
        f"CASE WHEN {next_at} = opened_at THEN 0.0 ELSE EPOCH(opened_at) - EPOCH({prev_at}) END",
    )


CLEAR_SQL = """
UPDATE contacts SET next_gap_s = NULL, prev_gap_s = NULL
WHERE (customer_id IS NULL OR issue_type IS NULL)
  AND (next_gap_s IS NOT NULL OR prev_gap_s IS NOT NULL) {only}
"""

_IDS = "__repeat_customers"
_CONTACTS = "__repeat_contacts"
_SCOPE = "__repeat_scope"  # the distinct customers of one refresh, a temp table
# Contacts per window pass. The window sorts every contact of the customers in a pass and the
# UPDATE joins them back by contact_id; above a few million rows that did not fit in the
# 512 MB cap of a large ingest (metrics/ingest/load.py), which then also held an uncommitted
# key index (~350 MB for 8.6M new contacts; gone since schema V10). Customers are split by hash into passes of about
# this many contacts: a customer's contacts always fall in one pass, so every pass computes
# exact gaps, and the passes together equal one pass over everything.
PARTITION_ROWS = 1_000_000

# Ids travel as Arrow (a polars Series, an Arrow array, or any iterable of str), never as a
# Python list of a whole batch: a streamed ingest must not grow the Python heap with rows.
Ids: TypeAlias = Iterable[str | None] | pa.Array | pa.ChunkedArray | Any


# No ids: pa.nulls, as pa.array([]) imports pandas (0.3 s at the first ingest of a CLI run).
_NO_IDS = pa.nulls(0, pa.string())


def _arrow_ids(values: Ids) -> pa.Array | pa.ChunkedArray:
    if hasattr(values, "to_arrow"):  # polars Series
        values = values.to_arrow()
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.cast(pa.string())
    return pa.array(list(values), pa.string())


def _count(cur: duckdb.DuckDBPyConnection, sql: str) -> int:
    # fetchall: a half-read result would block the caller's next statement on this cursor.
    return int(cur.execute(sql).fetchall()[0][0])


def _update_in_passes(cur: duckdb.DuckDBPyConnection, scope: str, rows: int, per_pass: int) -> None:
    """The gap UPDATE over the contacts `scope` selects, in hash passes of ~`per_pass` rows."""
    passes = max(1, -(-rows // max(1, per_pass)))
    for part in range(passes):
        only = scope if passes == 1 else f"{scope} AND hash(customer_id) % {passes} = {part}"
        next_gap, prev_gap = _gaps("next_at", "prev_at")
        cur.execute(PASS_SQL.format(only=only, next_gap=next_gap, prev_gap=prev_gap))


def refresh_repeats(
    cur: duckdb.DuckDBPyConnection,
    customer_ids: Ids | None = None,
    *,
    partition_rows: int | None = None,
) -> int:
    """Recompute the gaps of `customer_ids`' contacts (None: of every contact), in the caller's
    transaction; returns how many contacts have a repeat neighbour afterwards (all of them for
    a full rebuild, those of the given customers otherwise). More than `partition_rows`
    contacts (default PARTITION_ROWS) are recomputed in hash passes of customers (same
    result, bounded memory)."""
    per_pass = PARTITION_ROWS if partition_rows is None else partition_rows
    gapped = "(next_gap_s IS NOT NULL OR prev_gap_s IS NOT NULL)"
    keyed = "customer_id IS NOT NULL AND issue_type IS NOT NULL"
    if customer_ids is None:
        cur.execute(CLEAR_SQL.format(only=""))
        rows = _count(cur, f"SELECT COUNT(*) FROM contacts WHERE {keyed}")
        _update_in_passes(cur, "", rows, per_pass)
        return _count(cur, f"SELECT COUNT(*) FROM contacts WHERE {gapped}")
    ids = _arrow_ids(customer_ids)
    if len(ids) == 0 or ids.null_count == len(ids):
        return 0
    # A contact that lost its customer or issue type keeps no gap (cheap: two columns).
    cur.execute(CLEAR_SQL.format(only=""))
    cur.register(_IDS, pa.table({"customer_id": ids}))
    try:
        # Distinct once: every pass semi-joins this list (before and after ids overlap).
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {_SCOPE} AS SELECT DISTINCT customer_id "
            f"FROM {_IDS} WHERE customer_id IS NOT NULL"
        )
    finally:
        cur.unregister(_IDS)
    where = f"AND customer_id IN (SELECT customer_id FROM {_SCOPE})"
    rows = _count(cur, f"SELECT COUNT(*) FROM contacts WHERE {keyed} {where}")
    if rows == _count(cur, f"SELECT COUNT(*) FROM contacts WHERE {keyed}"):
        # The customers cover every contact (a first load): no semi-join in each pass.
        where = ""
    _update_in_passes(cur, where, rows, per_pass)
    n = _count(cur, f"SELECT COUNT(*) FROM contacts WHERE {gapped} {where}")
    cur.execute(f"DROP TABLE {_SCOPE}")
    return n


def customers_of(
    cur: duckdb.DuckDBPyConnection,
    contact_ids: Ids | None = None,
    *,
    contacts_sql: str | None = None,
) -> pa.Array:
    """The customers these contacts belong to now (call before changing them). The contacts
    are ids, or a query returning one column of them (`contacts_sql`, code, never user text;
    e.g. the ingest's stage)."""
    registered = False
    if not cur.execute("SELECT 1 FROM contacts LIMIT 1").fetchall():
        # A first load: no stored contact to look up (and no join of the whole stage).
        return _NO_IDS
    if contacts_sql is None:
        if contact_ids is None:
            return _NO_IDS
        ids = _arrow_ids(contact_ids)
        if len(ids) == 0:
            return _NO_IDS
        cur.register(_CONTACTS, pa.table({"contact_id": ids}))
        registered = True
        contacts_sql = f"SELECT contact_id FROM {_CONTACTS}"
    try:
        table = cur.sql(
            f"SELECT DISTINCT customer_id FROM contacts WHERE contact_id IN ({contacts_sql}) "
            "AND customer_id IS NOT NULL"
        ).to_arrow_table()
    finally:
        if registered:
            cur.unregister(_CONTACTS)
    return table.column("customer_id").combine_chunks().cast(pa.string())


def refresh_for_contacts(
    cur: duckdb.DuckDBPyConnection,
    contact_ids: Ids | None = None,
    before: Ids = (),
    *,
    contacts_sql: str | None = None,
) -> int:
    """After inserting, updating or undoing contacts (ids, or `contacts_sql`): refresh their
    customers now and the customers they had `before` the change (a contact that moved leaves
    a gap behind)."""
    if contact_ids is None and contacts_sql is None:
        return refresh_repeats(cur, before)
    now = customers_of(cur, contact_ids, contacts_sql=contacts_sql)
    return refresh_repeats(cur, pa.concat_arrays([now, _arrow_ids(before)]))


def refresh_for_stage(
    cur: duckdb.DuckDBPyConnection,
    stage: str,
    before: Ids = (),
    *,
    partition_rows: int | None = None,
) -> int:
    """After merging a staged contacts file (`stage`, a table name from code): refresh the
    customers its rows name and those its contacts had `before` the merge.

    Equal to refresh_for_contacts over the staged ids, without joining the stage to the
    table: a staged row the merge applied now has the stage's customer_id; one it did not
    apply (unchanged, older, refused) still has its stored customer, which is in `before`;
    a file without customer_id leaves every stored customer as it was (in `before` too).
    """
    columns = {r[0] for r in cur.execute(f"DESCRIBE {stage}").fetchall()}
    ids = _arrow_ids(before)
    if "customer_id" in columns:
        now = cur.sql(
            f"SELECT DISTINCT customer_id FROM {stage} WHERE customer_id IS NOT NULL"
        ).to_arrow_table()
        staged = now.column("customer_id").combine_chunks().cast(pa.string())
        ids = pa.chunked_array([staged, ids], pa.string())
    return refresh_repeats(cur, ids, partition_rows=partition_rows)


def stage_gaps(cur: duckdb.DuckDBPyConnection, stage: str) -> dict[str, str]:
    """The gap columns as window expressions over a staged contacts file (`stage`, a table
    name from code), for merge_stage's `derived` when contacts is empty: then the stage is
    every contact there will be, and its own window gives exactly the gaps the refresh would
    (same partitions, same values: see below), without updating the new rows after.
    {} when the file lacks customer_id or issue_type (no contact of it has a gap)."""
    columns = {r[0] for r in cur.execute(f"DESCRIBE {stage}").fetchall()}
    if not {"customer_id", "issue_type"} <= columns:
        return {}
    # Ordered by time alone, unlike COMPUTE_SQL's (opened_at, contact_id): the gaps do not
    # depend on how same-instant contacts are ordered among themselves (_gaps: a tied
    # contact's gaps are 0 whichever comes first, and its other neighbours see the same
    # time), and the sort saves a string key (8.6M contacts: ~0.4 s).
    w = "(PARTITION BY customer_id, issue_type ORDER BY opened_at)"
    keyed = "customer_id IS NOT NULL AND issue_type IS NOT NULL"
    next_gap, prev_gap = _gaps(f"LEAD(opened_at) OVER {w}", f"LAG(opened_at) OVER {w}")
    return {
        "next_gap_s": f"CASE WHEN {keyed} THEN {next_gap} END",
        "prev_gap_s": f"CASE WHEN {keyed} THEN {prev_gap} END",
    }


def batch_contact_ids(cur: duckdb.DuckDBPyConnection, batch_id: str) -> pa.Array:
    """The contacts a batch wrote (inserted or updated; they carry its batch_id): what an
    undo of it changes."""
    table = cur.sql(
        "SELECT contact_id FROM contacts WHERE batch_id = $b", params={"b": batch_id}
    ).to_arrow_table()
    return table.column("contact_id").combine_chunks()
