"""Ingest batches: list them, and undo one exactly from the history its ingest kept."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from metrics.audit import record
from metrics.auth import Actor, require
from metrics.ingest.merge import FROZEN_STATUSES
from metrics.ingest.spec import keys_of
from metrics.repeats import batch_contact_ids, customers_of, refresh_for_contacts
from metrics.store import Store
from metrics.store import quote_ident as _q
from metrics.survey_links import LINK_SCOPES, refresh_survey_links

UNDONE = "undone"
# The tables whose undo changes the values kept on surveys: the refresh's scope and the key.
_UNDO_KEYS = "__undo_keys"  # a temp table: the keys of the rows an undo changes


class BatchError(RuntimeError):
    """An undo that cannot be done, as one line a person can act on; nothing was changed."""


class LaterBatchesError(BatchError):
    """Undo refused because later batches changed rows this one wrote; `later` names them."""

    def __init__(self, batch_id: str, file_name: str, later: list[str]):
        self.later = later
        super().__init__(
            f"batch {batch_id} ({file_name}) cannot be undone: later batch(es) "
            f"{', '.join(later)} changed rows it loaded; undo those first, newest first"
        )


@dataclass(frozen=True)
class UndoResult:
    """What undoing one batch did: rows it inserted removed, rows it updated restored."""

    batch_id: str
    table: str
    file_name: str
    removed: int
    restored: int
    undone_at: datetime
    undone_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        return (
            f"undid batch {self.batch_id} ({self.file_name} -> {self.table}): removed "
            f"{self.removed} inserted row(s), restored {self.restored} updated row(s)"
        )


def list_batches(store: Store) -> pl.DataFrame:
    """One row per ingest, newest first, with its counts and whether it was undone."""
    return (
        store.cursor()
        .sql(
            "SELECT batch_id, seq, table_name, file_name, started_at, rows_read, inserted, "
            "updated, unchanged, skipped_older, rejected, status, undone_at, undone_by, "
            "history_kept AS undoable FROM ingest_batches ORDER BY seq DESC NULLS LAST, "
            "started_at DESC"
        )
        .pl()
    )


def undoable_batches(store: Store) -> list[str]:
    """Batches that still can be tried for undo (loaded with history, not undone), newest first."""
    return [
        r[0]
        for r in store.cursor()
        .execute(
            "SELECT batch_id FROM ingest_batches WHERE history_kept AND status <> ? "
            "ORDER BY seq DESC",
            [UNDONE],
        )
        .fetchall()
    ]


def _written_keys(table: str) -> str:
    """SQL for the keys of every row a batch wrote (3 parameters: the batch id).

    Rows it inserted or updated still carry its batch_id unless a later batch changed them;
    that later batch then saved the version with this batch_id in the history.
    """
    keys = ", ".join(_q(k) for k in keys_of(table))
    tbl, hist = _q(table), _q(f"{table}_history")
    return (
        f"SELECT {keys} FROM {tbl} WHERE batch_id = ? "
        f"UNION SELECT {keys} FROM {hist} WHERE hist_batch = ? "
        f"UNION SELECT {keys} FROM {hist} WHERE batch_id = ?"
    )


def later_batches(cur: duckdb.DuckDBPyConnection, table: str, batch_id: str, seq: int) -> list[str]:
    """Batches after `batch_id`, not undone, that changed a row it inserted or updated."""
    hist = _q(f"{table}_history")
    on = " AND ".join(f"h.{_q(k)} = mine.{_q(k)}" for k in keys_of(table))
    rows = cur.execute(
        f"SELECT b.batch_id FROM ingest_batches b WHERE b.seq > ? AND b.status <> ? AND "
        f"EXISTS (SELECT 1 FROM {hist} h JOIN ({_written_keys(table)}) mine ON {on} "
        "WHERE h.hist_batch = b.batch_id) ORDER BY b.seq",
        [seq, UNDONE, batch_id, batch_id, batch_id],
    ).fetchall()
    return [r[0] for r in rows]


def undo_batch(
    store: Store, batch_id: str, *, by: str | None = None, actor: Actor | None = None
) -> UndoResult:
    """Restore the table to exactly its state before `batch_id`, in one transaction.

    Rows the batch inserted are deleted; rows it updated get back every column of their
    previous version (extras, batch_id and updated_at included). The batch stays listed,
    marked undone. Refused (BatchError, nothing changed) when the batch is unknown, already
    undone, loaded before history was kept, or when a later batch that is not undone changed
    a row it wrote: those are named, to be undone first.

    `actor` (default metrics.auth.current_actor()) needs the "undo" permission; `by` (what
    `undone_by` says) defaults to the actor's name. The undo is audited in its transaction.
    """
    who = require(actor, "undo")
    by = by or who.name
    with store.write() as cur:
        found = cur.execute(
            "SELECT table_name, file_name, seq, status, history_kept, undone_at, undone_by "
            "FROM ingest_batches WHERE batch_id = ?",
            [batch_id],
        ).fetchall()
        if not found:
            raise BatchError(f"no batch {batch_id!r}; expected an id from `cx batches list`")
        table, file_name, seq, status, history_kept, undone_at, undone_by = found[0]
        if status == UNDONE:
            raise BatchError(
                f"batch {batch_id} ({file_name}) was already undone at "
                f"{undone_at:%Y-%m-%d %H:%M:%S} UTC by {undone_by}; nothing to do"
            )
        if not history_kept:
            raise BatchError(
                f"batch {batch_id} ({file_name}) was loaded before undo history was kept; it "
                "cannot be undone"
            )
        later = later_batches(cur, table, batch_id, seq)
        if later:
            raise LaterBatchesError(batch_id, file_name, later)
        ids = batch_contact_ids(cur, batch_id) if table == "contacts" else None
        before = customers_of(cur, ids)  # FCR repeat gaps: the customers before and after
        linked = LINK_SCOPES.get(table)
        if linked is not None:  # the rows the undo removes or restores, for their surveys
            cur.execute(
                f"CREATE OR REPLACE TEMP TABLE {_UNDO_KEYS} AS SELECT {linked[1]} AS k "
                f"FROM {_q(table)} WHERE batch_id = ?",
                [batch_id],
            )
        removed, restored = _restore(cur, table, batch_id)
        refresh_for_contacts(cur, ids, before)
        if linked is not None:
            # The linked values on surveys (metrics/survey_links.py): of the surveys naming a
            # contact or customer the undo removed or restored, or of the surveys it did.
            refresh_survey_links(cur, **{linked[0]: f"SELECT k FROM {_UNDO_KEYS}"})
            cur.execute(f"DROP TABLE {_UNDO_KEYS}")
        now = datetime.now(UTC).replace(tzinfo=None)
        cur.execute(
            "UPDATE ingest_batches SET status = ?, undone_at = ?, undone_by = ? WHERE batch_id = ?",
            [UNDONE, now, by, batch_id],
        )
        record(
            cur,
            who,
            "undo",
            f"table:{table}",
            {"batch_id": batch_id, "file": file_name, "removed": removed, "restored": restored},
        )
    return UndoResult(batch_id, table, file_name, removed, restored, now, by)


def _restore(cur: duckdb.DuckDBPyConnection, table: str, batch_id: str) -> tuple[int, int]:
    keys = list(keys_of(table))
    tbl, hist = _q(table), _q(f"{table}_history")
    on = " AND ".join(f"t.{_q(k)} = h.{_q(k)}" for k in keys)
    # Every row the batch updated must still be as it left it. Later ingests were checked
    # above; this catches writes outside ingest (e.g. `cx sample --replace`).
    drifted = cur.execute(
        f"SELECT count(*) FROM {hist} h LEFT JOIN {tbl} t ON {on} "
        "WHERE h.hist_batch = ? AND t.batch_id IS DISTINCT FROM ?",
        [batch_id, batch_id],
    ).fetchall()[0][0]
    if drifted:
        raise BatchError(
            f"batch {batch_id} cannot be undone exactly: {drifted} row(s) it updated were "
            "changed or removed outside ingest since"
        )
    # The version before the batch: a history row it saved whose batch_id is another batch's.
    # (One saved with its own batch_id would come from a key merged twice in one batch, e.g.
    # across streamed chunks; the earlier version is the one to restore.)
    before = f"SELECT * FROM {hist} WHERE hist_batch = ? AND batch_id IS DISTINCT FROM ?"
    if table == "assignments":
        _refuse_frozen_variant_change(cur, batch_id, before, on)
    # Its rows without a version from before it are the ones it inserted.
    removed = cur.execute(
        f"DELETE FROM {tbl} AS t WHERE t.batch_id = ? AND NOT EXISTS (SELECT 1 FROM "
        f"({before}) h WHERE {on})",
        [batch_id, batch_id, batch_id],
    ).fetchall()[0][0]
    columns = [r[0] for r in cur.execute(f"DESCRIBE {tbl}").fetchall() if r[0] not in keys]
    sets = ", ".join(f"{_q(c)} = h.{_q(c)}" for c in columns)
    restored = cur.execute(
        f"UPDATE {tbl} AS t SET {sets} FROM ({before}) AS h WHERE {on}",
        [batch_id, batch_id],
    ).fetchall()[0][0]
    return int(removed), int(restored)


def _refuse_frozen_variant_change(
    cur: duckdb.DuckDBPyConnection, batch_id: str, before: str, on: str
) -> None:
    """Undo follows ingest's rule: a running or decided experiment's variants never change."""
    statuses = ", ".join(f"'{s}'" for s in FROZEN_STATUSES)
    rows = cur.execute(
        f"SELECT e.experiment_id, e.status, count(*) FROM assignments t JOIN ({before}) h "
        f"ON {on} JOIN experiments e ON e.experiment_id = t.experiment_id "
        f"WHERE t.variant IS DISTINCT FROM h.variant AND e.status IN ({statuses}) "
        "GROUP BY ALL ORDER BY 1",
        [batch_id, batch_id],
    ).fetchall()
    if rows:
        named = ", ".join(f"{e} ({status}: {n} unit(s))" for e, status, n in rows)
        raise BatchError(
            f"batch {batch_id} cannot be undone: it would change the variant of units in "
            f"{named}; assignments of a running or decided experiment cannot change"
        )
