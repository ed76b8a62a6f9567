"""Parts of the Experiments page: a draft's editor and launch, segment effects, the decide form.

Widgets and calls to experiments/ only; every rule (what may be edited, what a decision
stores) lives in experiments.registry.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from dashboard import numbers
from dashboard.figures.experiments import segment_figure, segment_label
from dashboard.i18n import current_language, metric_label, t, t_or
from dashboard.store_access import get_store
from experiments.metric_defs import metric_choices
from experiments.plan import format_guardrails, parse_guardrails, parse_split
from experiments.plan_validation import DECISIONS, Experiment, RegistryError
from experiments.readout_view import (
    cuped_sentence,
    default_decision,
    format_interval,
    format_lift,
    format_p,
    format_prob,
    lift_summary,
    metric_table,
    metric_unit,
    segment_table,
    timeline,
)
from experiments.registry import record_decision, start_experiment, update_experiment
from experiments.segments import segment_fit_status, start_segment_fit
from metrics import units
from metrics.auth import can, current_actor

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
    st.subheader(t("exp.draft", name=exp.name))
    st.caption(t("exp.draft_caption"))
    labels = {k: metric_label(k, v) for k, v in metric_choices()}
    names = list(labels)
    with st.form(f"draft_{exp.experiment_id}"):
        name = st.text_input(t("common.name"), value=exp.name)
        hypothesis = st.text_area(t("common.hypothesis"), value=exp.hypothesis)
        primary = st.selectbox(
            t("common.primary_metric"),
            names,
            index=names.index(exp.primary_metric) if exp.primary_metric in names else 0,
            format_func=labels.get,
        )
        guards = st.text_input(
            t("exp.guardrails_field"),
            value=format_guardrails(exp.guardrails),
            help=t("exp.guardrails_help"),
        )
        left, right = st.columns(2)
        variants = left.text_input(t("common.variants"), value=", ".join(exp.variants))
        split = right.text_input(t("common.split"), value=", ".join(f"{s:g}" for s in exp.split))
        left, right = st.columns(2)
        start = left.date_input(t("common.start"), value=exp.start_date or date.today())
        end = right.date_input(t("common.end"), value=exp.end_date)
        save, launch = st.columns(2)
        # Hidden rights are also refused in experiments.registry (metrics.auth.require).
        who = current_actor()
        saved = save.form_submit_button(
            t("exp.save_changes"), disabled=not can(who, "experiment.plan")
        )
        started = launch.form_submit_button(
            t("exp.start_experiment"), type="primary", disabled=not can(who, "experiment.launch")
        )
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
    flash(t("exp.started" if started else "exp.saved", id=exp.experiment_id))


def headline_section(r: Any) -> None:
    """The primary metric's cards: P(better), lift in its unit, expected loss, SRM; CUPED."""
    p, unit, lang = r.primary.result, metric_unit(r.primary.metric), current_language()
    head, _ = lift_summary(r.primary, lang)
    lift = p.absolute_lift
    ci = t("exp.ci_range", range=format_interval(lift.ci_low, lift.ci_high, unit, lang))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        t("exp.p_better"),
        format_prob(p.prob_variant_better, lang),
        help=t("exp.p_better_help", variant=r.variant),
    )
    c2.metric(
        t("exp.lift_in", metric=metric_label(r.primary.metric, r.primary.label)), head, help=ci
    )
    c3.metric(t("exp.expected_loss"), format_lift(p.expected_loss.variant, unit, lang).lstrip("+"))
    c4.metric(
        t("exp.srm"),
        format_p(r.srm.p_value, lang),
        delta=t("exp.srm_mismatch") if r.srm.mismatch else None,
        delta_color="inverse",
    )
    st.caption(ci)
    if cuped_sentence(r.primary) is not None:  # applied: say what it did, in the UI language
        cu = r.primary.cuped
        st.caption(
            t(
                "exp.cuped",
                share=format_prob(r.primary.cuped_variance_reduction, lang),
                mean=format_lift(cu.absolute_lift.mean, unit, lang),
                low=format_lift(cu.absolute_lift.ci_low, unit, lang),
                high=format_lift(cu.absolute_lift.ci_high, unit, lang),
                p=format_prob(cu.prob_variant_better, lang),
            )
        )


def _reason_value(kind: str, value: Any, lang: str) -> str:
    if kind == "note":
        return reason_sentence(value)
    if kind == "prob":
        return units.format_probability(value, lang=lang, digits=1)
    if kind in ("pct0", "pct2"):
        return units.format_share(value, lang=lang, digits=int(kind[-1]))
    if kind == "num":
        return units.format_significant(value, lang=lang)
    if kind == "int":
        return units.format_count(value, lang=lang)
    if kind == "metric":
        return metric_label(str(value), str(value))
    return str(value)


def reason_sentence(note: Any) -> str:
    """One decision reason (experiments.stats.results.ReasonNote) in the UI language."""
    key, values = note
    lang = current_language()
    return t(key, **{k: _reason_value(kind, v, lang) for k, (kind, v) in values.items()})


def decision_reasons(decision: Any) -> list[str]:
    """The decision's reasons to show: as recorded (English) in English, else worded from
    their notes in the UI language (a decision without notes keeps its English words)."""
    notes = getattr(decision, "notes", ())
    if current_language() == "en" or len(notes) != len(decision.reasons):
        return list(decision.reasons)
    return [reason_sentence(n) for n in notes]


def metric_rows(r: Any) -> list[dict[str, str]]:
    """readout_view.metric_table with its words (role, metric, tolerance, verdict) in the UI
    language; the numbers are readout_view's, in the UI language's formats."""
    rows = metric_table(r, current_language())
    for row, m in zip(rows, (r.primary, *r.guardrails), strict=True):
        g = m.guardrail
        row["role"] = t_or(f"exp.role.{m.role}", m.role)
        row["metric"] = metric_label(m.metric, m.label)
        if row["tolerance"].endswith(" of control"):
            row["tolerance"] = t("exp.of_control", tol=row["tolerance"].removesuffix(" of control"))
        if g is not None:
            row["guardrail"] = t("exp.guard.holds" if g.passed else "exp.guard.not_safe")
    return rows


def header_text(r: Any, today: date | None = None) -> str:
    """The readout's dates, days and units per arm (experiments.readout_view.timeline's
    cases, worded in the UI language)."""
    tl = timeline(r.experiment, today)
    today = today or date.today()
    start, end, days = tl.start, tl.end, tl.days
    if start is None:
        when = t("exp.tl.not_started") + (t("exp.tl.not_started_end", end=end) if end else "")
    elif start > today:
        when = t("exp.tl.starts", start=start) + (t("exp.tl.ends", end=end) if end else "")
    elif end and end < today:
        when = t("exp.tl.ran", start=start, end=end, days=days)
    else:
        when = t("exp.tl.running", start=start, days=days) + (
            t("exp.tl.planned_end", end=end) if end else t("exp.tl.no_end")
        )
    arms = " · ".join(f"{k} {numbers.count(v)}" for k, v in r.n_by_variant.items())
    return f"{when} · " + t("exp.units", arms=arms)


def segment_section(experiment_id: str) -> None:
    store = get_store()
    status = segment_fit_status(store, experiment_id)
    state = status["status"]
    if state == "running":
        st.progress(float(status["progress"] or 0), text=status["message"] or t("exp.fitting"))
    elif st.button(
        t("exp.fit_segments") if state != "done" else t("exp.refit_segments"),
        help=t("exp.fit_segments_help"),
    ):
        start_segment_fit(store, experiment_id)
        st.rerun()
    if state in ("failed", "interrupted"):
        st.error(t("exp.segments_failed", error=status["error"] or state))
    if state == "stale":
        st.caption(
            t(
                "exp.segments_stale",
                version=status["data_version"],
                now=status["current_version"],
            )
        )
    if state in ("done", "stale"):
        st.caption(t("exp.segments_caption"))
        rows = status["result"]["segments"]
        unit = metric_unit(status["result"].get("metric") or "")
        st.plotly_chart(segment_figure(rows, unit), width="stretch", config=numbers.plotly_config())
        table = [
            row | {"segment": segment_label(raw)}  # people's words, not column values
            for row, raw in zip(segment_table(rows, unit, current_language()), rows, strict=True)
        ]
        st.dataframe(
            table,
            hide_index=True,
            key="segment_table",
            column_config={k: t(f"exp.segcol.{k}") for k in (table[0] if table else {})},
        )
    # When a fit we watched finishes, rerun the page once so the polling stops.
    was_running = st.session_state.get("segment_fit_running", False)
    st.session_state["segment_fit_running"] = state == "running"
    if was_running and state != "running":
        st.rerun()


def decide_section(exp: Experiment, recommended: str, reasons: list[str]) -> None:
    """The decision form, defaulting to the readout's recommendation; a decided one is shown."""
    if exp.status == "decided":
        st.info(
            t(
                "exp.decided",
                decision=t_or(f"xdecision.{exp.decision}", str(exp.decision)),
                by=exp.decided_by,
            )
            + (t("exp.decided_on", day=f"{exp.decided_at:%Y-%m-%d}") if exp.decided_at else "")
            + (t("exp.decided_learnings", learnings=exp.learnings) if exp.learnings else "")
        )
        return
    if not can(current_actor(), "experiment.decide"):
        st.caption("Decisions are recorded by experimenters and admins.")
        return
    with st.form("decide"):
        decision = st.radio(
            t("exp.decision_field"),
            DECISIONS,
            index=DECISIONS.index(default_decision(recommended)),
            format_func=lambda d: t_or(f"xdecision.{d}", d.replace("_", " ")),
            horizontal=True,
            help=t(
                "exp.decision_help",
                action=t_or(f"xdecision.{recommended.replace(' ', '_')}", recommended),
            ),
        )
        by = st.text_input(t("exp.decided_by"))
        learnings = st.text_area(t("exp.learnings"), value=exp.learnings or "")
        if not st.form_submit_button(t("exp.record")):
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
    flash(
        t(
            "exp.recorded",
            decision=t_or(f"xdecision.{done.decision}", str(done.decision)),
            by=done.decided_by,
        )
    )
