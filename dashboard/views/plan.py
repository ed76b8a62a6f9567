"""Plan an experiment: hypothesis, metrics, guardrails, split, MDE -> size, duration, assurance."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from dashboard.i18n import t
from dashboard.plan_sections import (
    estimate_section,
    guardrail_inputs,
    metric_labels,
    save_buttons,
    sentence,
    unit_hint,
)
from dashboard.store_access import cached
from experiments.metric_defs import METRICS
from experiments.plan import PlanningError, check_plan, parse_split, plan_experiment, split_problems

LABELS = metric_labels()

st.title(t("plan.title"))
name = st.text_input(t("common.name"), placeholder=t("plan.name_placeholder"))
hypothesis = st.text_area(t("common.hypothesis"), placeholder=t("plan.hypothesis_placeholder"))
left, right = st.columns(2)
unit = left.selectbox(
    t("plan.unit"),
    ("customer",),
    help=t("plan.unit_help"),
    format_func=lambda u: t(f"plan.unit_{u}"),
)
primary = right.selectbox(
    t("common.primary_metric"),
    list(LABELS),
    format_func=LABELS.get,
    index=list(LABELS).index("fcr"),
)
metric = METRICS[primary]
left, right = st.columns(2)
relative = left.toggle(t("plan.mde_relative"), value=True)
mde = right.number_input(
    t("plan.mde") + (t("plan.mde_fraction") if relative else f" ({unit_hint(metric.unit)})"),
    min_value=0.0,
    value=0.05 if relative else 0.03,
    step=0.01,
    format="%.4f",
)
left, right = st.columns(2)
variants_text = left.text_input(t("common.variants"), value="control, treatment")
split_text = right.text_input(t("common.split"), value="0.5, 0.5")
variants = [v.strip() for v in variants_text.split(",") if v.strip()]

guard_names = st.multiselect(
    t("plan.guardrails"),
    [m for m in LABELS if m != primary],
    format_func=LABELS.get,
    default=["csat"] if primary != "csat" else [],
)
guardrails = guardrail_inputs(LABELS, guard_names)
left, right = st.columns(2)
start = left.date_input(t("common.start"), value=date.today())
end = right.date_input(t("common.end"), value=date.today() + timedelta(days=42))

try:
    split = parse_split(split_text)
except ValueError as exc:
    st.error(sentence(exc))
    st.stop()

estimate = None
if not split_problems(variants, split):
    try:
        estimate = cached(plan_experiment, primary, mde, mde_relative=relative, split=tuple(split))
    except (PlanningError, ValueError) as exc:
        st.error(t("plan.cannot_size", error=exc))
check = check_plan(variants, split, start, end, estimate)
for problem in check.errors:
    st.error(sentence(problem))
for warning in check.warnings:
    st.warning(sentence(warning))
if estimate is not None:
    estimate_section(estimate, metric, LABELS.get(primary, metric.display_label))

plan = {
    "name": name,
    "hypothesis": hypothesis,
    "unit": unit,
    "primary_metric": primary,
    "guardrails": guardrails,
    "variants": variants,
    "split": split,
    "mde": estimate.mde if estimate is not None else (mde if not relative else None),
    "planned_n": estimate.n_total if estimate is not None else None,
    "start_date": start,
    "end_date": end,
}
save_buttons(plan, check.errors, start, end)
