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
from dashboard.store_access import cached
from metrics.churn import MIN_SAMPLE, data_end
from metrics.clv import load_margin
from metrics.retention.contractual import load_discount

st.title("Churn & CLV")
end = cached(data_end)
if end is None:
    st.info("The store has no customers yet. Load customers and invoices on the Data page.")
    st.stop()
margin = st.sidebar.number_input(
    "Gross margin for CLV",
    0.01,
    1.0,
    cached(load_margin),
    0.01,
    help="Share of revenue kept; stored default: setting clv.margin",
)
annual_discount = st.sidebar.number_input(
    "Discount rate per year",
    0.01,
    1.0,
    cached(load_discount),
    0.01,
    help="For the contractual CLV (DERL); stored default: setting clv.discount_rate",
)
small_rule = f"Cells with n below {MIN_SAMPLE} are greyed and marked: too few to judge."
st.caption(f"Data up to {end:%-d %b %Y}. Money in SEK. {small_rule}")

monthly_churn(end)
satisfaction_and_churn()
cohorts_and_breakdowns()
survival_section()
simple_clv_section(margin)
model_choice(margin, annual_discount)
drivers_section()
followups_section()
