"""Experiments page: past, running and draft experiments; the readout of one; decide."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.experiment_sections import (
    decide_section,
    draft_section,
    headline_section,
    segment_section,
    show_flash,
)
from dashboard.figures.experiments import cumulative_figure, guardrail_figure, posterior_figure
from dashboard.store_access import cached, get_store
from experiments.readout import ReadoutError, analyze
from experiments.readout_view import metric_table, metric_unit, timeline, units_text
from experiments.registry import list_experiments, search_experiments
from experiments.report_html import readout_html
from experiments.segments import segment_fit_status

st.title("Experiments")
show_flash()
query = st.text_input("Search past experiments", placeholder="e.g. callback, invoice, churn")
items = cached(search_experiments, query) if query.strip() else cached(list_experiments)
if not items:
    st.info(
        "No experiment matches."
        if query.strip()
        else "No experiments yet: plan one on the Plan page or `cx experiment create`."
    )
    st.stop()
st.dataframe(pl.DataFrame([e.summary() for e in items]), hide_index=True, width="stretch")

by_id = {e.experiment_id: e for e in items}
chosen = st.selectbox("Read out", list(by_id), format_func=lambda i: f"{i} ({by_id[i].status})")
exp = by_id[chosen]
if exp.status == "draft":
    draft_section(exp)
    st.stop()
# With more than one treatment arm, each is read out against control in turn.
arm = st.selectbox("Variant", exp.variants[1:]) if len(exp.variants) > 2 else exp.variants[1]
try:
    r = cached(analyze, chosen, variant=arm)
except ReadoutError as exc:
    st.info(f"No readout yet for {chosen}: {exc}.")
    st.stop()
except Exception as exc:  # noqa: BLE001 - shown as a sentence, never a traceback
    st.error(f"Cannot read out {chosen}: {exc}")
    st.stop()

unit = metric_unit(r.primary.metric)
st.subheader(f"Decision: {r.decision.action}")
st.caption(f"{timeline(r.experiment).text} · {units_text(r.n_by_variant)}")
for reason in r.decision.reasons:
    st.markdown(f"- {reason}")
for note in r.messages:
    st.warning(note)
headline_section(r)
st.dataframe(pl.DataFrame(metric_table(r)), hide_index=True, width="stretch")

d = r.to_dict()
st.plotly_chart(
    posterior_figure(
        d["posterior"], control=r.control, variant=r.variant, metric=r.primary.label, unit=unit
    ),
    width="stretch",
)
st.plotly_chart(
    cumulative_figure(d["cumulative"], unit=unit, lower_is_better=r.primary.lower_is_better),
    width="stretch",
)
if d["guardrails"]:
    st.markdown("**Guardrails**")
    st.plotly_chart(guardrail_figure(d["guardrails"]), width="stretch")

st.subheader("Segment effects")
_state = segment_fit_status(get_store(), chosen)["status"]
# Poll only while a fit runs, so an idle page does not re-query every few seconds.
st.fragment(run_every=2.0 if _state == "running" else None)(segment_section)(chosen)

st.subheader("Decide and remember")
decide_section(r.experiment, r.decision.action, list(r.decision.reasons))
st.download_button(
    "Download HTML readout",
    cached(readout_html, chosen),
    file_name=f"{chosen}_readout.html",
    mime="text/html",
)
