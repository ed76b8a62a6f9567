"""The linked contact's channel, issue type, team and customer, kept on each survey row at
ingest (surveys.contact_channel, contact_issue_type, contact_team, contact_customer_id; NULL
when the survey names no contact or no stored contact has its id).

Survey KPIs cut by a contact dimension (channel, issue type, team), or by a customer
dimension of a survey that names only its contact, used to join the period's surveys to every
contact on every query: at 10M contacts that hash join was three quarters of the Overview's
survey statement. With the contact's values on the survey row, the compiler reads them as it
reads the row anyway (no contacts scan). Same values as the join: the stored contact with the
survey's contact_id (ids are unique), else NULL.

Keep them current inside the transaction that changes contacts or surveys:
    ...change the contacts...
    refresh_survey_contacts(cur, contacts_sql="SELECT contact_id FROM stage")  # their surveys
    ...change the surveys...
    refresh_survey_contacts(cur, surveys_sql="SELECT response_id FROM stage")  # those surveys
or `refresh_survey_contacts(cur)` for every survey (the sample generator, the V9 migration).
"""

from __future__ import annotations

import duckdb

# The survey column each contact column is copied to.
LINKED: dict[str, str] = {
    "channel": "contact_channel",
    "issue_type": "contact_issue_type",
    "team": "contact_team",
    "customer_id": "contact_customer_id",
}

# Write only rows whose values change (an UPDATE rewrites what it touches); joined back by
# rowid, an integer and the same within the transaction (as metrics/repeats.py does).
REFRESH_SQL = (
    "UPDATE surveys SET "
    + ", ".join(f"{s} = g.{c}" for c, s in LINKED.items())
    + " FROM (SELECT s.rowid AS rid, "
    + ", ".join(f"c.{c}" for c in LINKED)
    + " FROM surveys AS s LEFT JOIN contacts AS c ON c.contact_id = s.contact_id WHERE ("
    + " OR ".join(f"s.{s} IS DISTINCT FROM c.{c}" for c, s in LINKED.items())
    + ") {only}) AS g WHERE surveys.rowid = g.rid"
)


def refresh_survey_contacts(
    cur: duckdb.DuckDBPyConnection,
    *,
    contacts_sql: str | None = None,
    surveys_sql: str | None = None,
) -> None:
    """Recompute the linked contact's values on surveys, in the caller's transaction: of the
    surveys naming a contact that `contacts_sql` returns (after contacts were inserted, updated
    or removed), of the surveys whose response_id `surveys_sql` returns (after surveys were
    written), of both when both are given, or of every survey when neither is. Each is a query
    returning one column of ids (code, never user text; e.g. an ingest's stage)."""
    scopes = []
    if contacts_sql is not None:
        scopes.append(f"s.contact_id IN ({contacts_sql})")
    if surveys_sql is not None:
        scopes.append(f"s.response_id IN ({surveys_sql})")
    only = f"AND ({' OR '.join(scopes)})" if scopes else ""
    cur.execute(REFRESH_SQL.format(only=only))
