"""Churn & CLV: churn and retention, what a customer is worth, what drives it, who to call."""

from __future__ import annotations

import streamlit as st

from dashboard.churn_panels import (
    cohorts_and_breakdowns,
    drivers_section,
    followups_section,
    model_choice,
    monthly_churn,
    satisfaction_and_churn,
    simple_clv_section,
    survival_section,
)
from dashboard.i18n import date_text, t
from dashboard.store_access import cached
from metrics.churn import MIN_SAMPLE, data_end
from metrics.clv import load_margin
from metrics.retention.contractual import load_discount

st.title(t("churn.title"))
end = cached(data_end)
if end is None:
    st.info(t("churn.no_customers"))
    st.stop()
margin = st.sidebar.number_input(
    t("churn.margin"),
    0.01,
    1.0,
    cached(load_margin),
    0.01,
    help=t("churn.margin_help"),
)
annual_discount = st.sidebar.number_input(
    t("churn.discount"),
    0.01,
    1.0,
    cached(load_discount),
    0.01,
    help=t("churn.discount_help"),
)
st.caption(t("churn.caption", end=date_text(end), min_n=MIN_SAMPLE))

monthly_churn(end)
satisfaction_and_churn()
cohorts_and_breakdowns()
survival_section()
simple_clv_section(margin)
model_choice(margin, annual_discount)
drivers_section()
followups_section()
