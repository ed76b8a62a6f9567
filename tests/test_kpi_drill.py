"""Drill-down: the rows behind a KPI cell recompute the cell exactly (share, median, NPS)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from metrics.drill import DrillRequest, drill_rows, drillable
from metrics.kpi_query import KpiRequest, KpiRequestError, query_kpis
from metrics.store import Store

SEP = (date(2026, 9, 1), date(2026, 10, 1))
NO_CLEAR_TEXT = {"comment", "extras", "agent_id", "batch_id"}


def _cell(store: Store, kpi: str, by: str, value: str, **kw) -> dict:
    frame = query_kpis(
        store, KpiRequest(kpis=(kpi,), by=(by,), date_from=SEP[0], date_to=SEP[1], **kw)
    )
    (row,) = frame.filter(frame[by] == value).to_dicts()
    return row


def test_drill_share_rows_recompute_csat_of_a_channel_cell(sample_store: Store) -> None:
    cell = _cell(sample_store, "csat", "channel", "chat")
    got = drill_rows(
        sample_store,
        DrillRequest(
            "csat", cell=(("channel", "chat"),), date_from=SEP[0], date_to=SEP[1], limit=100_000
        ),
    )
    assert got.total == got.rows.height == cell["n"] > 30
    # Independent: the share of rows counted by the numerator, and the 4-5 answers themselves.
    assert got.rows["kpi_counts"].mean() == pytest.approx(cell["value"], abs=1e-12)
    assert (got.rows["csat"] >= 4).mean() == pytest.approx(cell["value"], abs=1e-12)
    assert set(got.rows["channel"].to_list()) == {"chat"}
    assert not NO_CLEAR_TEXT & set(got.rows.columns)


def test_drill_median_rows_recompute_first_response_median_with_filter(sample_store: Store) -> None:
    filters = {"segment": ("business",)}
    cell = _cell(sample_store, "frt_live_median", "channel", "phone", filters=filters)
    got = drill_rows(
        sample_store,
        DrillRequest(
            "frt_live_median",
            cell=(("channel", "phone"),),
            date_from=SEP[0],
            date_to=SEP[1],
            filters=filters,
            limit=100_000,
        ),
    )
    assert got.total == got.rows.height == cell["n"]
    # numpy's default (linear) quantile is DuckDB's QUANTILE_CONT.
    assert float(np.median(got.rows["kpi_value"].to_numpy())) == pytest.approx(
        cell["value"], abs=1e-9
    )
    assert set(got.rows["segment"].to_list()) == {"business"}


def test_drill_nps_rows_of_one_week_recompute_the_trend_cell(sample_store: Store) -> None:
    series = query_kpis(
        sample_store, KpiRequest(kpis=("nps",), grain="week", date_from=SEP[0], date_to=SEP[1])
    )
    row = series.row(1, named=True)
    got = drill_rows(
        sample_store,
        DrillRequest(
            "nps",
            grain="week",
            period=row["period"],
            date_from=SEP[0],
            date_to=SEP[1],
            limit=100_000,
        ),
    )
    scores = got.rows["kpi_value"].to_numpy()
    assert got.total == len(scores) == row["n"]
    nps = 100 * (np.mean(scores >= 9) - np.mean(scores <= 6))
    assert nps == pytest.approx(row["value"], abs=1e-9)
    # Answer times are shown in Stockholm time, inside the week that starts on its Monday.
    days = {t.date() for t in got.rows["answered_at"].to_list()}
    assert min(days) >= row["period"] and (max(days) - row["period"]).days < 7


def test_drill_limit_keeps_the_total_and_says_truncated(sample_store: Store) -> None:
    cell = _cell(sample_store, "escalation_rate", "channel", "phone")
    got = drill_rows(
        sample_store,
        DrillRequest(
            "escalation_rate",
            cell=(("channel", "phone"),),
            date_from=SEP[0],
            date_to=SEP[1],
            limit=10,
        ),
    )
    assert got.rows.height == 10 and got.total == cell["n"] and got.truncated
    times = got.rows["opened_at"].to_list()
    assert times == sorted(times)


def test_drill_request_refuses_bad_cells() -> None:
    with pytest.raises(KpiRequestError, match="unknown KPI colour; valid KPIs: nps"):
        DrillRequest("colour")
    with pytest.raises(KpiRequestError, match="churn_rate cannot be cut or filtered by channel"):
        DrillRequest("churn_rate", cell=(("channel", "phone"),))
    with pytest.raises(KpiRequestError, match="churn_rate cannot be cut or filtered by team"):
        DrillRequest("churn_rate", filters={"team": ("a",)})
    with pytest.raises(KpiRequestError, match="a period needs its grain"):
        DrillRequest("nps", period=date(2026, 9, 1))
    assert drillable("csat") and not drillable("churn_rate") and not drillable("channel_mix")


def test_drill_rows_download_neutralises_formula_looking_ids(store: Store) -> None:
    from datetime import datetime

    from dashboard.downloads import to_csv_bytes

    with store.write() as cur:
        cur.execute(
            "INSERT INTO contacts (contact_id, customer_id, channel, opened_at, escalated) "
            "VALUES ('c1', '=HYPERLINK(\"http://x\")', 'phone', ?, TRUE)",
            [datetime(2026, 9, 2, 10)],
        )
    got = drill_rows(store, DrillRequest("escalation_rate", cell=(("channel", "phone"),)))
    assert got.total == 1 and got.rows["customer_id"][0].startswith("=HYPERLINK")
    csv = to_csv_bytes(got.rows).decode("utf-8-sig")
    assert "'=HYPERLINK" in csv and ",=HYPERLINK" not in csv
