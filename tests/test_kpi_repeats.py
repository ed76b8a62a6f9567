"""The repeat-contact gaps kept at ingest (metrics/repeats.py) against a brute-force reference."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from conftest import old_store

import metrics.repeats as repeats
from metrics.repeats import (
    customers_of,
    refresh_for_contacts,
    refresh_for_stage,
    refresh_repeats,
)
from metrics.store import Store

T0 = datetime(2026, 3, 1, 8, 0)


def _world(seed: int, n: int = 300) -> list[tuple[str, str | None, str | None, datetime]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cust = rng.choice(["a", "b", "c", "d", None])
        issue = rng.choice(["billing", "order", None])
        # Whole hours over 30 days, so same-instant ties occur.
        rows.append((f"k{i}", cust, issue, T0 + timedelta(hours=rng.randrange(24 * 30))))
    return rows


def _insert(store: Store, rows: list) -> None:
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO contacts (contact_id, customer_id, issue_type, channel, opened_at) "
            "VALUES (?, ?, ?, 'email', ?)",
            rows,
        )


def _brute(rows: list) -> dict[str, tuple[float | None, float | None]]:
    """Nearest other contact of the same customer and issue at or after / at or before."""
    out = {}
    for cid, cust, issue, ts in rows:
        if cust is None or issue is None:
            continue
        after = [
            (t - ts).total_seconds()
            for c, cu, iss, t in rows
            if c != cid and cu == cust and iss == issue and t >= ts
        ]
        before = [
            (ts - t).total_seconds()
            for c, cu, iss, t in rows
            if c != cid and cu == cust and iss == issue and t <= ts
        ]
        nxt, prv = (min(after) if after else None), (min(before) if before else None)
        if nxt is not None or prv is not None:
            out[cid] = (nxt, prv)
    return out


def _stored(store: Store) -> dict[str, tuple[float | None, float | None]]:
    rows = (
        store.cursor()
        .execute(
            "SELECT contact_id, next_gap_s, prev_gap_s FROM contacts "
            "WHERE next_gap_s IS NOT NULL OR prev_gap_s IS NOT NULL"
        )
        .fetchall()
    )
    return {c: (n, p) for c, n, p in rows}


def test_gaps_equal_brute_force_with_ties_and_missing_keys(store: Store) -> None:
    rows = _world(3) + [("t1", "e", "order", T0), ("t2", "e", "order", T0)]  # a tie
    _insert(store, rows)
    with store.write() as cur:
        refresh_repeats(cur)
    assert _stored(store) == _brute(rows)
    assert _stored(store)["t1"] == _stored(store)["t2"] == (0.0, 0.0)  # each other's repeat


def test_refresh_for_affected_customers_equals_full_rebuild_after_a_batch_and_an_undo(
    store: Store,
) -> None:
    first, second = _world(4, 200), _world(5, 80)
    second = [(f"n{c[1:]}", *rest) for c, *rest in second]
    _insert(store, first)
    with store.write() as cur:
        refresh_repeats(cur)
    _insert(store, second)  # a new batch: refresh only its contacts' customers
    with store.write() as cur:
        refresh_for_contacts(cur, [r[0] for r in second])
    assert _stored(store) == _brute(first + second)
    # Undo of the batch: its contacts go, the customers they had are refreshed.
    with store.write() as cur:
        before = customers_of(cur, [r[0] for r in second])
        cur.execute("DELETE FROM contacts WHERE contact_id LIKE 'n%'")
        refresh_for_contacts(cur, [r[0] for r in second], before)
    assert _stored(store) == _brute(first)


def test_refresh_with_no_customers_changes_nothing(store: Store) -> None:
    _insert(store, _world(6, 50))
    with store.write() as cur:
        before = refresh_repeats(cur)
        assert refresh_repeats(cur, [None]) == 0
    assert len(_stored(store)) == before


def test_contacts_ingest_keeps_the_gaps_current_after_insert_and_update(store: Store) -> None:
    from metrics.ingest.load import ingest_file

    head = "contact_id,customer_id,issue_type,channel,opened_at\n"
    first = (
        "k1,a,order,email,2026-03-01T08:00:00Z\n"
        "k2,a,order,email,2026-03-03T08:00:00Z\n"
        "k3,b,order,email,2026-03-04T08:00:00Z\n"
    )
    ingest_file(store, (head + first).encode(), table="contacts", file_name="one.csv")
    assert _stored(store) == {"k1": (172800.0, None), "k2": (None, 172800.0)}
    # k2 moves to customer b: a's k1 loses its repeat, b's k2 and k3 become neighbours.
    second = "k2,b,order,email,2026-03-03T08:00:00Z\n"
    ingest_file(store, (head + second).encode(), table="contacts", file_name="two.csv")
    assert _stored(store) == {"k2": (86400.0, None), "k3": (None, 86400.0)}


def test_v6_migration_fills_gaps_and_keeps_old_targets(tmp_path) -> None:

    from metrics.store import open_store
    from metrics.targets import load_targets

    path = tmp_path / "old.duckdb"
    con = old_store(path, 5)
    rows = [("k1", "a", "order", T0), ("k2", "a", "order", T0 + timedelta(days=2))]
    con.executemany(
        "INSERT INTO contacts (contact_id, customer_id, issue_type, channel, opened_at) "
        "VALUES (?, ?, ?, 'email', ?)",
        rows,
    )
    con.execute(
        "INSERT INTO targets (kpi, target, source) VALUES ('nps', 25, 'board'), "
        "('churn_by_satisfaction:neutral', 0.3, NULL)"
    )
    con.close()
    with open_store(path) as store:
        assert _stored(store) == {"k1": (172800.0, None), "k2": (None, 172800.0)}
        targets = load_targets(store)
        assert (targets["nps"].value, targets["nps"].source) == (25.0, "board")
        assert targets["churn_by_satisfaction:neutral"].value == 0.3


def test_undo_of_a_contacts_batch_restores_the_gaps(store: Store) -> None:
    from metrics.ingest.batches import undo_batch
    from metrics.ingest.load import ingest_file

    head = "contact_id,customer_id,issue_type,channel,opened_at\n"
    one = "k1,a,order,email,2026-03-01T08:00:00Z\nk2,a,order,email,2026-03-03T08:00:00Z\n"
    ingest_file(store, (head + one).encode(), table="contacts", file_name="one.csv")
    gaps_before = _stored(store)
    two = "k2,b,order,email,2026-03-03T08:00:00Z\nk3,b,order,email,2026-03-04T08:00:00Z\n"
    report = ingest_file(store, (head + two).encode(), table="contacts", file_name="two.csv")
    assert _stored(store) == {"k2": (86400.0, None), "k3": (None, 86400.0)}
    undo_batch(store, report.batch_id)
    assert _stored(store) == gaps_before == {"k1": (172800.0, None), "k2": (None, 172800.0)}


def _many(seed: int, n: int, customers: int) -> list[tuple[str, str | None, str | None, datetime]]:
    """Many customers with a few contacts each, whole-hour times (ties) and missing keys."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cust = None if rng.random() < 0.05 else f"c{rng.randrange(customers)}"
        issue = None if rng.random() < 0.05 else rng.choice(["billing", "order", "tech"])
        rows.append((f"k{i}", cust, issue, T0 + timedelta(hours=rng.randrange(24 * 20))))
    return rows


def _clear(store: Store) -> None:
    with store.write() as cur:
        cur.execute("UPDATE contacts SET next_gap_s = NULL, prev_gap_s = NULL")


def test_hash_passes_give_exactly_the_one_pass_gaps(store: Store) -> None:
    rows = _many(11, 1500, 300)
    _insert(store, rows)
    with store.write() as cur:
        n_one = refresh_repeats(cur)  # 1500 rows < PARTITION_ROWS: one pass
    one_pass = _stored(store)
    assert one_pass == _brute(rows) and n_one == len(one_pass) > 500
    # The migration's two-window SQL (ties by a second window) gives the same gaps too.
    both = store.cursor().execute(repeats.COMPUTE_SQL.format(only="")).fetchall()
    assert {c: (n, p) for c, n, p in both if n is not None or p is not None} == one_pass
    _clear(store)
    with store.write() as cur:
        # 40 rows a pass: ~36 passes, each customer's contacts inside one of them.
        assert refresh_repeats(cur, partition_rows=40) == n_one
    assert _stored(store) == one_pass
    # The same for a refresh of some customers, against the one pass over the same ones.
    some = [f"c{i}" for i in range(0, 300, 3)] + [None]
    for partition_rows in (10**9, 25):
        _clear(store)
        with store.write() as cur:
            n = refresh_repeats(cur, some, partition_rows=partition_rows)
        got = _stored(store)
        assert n == len(got)
        assert got == {c: g for c, g in one_pass.items() if c in _contacts_of(rows, some)}


def _contacts_of(rows: list, customers: list) -> set[str]:
    return {c for c, cust, _, _ in rows if cust in set(customers) - {None}}


def test_refresh_for_stage_equals_refresh_for_contacts(store: Store) -> None:
    # The stage's own customer_id (after the merge) plus the customers before it stand for
    # the join of the staged ids to the table, also when a staged contact moved customer.
    first = _many(12, 800, 120)
    _insert(store, first)
    with store.write() as cur:
        refresh_repeats(cur)
    moved = [
        (c, "c7" if i % 2 else None, issue, ts) for i, (c, _, issue, ts) in enumerate(first[:40])
    ]
    new = [(f"n{i}", f"c{i % 9}", "order", T0 + timedelta(hours=i)) for i in range(30)]
    with store.write() as cur:
        before = customers_of(cur, [r[0] for r in moved])
        cur.execute(
            "DELETE FROM contacts WHERE contact_id IN (SELECT unnest($1))", [[r[0] for r in moved]]
        )
        cur.executemany(
            "INSERT INTO contacts (contact_id, customer_id, issue_type, channel, opened_at) "
            "VALUES (?, ?, ?, 'email', ?)",
            moved + new,
        )
        cur.execute(
            "CREATE TEMP TABLE stage AS SELECT contact_id, customer_id FROM contacts "
            "WHERE contact_id IN (SELECT unnest($1))",
            [[r[0] for r in moved + new]],
        )
        refresh_for_stage(cur, "stage", before, partition_rows=30)
        cur.execute("DROP TABLE stage")
    expected = _brute(moved + new + first[40:])
    assert _stored(store) == expected
