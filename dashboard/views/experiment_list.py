"""Experiments page: past and running experiments, the readout of one, segment effects, decide."""

from __future__ import annotations

import math

import polars as pl
import streamlit as st

from dashboard.figures.experiments import (
    cumulative_figure,
    guardrail_figure,
    posterior_figure,
    segment_figure,
)
from dashboard.store_access import cached, get_store
from experiments.readout import analyze
from experiments.registry import (
    DECISIONS,
    RegistryError,
    list_experiments,
    record_decision,
    search_experiments,
)
from experiments.report_html import readout_html
from experiments.segments import segment_fit_status, start_segment_fit


def _pct(v: float) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.1%}"


def _num(v: float) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.3g}"


st.title("Experiments")
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

chosen = st.selectbox("Read out", [e.experiment_id for e in items])
arms = next(e.variants for e in items if e.experiment_id == chosen)
# With more than one treatment arm, each is read out against control in turn.
arm = st.selectbox("Variant", arms[1:]) if len(arms) > 2 else arms[1]
try:
    r = cached(analyze, chosen, variant=arm)
except Exception as exc:  # noqa: BLE001 - shown as a sentence, never a traceback
    st.error(f"Cannot read out {chosen}: {exc}")
    st.stop()

p = r.primary.result
st.subheader(f"Decision: {r.decision.action}")
for reason in r.decision.reasons:
    st.markdown(f"- {reason}")
for note in r.messages:
    st.warning(note)
c1, c2, c3, c4 = st.columns(4)
c1.metric("P(better)", _pct(p.prob_variant_better), help=f"P({r.variant} better than {r.control})")
c2.metric(
    f"Lift ({r.primary.metric})",
    _num(p.absolute_lift.mean),
    help=f"95 % interval [{_num(p.absolute_lift.ci_low)}, {_num(p.absolute_lift.ci_high)}]",
)
c3.metric("Expected loss if shipped", _num(p.expected_loss.variant))
c4.metric(
    "SRM p-value",
    _num(r.srm.p_value),
    delta="mismatch" if r.srm.mismatch else None,
    delta_color="inverse",
)
if r.primary.cuped is not None:
    cu = r.primary.cuped
    st.caption(
        f"CUPED (pre-period covariate) removes {_pct(r.primary.cuped_variance_reduction)} "
        f"of the variance: lift {_num(cu.absolute_lift.mean)} [{_num(cu.absolute_lift.ci_low)}"
        f", {_num(cu.absolute_lift.ci_high)}], P(better) {_pct(cu.prob_variant_better)}."
    )

st.dataframe(pl.DataFrame(r.metric_rows()), hide_index=True, width="stretch")

d = r.to_dict()
st.plotly_chart(
    posterior_figure(d["posterior"], control=r.control, variant=r.variant, metric=r.primary.label),
    width="stretch",
)
st.plotly_chart(cumulative_figure(d["cumulative"]), width="stretch")
if d["guardrails"]:
    st.plotly_chart(guardrail_figure(d["guardrails"]), width="stretch")


def segment_section(experiment_id: str) -> None:
    store = get_store()
    status = segment_fit_status(store, experiment_id)
    state = status["status"]
    if state == "running":
        st.progress(float(status["progress"] or 0), text=status["message"] or "Fitting…")
    elif st.button(
        "Fit segment model" if state != "done" else "Refit segment model",
        help="Partial pooling across channel, segment and age band (PyMC, background)",
    ):
        start_segment_fit(store, experiment_id)
        st.rerun()
    if state in ("failed", "interrupted"):
        st.error(f"The segment model did not finish: {status['error'] or state}")
    if state == "stale":
        st.caption(
            f"Fitted on data version {status['data_version']}; the data has changed "
            f"since (now {status['current_version']}): refit to update."
        )
    if state in ("done", "stale"):
        st.caption("Partially pooled estimates (PyMC) next to the unpooled ones per segment.")
        st.plotly_chart(segment_figure(status["result"]["segments"]), width="stretch")
    # When a fit we watched finishes, rerun the page once so the polling stops.
    was_running = st.session_state.get("segment_fit_running", False)
    st.session_state["segment_fit_running"] = state == "running"
    if was_running and state != "running":
        st.rerun()


st.subheader("Segment effects")
_state = segment_fit_status(get_store(), chosen)["status"]
# Poll only while a fit runs, so an idle page does not re-query every few seconds.
st.fragment(run_every=2.0 if _state == "running" else None)(segment_section)(chosen)

st.subheader("Decide and remember")
with st.form("decide"):
    decision = st.radio("Decision", DECISIONS, horizontal=True)
    by = st.text_input("Decided by")
    learnings = st.text_area("Learnings", value=r.experiment.learnings or "")
    if st.form_submit_button("Record decision"):
        try:
            exp = record_decision(
                get_store(),
                chosen,
                decision,
                by,
                learnings=learnings or None,
                reasons=list(r.decision.reasons),
            )
            st.success(f"Recorded: {exp.decision} by {exp.decided_by}.")
        except RegistryError as exc:
            st.error(str(exc))

st.download_button(
    "Download HTML readout",
    cached(readout_html, chosen),
    file_name=f"{chosen}_readout.html",
    mime="text/html",
)
