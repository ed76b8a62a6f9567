"""Parts of the Experiments page: a draft's editor and launch, segment effects, the decide form.

Widgets and calls to experiments/ only; every rule (what may be edited, what a decision
stores) lives in experiments.registry.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from dashboard.figures.experiments import segment_figure
from dashboard.store_access import get_store
from experiments.metrics import metric_choices
from experiments.plan import format_guardrails, parse_guardrails, parse_split
from experiments.readout_view import (
    cuped_sentence,
    default_decision,
    format_lift,
    format_p,
    format_prob,
    lift_summary,
    metric_unit,
)
from experiments.registry import (
    DECISIONS,
    Experiment,
    RegistryError,
    record_decision,
    start_experiment,
    update_experiment,
)
from experiments.segments import segment_fit_status, start_segment_fit

FLASH = "experiments_flash"


def flash(message: str) -> None:
    """Show `message` after the rerun that refreshes the list."""
    st.session_state[FLASH] = message
    st.rerun()


def show_flash() -> None:
    message = st.session_state.pop(FLASH, None)
    if message:
        st.success(message)


def draft_section(exp: Experiment) -> None:
    """A draft's plan, editable, and the button that launches it."""
    st.subheader(f"Draft: {exp.name}")
    st.caption("A draft has no readout yet: edit its plan, then start it.")
    labels = dict(metric_choices())
    names = list(labels)
    with st.form(f"draft_{exp.experiment_id}"):
        name = st.text_input("Name", value=exp.name)
        hypothesis = st.text_area("Hypothesis", value=exp.hypothesis)
        primary = st.selectbox(
            "Primary metric (OEC)",
            names,
            index=names.index(exp.primary_metric) if exp.primary_metric in names else 0,
            format_func=labels.get,
        )
        guards = st.text_input(
            "Guardrails (metric: tolerance)",
            value=format_guardrails(exp.guardrails),
            help="Tolerances in the metric's units: csat: 0.02 is 2 pp, aht: 30 is 30 s",
        )
        left, right = st.columns(2)
        variants = left.text_input("Variants (control first)", value=", ".join(exp.variants))
        split = right.text_input("Split", value=", ".join(f"{s:g}" for s in exp.split))
        left, right = st.columns(2)
        start = left.date_input("Start", value=exp.start_date or date.today())
        end = right.date_input("End", value=exp.end_date)
        save, launch = st.columns(2)
        saved = save.form_submit_button("Save changes")
        started = launch.form_submit_button("Start experiment", type="primary")
    if not (saved or started):
        return
    try:
        changes = {
            "name": name,
            "hypothesis": hypothesis,
            "primary_metric": primary,
            "guardrails": parse_guardrails(guards),
            "variants": [v.strip() for v in variants.split(",") if v.strip()],
            "split": parse_split(split),
            "start_date": start,
            "end_date": end,
        }
    except ValueError as exc:
        st.error(str(exc)[0].upper() + str(exc)[1:])
        return
    try:
        update_experiment(get_store(), exp.experiment_id, changes)
        if started:
            start_experiment(get_store(), exp.experiment_id, start)
    except RegistryError as exc:
        st.error(str(exc))
        return
    flash(f"{'Started' if started else 'Saved'} {exp.experiment_id}.")


def headline_section(r: Any) -> None:
    """The primary metric's cards: P(better), lift in its unit, expected loss, SRM; CUPED."""
    p, unit = r.primary.result, metric_unit(r.primary.metric)
    head, ci = lift_summary(r.primary)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("P(better)", format_prob(p.prob_variant_better), help=f"P({r.variant} better)")
    c2.metric(f"Lift in {r.primary.label}", head, help=ci)
    c3.metric("Expected loss if shipped", format_lift(p.expected_loss.variant, unit).lstrip("+"))
    c4.metric(
        "SRM p-value",
        format_p(r.srm.p_value),
        delta="mismatch" if r.srm.mismatch else None,
        delta_color="inverse",
    )
    st.caption(ci)
    cuped = cuped_sentence(r.primary)
    if cuped:
        st.caption(cuped)


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


def decide_section(exp: Experiment, recommended: str, reasons: list[str]) -> None:
    """The decision form, defaulting to the readout's recommendation; a decided one is shown."""
    if exp.status == "decided":
        st.info(
            f"Decided: {exp.decision} by {exp.decided_by}"
            + (f" on {exp.decided_at:%Y-%m-%d}" if exp.decided_at else "")
            + (f". Learnings: {exp.learnings}" if exp.learnings else "")
        )
        return
    with st.form("decide"):
        decision = st.radio(
            "Decision",
            DECISIONS,
            index=DECISIONS.index(default_decision(recommended)),
            format_func=lambda d: d.replace("_", " "),
            horizontal=True,
            help=f"Defaults to the readout's recommendation ({recommended})",
        )
        by = st.text_input("Decided by")
        learnings = st.text_area("Learnings", value=exp.learnings or "")
        if not st.form_submit_button("Record decision"):
            return
    try:
        done = record_decision(
            get_store(),
            exp.experiment_id,
            decision,
            by,
            learnings=learnings or None,
            reasons=reasons,
        )
    except RegistryError as exc:
        st.error(str(exc))
        return
    flash(f"Recorded: {done.decision} by {done.decided_by}.")
