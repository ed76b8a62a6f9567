"""Closing the loop: the detractors to call back, and an audited record of who did, when.

A detractor is a survey answer with NPS 0-6 or CSAT 1-2 (the catalogue's cut-offs: NPS
detractors 0-6; CSAT satisfied is 4-5, so 1-2 is dissatisfied). Marks are appended to
`followups`, never updated: a second mark of the same answer is a new row, and the
history keeps every earlier one. Marks are bookkeeping (bump_version=False): they do not
invalidate the KPI caches, and lists are read live.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import polars as pl

from metrics.audit import record
from metrics.auth import Actor, require
from metrics.catalogue import NPS_DETRACTOR_MAX
from metrics.store import Store

Status = Literal["open", "done", "all"]
MAX_NAME = 100
MAX_NOTE = 2000

LIST_SCHEMA = {
    "response_id": pl.Utf8,
    "answered_at": pl.Datetime,
    "reason": pl.Utf8,
    "nps": pl.Int64,
    "csat": pl.Int64,
    "comment": pl.Utf8,
    "channel": pl.Utf8,
    "issue_type": pl.Utf8,
    "team": pl.Utf8,
    "customer_id": pl.Utf8,
    "followed_up_by": pl.Utf8,
    "followed_up_at": pl.Datetime,
    "note": pl.Utf8,
    "marks": pl.Int64,
}

# The catalogue's NPS detractors; CSAT 1-2 are its two dissatisfied bands.
_NPS_LOW = f"s.nps BETWEEN 0 AND {NPS_DETRACTOR_MAX}"
_CSAT_LOW = "s.csat BETWEEN 1 AND 2"
_DETRACTOR = f"({_NPS_LOW} OR {_CSAT_LOW})"


class FollowupError(ValueError):
    """A mark that cannot be stored (unknown answer, not a detractor, missing name)."""


def detractors(store: Store, *, status: Status = "open", limit: int = 500) -> pl.DataFrame:
    """Detractor answers oldest first, with the contact's channel, issue and team.

    status: "open" (never followed up), "done" (followed up; the latest mark shown) or "all".
    """
    if status not in ("open", "done", "all"):
        raise FollowupError(f"status must be open, done or all, got {status!r}")
    if not isinstance(limit, int) or limit < 1:
        raise FollowupError(f"limit must be a whole number of at least 1, got {limit!r}")
    sql = f"""
        WITH f AS (
            SELECT response_id,
                   arg_max(followed_up_by, followup_id) AS followed_up_by,
                   arg_max(followed_up_at, followup_id) AS followed_up_at,
                   arg_max(note, followup_id) AS note,
                   COUNT(*) AS marks
            FROM followups GROUP BY response_id
        )
        SELECT s.response_id, s.answered_at,
               CASE WHEN {_NPS_LOW} AND {_CSAT_LOW}
                        THEN 'NPS ' || s.nps || ', CSAT ' || s.csat
                    WHEN {_NPS_LOW} THEN 'NPS ' || s.nps
                    ELSE 'CSAT ' || s.csat END AS reason,
               CAST(s.nps AS BIGINT) AS nps, CAST(s.csat AS BIGINT) AS csat, s.comment,
               k.channel, k.issue_type, k.team, s.customer_id,
               f.followed_up_by, f.followed_up_at, f.note, COALESCE(f.marks, 0) AS marks
        FROM surveys s
        LEFT JOIN contacts k ON k.contact_id = s.contact_id
        LEFT JOIN f ON f.response_id = s.response_id
        WHERE {_DETRACTOR}
          AND ($status = 'all' OR ((f.response_id IS NULL) = ($status = 'open')))
        ORDER BY s.answered_at, s.response_id
        LIMIT $limit
    """
    df = store.cursor().sql(sql, params={"status": status, "limit": limit}).pl()
    return df.cast({k: v for k, v in LIST_SCHEMA.items() if k in df.columns}).select(
        list(LIST_SCHEMA)
    )


def detractor_counts(store: Store) -> dict[str, int]:
    """How many detractor answers there are, and how many are still open."""
    sql = f"""
        SELECT COUNT(*) AS total,
               SUM(CASE WHEN s.response_id NOT IN (SELECT response_id FROM followups)
                        THEN 1 ELSE 0 END) AS open
        FROM surveys s WHERE {_DETRACTOR}
    """
    total, open_ = store.cursor().execute(sql).fetchall()[0]
    return {"total": int(total or 0), "open": int(open_ or 0)}


def mark_done(
    store: Store,
    response_id: str,
    *,
    by: str,
    note: str = "",
    at: datetime | None = None,
    actor: Actor | None = None,
) -> dict[str, object]:
    """Record that `by` followed up the answer `response_id` (all-or-nothing, appended).

    Returns the stored mark with `previous_marks`, the number of earlier marks kept.
    """
    who = require(actor, "followup")
    by = (by or "").strip()
    note = (note or "").strip()
    if not by:
        raise FollowupError("who followed up: a name is required (--by NAME)")
    if len(by) > MAX_NAME:
        raise FollowupError(f"who followed up: at most {MAX_NAME} characters, got {len(by)}")
    if len(note) > MAX_NOTE:
        raise FollowupError(f"note: at most {MAX_NOTE} characters, got {len(note)}")
    when = at or datetime.now(UTC).replace(tzinfo=None)
    with store.write(bump_version=False) as cur:
        rows = cur.execute(
            f"SELECT {_DETRACTOR} FROM surveys s WHERE s.response_id = ?", [response_id]
        ).fetchall()
        if not rows:
            raise FollowupError(f"no survey answer with response_id {response_id!r}")
        if not rows[0][0]:
            raise FollowupError(
                f"response {response_id!r} is not a detractor (NPS 0-{NPS_DETRACTOR_MAX} or "
                "CSAT 1-2); only detractors are on the follow-up list"
            )
        next_id, previous = cur.execute(
            "SELECT COALESCE(MAX(followup_id), 0) + 1, "
            "COUNT(*) FILTER (WHERE response_id = ?) FROM followups",
            [response_id],
        ).fetchall()[0]
        cur.execute(
            "INSERT INTO followups (followup_id, response_id, followed_up_by, followed_up_at, "
            "note) VALUES (?, ?, ?, ?, ?)",
            [next_id, response_id, by, when, note or None],
        )
        record(
            cur,
            who,
            "followup.mark",
            f"response:{response_id}",
            {"followed_up_by": by, "followed_up_at": when, "note": note or None},
        )
    return {
        "followup_id": int(next_id),
        "response_id": response_id,
        "followed_up_by": by,
        "followed_up_at": when,
        "note": note or None,
        "previous_marks": int(previous),
    }


def history(store: Store, response_id: str) -> pl.DataFrame:
    """Every mark of one answer, oldest first (the audit trail)."""
    return (
        store.cursor()
        .sql(
            "SELECT followup_id, response_id, followed_up_by, followed_up_at, note, recorded_at "
            "FROM followups WHERE response_id = $r ORDER BY followup_id",
            params={"r": response_id},
        )
        .pl()
    )
