"""Repeat contacts precomputed at ingest: per contact, the gap to the previous and next contact
by the same customer on the same issue type (table `contact_repeats`).

The derived FCR ("no other contact on the same issue within N days after") and the
repeat-contact rate ("another within N days before") used to sort every contact on every
query; with the gaps stored, a query compares them with the window setting
(`next_gap_s <= N·86400`), so changing the window needs no rebuild.

Semantics equal to the self-join the compiler ran before: another contact (different id) by
the same customer on the same issue type whose opened_at is within N days after (resp.
before) this one's, ends included; contacts at the very same instant are each other's repeat
both ways (gap 0). Contacts without a customer or an issue type have no such neighbour.
Only contacts with at least one neighbour get a row.

Call `refresh_for_contacts(cur, contact_ids)` inside the transaction that changed contacts (after
each contacts batch and after an undo), or `refresh_repeats(cur)` to rebuild all (the sample
generator, the V6 migration).
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa

# One row per contact with a neighbour; the LEAD/LAG run once per refresh, not per query.
COMPUTE_SQL = """
SELECT contact_id, customer_id, next_gap_s, prev_gap_s FROM (
    SELECT contact_id, customer_id,
        CASE WHEN COUNT(*) OVER same > 1 THEN 0.0
             ELSE EPOCH(LEAD(opened_at) OVER w) - EPOCH(opened_at) END AS next_gap_s,
        CASE WHEN COUNT(*) OVER same > 1 THEN 0.0
             ELSE EPOCH(opened_at) - EPOCH(LAG(opened_at) OVER w) END AS prev_gap_s
    FROM contacts
    WHERE customer_id IS NOT NULL AND issue_type IS NOT NULL {only}
    WINDOW w AS (PARTITION BY customer_id, issue_type ORDER BY opened_at, contact_id),
           same AS (PARTITION BY customer_id, issue_type, opened_at)
) AS g
WHERE next_gap_s IS NOT NULL OR prev_gap_s IS NOT NULL
"""

_IDS = "__repeat_customers"


def refresh_repeats(
    cur: duckdb.DuckDBPyConnection, customer_ids: Iterable[str | None] | None = None
) -> int:
    """Recompute `contact_repeats` for `customer_ids` (None: for every contact); returns the table's
    row count. Runs in the caller's transaction, so a failed batch leaves the table as it was."""
    if customer_ids is None:
        cur.execute("DELETE FROM contact_repeats")
        cur.execute("INSERT INTO contact_repeats " + COMPUTE_SQL.format(only=""))
    else:
        ids = sorted({c for c in customer_ids if c is not None})
        if not ids:
            return 0
        cur.register(_IDS, pa.table({"customer_id": pa.array(ids, pa.string())}))
        try:
            cur.execute(
                f"DELETE FROM contact_repeats WHERE customer_id IN (SELECT customer_id FROM {_IDS})"
            )
            cur.execute(
                "INSERT INTO contact_repeats "
                + COMPUTE_SQL.format(only=f"AND customer_id IN (SELECT customer_id FROM {_IDS})")
            )
        finally:
            cur.unregister(_IDS)
    # fetchall: a half-read result would block the caller's next statement on this cursor.
    return int(cur.execute("SELECT COUNT(*) FROM contact_repeats").fetchall()[0][0])


def refresh_for_contacts(cur: duckdb.DuckDBPyConnection, contact_ids: Iterable[str]) -> int:
    """refresh_repeats for every customer whose repeats these contacts may have changed: the
    contacts' customers now (after an insert, update or undo) and before (as recorded in
    contact_repeats, which still holds the old customer of a contact that moved). Call it
    after the change, in the same transaction: the one hook for ingest and undo."""
    ids = pa.table({"contact_id": pa.array(sorted(set(contact_ids)), pa.string())})
    if ids.num_rows == 0:
        return 0
    cur.register("__repeat_contacts", ids)
    try:
        rows = cur.execute(
            "SELECT customer_id FROM contacts WHERE contact_id IN "
            "(SELECT contact_id FROM __repeat_contacts) AND customer_id IS NOT NULL "
            "UNION SELECT customer_id FROM contact_repeats WHERE contact_id IN "
            "(SELECT contact_id FROM __repeat_contacts)"
        ).fetchall()
    finally:
        cur.unregister("__repeat_contacts")
    return refresh_repeats(cur, [r[0] for r in rows])
