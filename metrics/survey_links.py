"""The linked contact's and customer's values, kept on each survey row at ingest.

surveys.contact_channel, contact_issue_type, contact_team, contact_customer_id: the contact
with the survey's contact_id; surveys.customer_segment, customer_tier, customer_region,
customer_age_band, customer_churned_at: the survey's own customer, else its contact's. NULL
where there is no such row.

Survey KPIs cut by a contact dimension (channel, issue type, team) or a customer dimension,
and churn by satisfaction (churned_at), used to join the period's surveys to every contact and
every customer on every query: at 10M contacts those hash joins were most of the Overview's
survey statement. With the values on the survey row the compiler reads them as it reads the
row anyway. Same values as the joins: ids are unique, so a survey has at most one of each.

Keep them current inside the transaction that changes contacts, customers or surveys:
    ...change the contacts...
    refresh_survey_links(cur, contacts_sql="SELECT contact_id FROM stage")    # their surveys
    ...change the customers...
    refresh_survey_links(cur, customers_sql="SELECT customer_id FROM stage")  # their surveys
    ...change the surveys...
    refresh_survey_links(cur, surveys_sql="SELECT response_id FROM stage")    # those surveys
or `refresh_survey_links(cur)` for every survey (the sample generator, the V9 migration).
"""

from __future__ import annotations

import duckdb

# The survey column each contact column is copied to, and each customer column.
LINKED_CONTACT: dict[str, str] = {
    "channel": "contact_channel",
    "issue_type": "contact_issue_type",
    "team": "contact_team",
    "customer_id": "contact_customer_id",
}
LINKED_CUSTOMER: dict[str, str] = {
    "segment": "customer_segment",
    "tier": "customer_tier",
    "region": "customer_region",
    "age_band": "customer_age_band",
    "churned_at": "customer_churned_at",
}
# Per table whose rows the surveys copy from (or the surveys themselves): the
# refresh_survey_links argument naming changed rows, and the key column to select them by.
LINK_SCOPES: dict[str, tuple[str, str]] = {
    "contacts": ("contacts_sql", "contact_id"),
    "customers": ("customers_sql", "customer_id"),
    "surveys": ("surveys_sql", "response_id"),
}
# Every kept column with its type (as the linked table's column).
LINKED_COLUMNS: dict[str, str] = {
    **{c: "VARCHAR" for c in LINKED_CONTACT.values()},
    **{c: "DATE" if c == "customer_churned_at" else "VARCHAR" for c in LINKED_CUSTOMER.values()},
}

_PAIRS = [(f"c.{c}", s, f"c_{c}") for c, s in LINKED_CONTACT.items()] + [
    (f"cu.{c}", s, f"cu_{c}") for c, s in LINKED_CUSTOMER.items()
]

# Write only rows whose values change (an UPDATE rewrites what it touches); joined back by
# rowid, an integer and the same within the transaction (as metrics/repeats.py does), in
# rowid order: DuckDB updating rows in the hash joins' scrambled order took 157 s for 400k
# surveys, in table order 1 s.
REFRESH_SQL = (
    "UPDATE surveys SET "
    + ", ".join(f"{s} = g.{alias}" for _, s, alias in _PAIRS)
    + " FROM (SELECT s.rowid AS rid, "
    + ", ".join(f"{src} AS {alias}" for src, _, alias in _PAIRS)
    + " FROM surveys AS s LEFT JOIN contacts AS c ON c.contact_id = s.contact_id"
    # The survey's own customer, else its contact's.
    + " LEFT JOIN customers AS cu ON cu.customer_id = COALESCE(s.customer_id, c.customer_id)"
    + " WHERE ("
    + " OR ".join(f"s.{s} IS DISTINCT FROM {src}" for src, s, _ in _PAIRS)
    + ") {only} ORDER BY rid) AS g WHERE surveys.rowid = g.rid"
)


def refresh_survey_links(
    cur: duckdb.DuckDBPyConnection,
    *,
    contacts_sql: str | None = None,
    customers_sql: str | None = None,
    surveys_sql: str | None = None,
) -> None:
    """Recompute the linked values on surveys, in the caller's transaction: of the surveys
    naming a contact `contacts_sql` returns (after contacts were inserted, updated or
    removed), of the surveys whose customer (own, else the contact's) `customers_sql` returns
    (after customers were), of the surveys whose response_id `surveys_sql` returns (after
    surveys were), of all those when several are given, or of every survey when none is. Each
    is a query returning one column of ids (code, never user text; e.g. an ingest's stage)."""
    scopes = []
    if contacts_sql is not None:
        scopes.append(f"s.contact_id IN ({contacts_sql})")
    if customers_sql is not None:
        scopes.append(f"COALESCE(s.customer_id, c.customer_id) IN ({customers_sql})")
    if surveys_sql is not None:
        scopes.append(f"s.response_id IN ({surveys_sql})")
    only = f"AND ({' OR '.join(scopes)})" if scopes else ""
    cur.execute(REFRESH_SQL.format(only=only))
