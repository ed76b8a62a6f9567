"""Periods are cut in the business time zone (default Europe/Stockholm), DST boundaries too.

The reference is Python's zoneinfo applied to each stored UTC instant, independent of the SQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from metrics.kpi_query import KpiRequest, query_kpis
from metrics.settings import local_midnight_utc, set_setting
from metrics.store import Store

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC = ZoneInfo("UTC")

# Naive UTC instants around 1 March and the two DST changes of 2026 (29 March, 25 October).
INSTANTS = [
    datetime(2026, 2, 28, 22, 59),  # 23:59 CET 28 Feb
    datetime(2026, 2, 28, 23, 30),  # 00:30 CET 1 March: March, not February
    datetime(2026, 3, 28, 23, 30),  # 00:30 CET 29 March (the 23-hour day)
    datetime(2026, 3, 29, 0, 59),  # 01:59 CET, a minute before the clocks jump
    datetime(2026, 3, 29, 1, 0),  # 03:00 CEST
    datetime(2026, 3, 29, 21, 59),  # 23:59 CEST 29 March
    datetime(2026, 3, 29, 22, 0),  # 00:00 CEST 30 March
    datetime(2026, 10, 24, 22, 30),  # 00:30 CEST 25 October (the 25-hour day)
    datetime(2026, 10, 25, 0, 30),  # 02:30 CEST, first pass
    datetime(2026, 10, 25, 1, 30),  # 02:30 CET, second pass
    datetime(2026, 10, 25, 22, 30),  # 23:30 CET 25 October
    datetime(2026, 10, 25, 23, 0),  # 00:00 CET 26 October
]


def _local_day(ts: datetime) -> date:
    return ts.replace(tzinfo=UTC).astimezone(STOCKHOLM).date()


@pytest.fixture
def contacts(store: Store) -> Store:
    with store.write() as cur:
        for i, ts in enumerate(INSTANTS):
            cur.execute(
                "INSERT INTO contacts (contact_id, channel, opened_at, escalated) "
                "VALUES (?, 'phone', ?, FALSE)",
                [f"c{i}", ts],
            )
    return store


def _counts(store: Store, grain: str) -> dict[date, int]:
    frame = query_kpis(store, KpiRequest(kpis=("escalation_rate",), grain=grain))
    return dict(zip(frame["period"].to_list(), frame["n"].to_list(), strict=True))


def test_day_periods_follow_stockholm_days_across_both_dst_changes(contacts: Store) -> None:
    expected = Counter(_local_day(ts) for ts in INSTANTS)
    assert _counts(contacts, "day") == dict(expected)
    # The spring day has 23 hours, the autumn day 25; each still holds its own contacts.
    assert expected[date(2026, 3, 29)] == 4 and expected[date(2026, 10, 25)] == 4


def test_a_contact_at_0030_local_on_1_march_counts_in_march(contacts: Store) -> None:
    months = _counts(contacts, "month")
    assert months[date(2026, 2, 1)] == 1 and months[date(2026, 3, 1)] == 6
    window = query_kpis(
        contacts,
        KpiRequest(kpis=("escalation_rate",), date_from=date(2026, 3, 1), date_to=date(2026, 4, 1)),
    )
    assert window["n"].to_list() == [6]


def test_date_windows_on_dst_days_hold_exactly_that_local_day(contacts: Store) -> None:
    for day, nxt in (
        (date(2026, 3, 29), date(2026, 3, 30)),
        (date(2026, 10, 25), date(2026, 10, 26)),
    ):
        frame = query_kpis(
            contacts, KpiRequest(kpis=("escalation_rate",), date_from=day, date_to=nxt)
        )
        assert frame["n"].to_list() == [sum(_local_day(ts) == day for ts in INSTANTS)]


def test_utc_setting_cuts_periods_in_utc(contacts: Store) -> None:
    set_setting(contacts, "business.time_zone", "UTC")
    assert _counts(contacts, "day") == dict(Counter(ts.date() for ts in INSTANTS))


def test_local_midnight_utc_on_dst_days() -> None:
    assert local_midnight_utc(date(2026, 3, 29), "Europe/Stockholm") == datetime(2026, 3, 28, 23)
    assert local_midnight_utc(date(2026, 3, 30), "Europe/Stockholm") == datetime(2026, 3, 29, 22)
    assert local_midnight_utc(date(2026, 10, 26), "Europe/Stockholm") == datetime(2026, 10, 25, 23)


def test_quarter_and_year_periods_are_cut_in_stockholm(contacts: Store) -> None:
    # 00:30 CET on 1 March is still Q1; the October instants are Q4. Reference: the quarter of
    # each instant's Stockholm day, by month arithmetic.
    def quarter(day: date) -> date:
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)

    assert _counts(contacts, "quarter") == dict(Counter(quarter(_local_day(t)) for t in INSTANTS))
    assert _counts(contacts, "year") == {date(2026, 1, 1): len(INSTANTS)}


def test_quarter_starts_at_local_midnight_not_utc(store: Store) -> None:
    # 22:30 UTC on 31 March is 00:30 CEST on 1 April: the second quarter, not the first.
    with store.write() as cur:
        for i, ts in enumerate([datetime(2026, 3, 31, 21, 30), datetime(2026, 3, 31, 22, 30)]):
            cur.execute(
                "INSERT INTO contacts (contact_id, channel, opened_at, escalated) "
                "VALUES (?, 'phone', ?, FALSE)",
                [f"q{i}", ts],
            )
    assert _counts(store, "quarter") == {date(2026, 1, 1): 1, date(2026, 4, 1): 1}
