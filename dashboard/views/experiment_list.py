"""Experiments page: past, running and draft experiments; the readout of one; decide."""

from __future__ import annotations

from functools import partial

import polars as pl
import streamlit as st

from dashboard import numbers, url_state
from dashboard.experiment_sections import (
    decide_section,
    decision_reasons,
    draft_section,
    header_text,
    headline_section,
    metric_rows,
    segment_section,
    show_flash,
)
from dashboard.figures.experiments import cumulative_figure, guardrail_figure, posterior_figure
from dashboard.i18n import current_language, metric_label, t, t_or
from dashboard.report_html import readout_html
from dashboard.store_access import cached, get_store, release_store
from experiments.readout import ReadoutError, analyze
from experiments.readout_view import metric_unit
from experiments.registry import list_experiments, search_experiments
from experiments.segments import segment_fit_status


def _readout_file(experiment_id: str, lang: str, variant: str | None) -> str:
    """The readout as one HTML file, made when its button is clicked: 1-3 s and ~5 MB a
    readout (Plotly embedded), which every visit of the page used to wait for. Streamlit
    calls this on a worker thread, which lets go of the store after it read."""
    try:
        return cached(readout_html, experiment_id, lang=lang, variant=variant)
    finally:
        release_store()


def labelled(df: pl.DataFrame, group: str) -> dict:
    """Column labels in the UI language; the frame keeps its names (tests, downloads)."""
    return {c: st.column_config.Column(t_or(f"{group}.{c}", c)) for c in df.columns}


st.title(t("exp.title"))
show_flash()
query = st.text_input(t("exp.search"), placeholder=t("exp.search_placeholder"))
items = cached(search_experiments, query) if query.strip() else cached(list_experiments)
if not items:
    st.info(t("exp.no_match") if query.strip() else t("exp.none_yet"))
    st.stop()
summary = pl.DataFrame([e.summary() for e in items])
st.dataframe(summary, hide_index=True, width="stretch", column_config=labelled(summary, "exp.col"))

by_id = {e.experiment_id: e for e in items}
# ?experiment=ID opens its readout (a link to one experiment); the choice is written back.
url_state.adopt("experiment", "exp_chosen", url_state.choice(list(by_id)))
if st.session_state.get("exp_chosen") not in by_id:
    st.session_state["exp_chosen"] = next(iter(by_id))
chosen = st.selectbox(
    t("exp.read_out"),
    list(by_id),
    key="exp_chosen",
    format_func=lambda i: f"{i} ({t_or(f'xstatus.{by_id[i].status}', by_id[i].status)})",
)
url_state.publish("experiment", chosen)
exp = by_id[chosen]
if exp.status == "draft":
    draft_section(exp)
    st.stop()
# With more than one treatment arm, each is read out against control in turn.
arm = st.selectbox(t("exp.variant"), exp.variants[1:]) if len(exp.variants) > 2 else exp.variants[1]
try:
    r = cached(analyze, chosen, variant=arm)
except ReadoutError as exc:
    st.info(t("exp.no_readout", id=chosen, error=exc))
    st.stop()
except Exception as exc:  # noqa: BLE001 - shown as a sentence, never a traceback
    st.error(t("exp.cannot_read_out", id=chosen, error=exc))
    st.stop()

unit = metric_unit(r.primary.metric)
action = r.decision.action
st.subheader(t("exp.decision", action=t_or(f"xdecision.{action.replace(' ', '_')}", action)))
st.caption(header_text(r))
for reason in decision_reasons(r.decision):
    st.markdown(f"- {reason}")
for note in r.messages:
    st.warning(note)
headline_section(r)
table = pl.DataFrame(metric_rows(r))
st.dataframe(table, hide_index=True, width="stretch", column_config=labelled(table, "exp.mcol"))

d = r.to_dict()
st.plotly_chart(
    posterior_figure(
        d["posterior"],
        control=r.control,
        variant=r.variant,
        metric=metric_label(r.primary.metric, r.primary.label),
        unit=unit,
    ),
    width="stretch",
    config=numbers.plotly_config(),
)
st.plotly_chart(
    cumulative_figure(d["cumulative"], unit=unit, lower_is_better=r.primary.lower_is_better),
    width="stretch",
    config=numbers.plotly_config(),
)
if d["guardrails"]:
    st.markdown("**" + t("exp.guardrails") + "**")
    guards = [
        g | {"label": metric_label(g["metric"], str(g.get("label") or g["metric"]))}
        for g in d["guardrails"]
    ]
    st.plotly_chart(guardrail_figure(guards), width="stretch", config=numbers.plotly_config())

st.subheader(t("exp.segments"))
_state = segment_fit_status(get_store(), chosen)["status"]
# Poll only while a fit runs, so an idle page does not re-query every few seconds.
st.fragment(run_every=2.0 if _state == "running" else None)(segment_section)(chosen)

st.subheader(t("exp.decide"))
decide_section(r.experiment, r.decision.action, list(r.decision.reasons))


st.download_button(
    t("exp.download_html"),
    partial(_readout_file, chosen, current_language(), arm),  # the arm on screen
    file_name=f"{chosen}_readout.html",
    mime="text/html",
)
