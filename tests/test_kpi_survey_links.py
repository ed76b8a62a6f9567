"""The linked contact's and customer's values kept on each survey (metrics/survey_links.py)
against the joins the compiler ran before, through ingest, re-ingest, undo and the migration."""

from __future__ import annotations

from datetime import date

from conftest import old_store

from metrics.ingest.batches import undo_batch
from metrics.ingest.load import ingest_file
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.settings import set_setting
from metrics.store import Store
from metrics.survey_links import (
    LINKED_COLUMNS,
    LINKED_CONTACT,
    LINKED_CUSTOMER,
    refresh_survey_links,
)

CONTACTS = "contact_id,customer_id,issue_type,team,channel,opened_at\n"
CUSTOMERS = "customer_id,signup_date,segment,tier,region,age_band,churned_at\n"
SURVEYS = "response_id,customer_id,contact_id,answered_at,nps\n"

# What the compiler joined per query before: each survey's contact by id, and its own customer
# else the contact's; NULL where there is none.
JOINED = (
    "SELECT s.response_id, "
    + ", ".join([f"c.{c}" for c in LINKED_CONTACT] + [f"cu.{c}" for c in LINKED_CUSTOMER])
    + " FROM surveys AS s LEFT JOIN contacts AS c ON c.contact_id = s.contact_id"
    " LEFT JOIN customers AS cu ON cu.customer_id = COALESCE(s.customer_id, c.customer_id)"
    " ORDER BY 1"
)
STORED = "SELECT response_id, " + ", ".join(LINKED_COLUMNS) + " FROM surveys ORDER BY 1"
NO_CUSTOMER = (None,) * len(LINKED_CUSTOMER)


def _rows(store: Store, sql: str) -> list[tuple]:
    return store.cursor().execute(sql).fetchall()


def _current(store: Store) -> list[tuple]:
    stored = _rows(store, STORED)
    assert stored == _rows(store, JOINED)
    return stored


def _ingest(store: Store, table: str, text: str, name: str) -> str:
    return ingest_file(store, text.encode(), table=table, file_name=name).batch_id


A = ("consumer", "gold", "North", "30-39", date(2026, 5, 1))
B = ("business", "silver", "South", "40-49", None)


def _world(store: Store) -> None:
    _ingest(
        store,
        "customers",
        CUSTOMERS
        + "a,2025-01-01,consumer,gold,North,30-39,2026-05-01\n"
        + "b,2025-01-01,business,silver,South,40-49,\n",
        "customers.csv",
    )
    _ingest(
        store,
        "contacts",
        CONTACTS
        + "k1,a,order,Billing,phone,2026-03-01T08:00:00Z\n"
        + "k2,b,billing,Digital,chat,2026-03-02T08:00:00Z\n",
        "contacts.csv",
    )
    _ingest(
        store,
        "surveys",
        SURVEYS
        + "r1,,k1,2026-03-01T09:00:00Z,10\n"
        + "r2,,k2,2026-03-02T09:00:00Z,0\n"
        + "r3,,,2026-03-03T09:00:00Z,9\n"
        + "r4,a,k2,2026-03-04T09:00:00Z,8\n",  # its own customer wins over the contact's
        "surveys.csv",
    )


def test_surveys_ingest_copies_the_linked_contact_and_customer(store: Store) -> None:
    _world(store)
    assert _current(store) == [
        ("r1", "phone", "order", "Billing", "a", *A),
        ("r2", "chat", "billing", "Digital", "b", *B),
        ("r3", None, None, None, None, *NO_CUSTOMER),
        ("r4", "chat", "billing", "Digital", "b", *A),
    ]


def test_contacts_reingest_updates_their_surveys_and_undo_restores_them(store: Store) -> None:
    _world(store)
    before = _current(store)
    batch = _ingest(
        store, "contacts", CONTACTS + "k1,b,order,Retention,email,2026-03-01T08:00:00Z\n", "k1.csv"
    )
    assert _current(store)[0] == ("r1", "email", "order", "Retention", "b", *B)
    undo_batch(store, batch)
    assert _current(store) == before


def test_customers_reingest_updates_their_surveys_and_undo_restores_them(store: Store) -> None:
    _world(store)
    before = _current(store)
    batch = _ingest(
        store,
        "customers",
        CUSTOMERS + "b,2025-01-01,business,gold,South,40-49,2026-04-01\nc,2025-02-01,,,,,\n",
        "b.csv",
    )
    churned_b = ("business", "gold", "South", "40-49", date(2026, 4, 1))
    assert [r[5:] for r in _current(store)] == [A, churned_b, NO_CUSTOMER, A]
    undo_batch(store, batch)
    assert _current(store) == before


def test_surveys_reingest_to_another_contact_and_undo(store: Store) -> None:
    _world(store)
    before = _current(store)
    batch = _ingest(
        store,
        "surveys",
        SURVEYS + "r1,,k2,2026-03-01T09:00:00Z,10\nr5,,k1,2026-03-05T09:00:00Z,7\n",
        "moved.csv",
    )
    assert _current(store)[0] == ("r1", "chat", "billing", "Digital", "b", *B)
    assert _current(store)[4] == ("r5", "phone", "order", "Billing", "a", *A)
    undo_batch(store, batch)
    assert _current(store) == before


def test_undo_of_the_contacts_batch_leaves_its_surveys_without_a_contact(store: Store) -> None:
    first = _ingest(
        store, "contacts", CONTACTS + "k9,a,order,Billing,video,2026-03-01T08:00:00Z\n", "a.csv"
    )
    _world(store)
    _ingest(store, "surveys", SURVEYS + "r9,,k9,2026-03-05T09:00:00Z,3\n", "r9.csv")
    assert _current(store)[-1] == ("r9", "video", "order", "Billing", "a", *A)
    # A later surveys batch does not block undoing the contacts batch it points to.
    undo_batch(store, first)
    assert _current(store)[-1] == ("r9", None, None, None, None, *NO_CUSTOMER)


def test_nps_by_channel_and_by_segment_read_the_survey_row(store: Store) -> None:
    set_setting(store, "business.time_zone", "UTC")
    _world(store)
    request = KpiRequest(
        kpis=("nps",), by=("channel",), date_from=date(2026, 3, 1), date_to=date(2026, 4, 1)
    )
    got = {r["channel"]: (r["n"], r["value"]) for r in query_kpis(store, request).to_dicts()}
    assert got == {"chat": (2, -50.0), "phone": (1, 100.0), None: (1, 100.0)}
    by_segment = query_kpis(store, KpiRequest(kpis=("nps",), by=("segment",)))
    got = {r["segment"]: (r["n"], r["value"]) for r in by_segment.to_dicts()}
    assert got == {"business": (1, -100.0), "consumer": (2, 50.0), None: (1, 100.0)}


def test_full_refresh_repairs_values_written_outside_ingest(store: Store) -> None:
    _world(store)
    with store.write() as cur:
        cur.execute("UPDATE surveys SET contact_channel = 'sms', customer_churned_at = NULL")
        cur.execute("UPDATE contacts SET team = 'Retention' WHERE contact_id = 'k2'")
        refresh_survey_links(cur)
    assert _current(store)[1] == ("r2", "chat", "billing", "Retention", "b", *B)


def test_v9_migration_fills_the_values_of_existing_surveys(tmp_path) -> None:

    from metrics.store import open_store

    path = tmp_path / "old.duckdb"
    con = old_store(path, 8)
    con.execute(
        "INSERT INTO customers (customer_id, segment, churned_at) "
        "VALUES ('a', 'consumer', DATE '2026-05-01')"
    )
    con.execute(
        "INSERT INTO contacts (contact_id, customer_id, channel, team, opened_at) "
        "VALUES ('k1', 'a', 'phone', 'Billing', TIMESTAMP '2026-03-01 08:00:00')"
    )
    con.execute(
        "INSERT INTO surveys (response_id, contact_id, answered_at, nps) VALUES "
        "('r1', 'k1', TIMESTAMP '2026-03-01 09:00:00', 10), "
        "('r2', NULL, TIMESTAMP '2026-03-01 10:00:00', 3)"
    )
    con.close()
    with open_store(path) as store:
        a = ("consumer", None, None, None, date(2026, 5, 1))
        assert _current(store) == [
            ("r1", "phone", None, "Billing", "a", *a),
            ("r2", None, None, None, None, *NO_CUSTOMER),
        ]
        columns = {r[0] for r in _rows(store, "DESCRIBE surveys_history")}
        assert set(LINKED_COLUMNS) <= columns
