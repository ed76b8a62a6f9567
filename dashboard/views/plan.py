"""Plan an experiment: hypothesis, metrics, guardrails, split, MDE -> size, duration, assurance."""

from __future__ import annotations

import math
from datetime import date, timedelta

import streamlit as st

from dashboard.store_access import cached, get_store
from experiments.metrics import METRICS, metric_choices
from experiments.plan import PlanningError, check_plan, parse_split, plan_experiment, split_problems
from experiments.readout_view import format_lift, format_value, input_hint
from experiments.registry import RegistryError, save_plan

LABELS = dict(metric_choices())

st.title("Plan an experiment")
name = st.text_input("Name", placeholder="Callback instead of phone queue")
hypothesis = st.text_area("Hypothesis", placeholder="Offering a callback raises FCR because …")
left, right = st.columns(2)
unit = left.selectbox(
    "Unit", ("customer",), help="Customers are randomised; metrics are per customer."
)
primary = right.selectbox(
    "Primary metric (OEC)", list(LABELS), format_func=LABELS.get, index=list(LABELS).index("fcr")
)
metric = METRICS[primary]
left, right = st.columns(2)
relative = left.toggle("MDE as % of baseline", value=True)
mde = right.number_input(
    "Minimum detectable effect"
    + (" (fraction, 0.05 = 5 %)" if relative else f" ({input_hint(metric.unit)})"),
    min_value=0.0,
    value=0.05 if relative else 0.03,
    step=0.01,
    format="%.4f",
)
left, right = st.columns(2)
variants_text = left.text_input("Variants (control first)", value="control, treatment")
split_text = right.text_input("Split", value="0.5, 0.5")
variants = [v.strip() for v in variants_text.split(",") if v.strip()]

guard_names = st.multiselect(
    "Guardrails",
    [m for m in LABELS if m != primary],
    format_func=LABELS.get,
    default=["csat"] if primary != "csat" else [],
)
guardrails = []
for g in guard_names:
    tol = st.number_input(
        f"Tolerance for {LABELS[g]} ({input_hint(METRICS[g].unit)})",
        min_value=0.0,
        value=0.02,
        step=0.01,
        format="%.4f",
        key=f"tol_{g}",
    )
    guardrails.append({"metric": g, "tolerance": tol})
left, right = st.columns(2)
start = left.date_input("Start", value=date.today())
end = right.date_input("End", value=date.today() + timedelta(days=42))

try:
    split = parse_split(split_text)
except ValueError as exc:
    st.error(str(exc)[0].upper() + str(exc)[1:])
    st.stop()

estimate = None
if not split_problems(variants, split):
    try:
        estimate = cached(plan_experiment, primary, mde, mde_relative=relative, split=tuple(split))
    except (PlanningError, ValueError) as exc:
        st.error(f"Cannot size this experiment: {exc}")
check = check_plan(variants, split, start, end, estimate)
for problem in check.errors:
    st.error(problem[0].upper() + problem[1:])
for warning in check.warnings:
    st.warning(warning[0].upper() + warning[1:])
if estimate is not None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Sample size per arm", f"{estimate.n_per_arm:,}")
    c2.metric("Total units", f"{estimate.n_total:,}")
    days = estimate.expected_days
    c3.metric(
        "Expected duration",
        "n/a" if not math.isfinite(days) else f"{math.ceil(days)} days",
        help=f"{estimate.eligible_per_day:.1f} eligible customers per day over the last "
        f"four weeks of data ({estimate.lookback.get('from')} to {estimate.lookback.get('to')})",
    )
    c4.metric(
        "Assurance",
        f"{estimate.assurance:.0%}",
        help="Chance the decision rule says ship at this size if the true effect is the MDE",
    )
    st.caption(
        f"Baseline {metric.display_label}: {format_value(estimate.baseline, metric.unit)} "
        f"(MDE {format_lift(estimate.mde, metric.unit).lstrip('+')} = "
        f"{estimate.mde_relative:.1%} of baseline)."
    )

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
save, launch = st.columns(2)
for button, run in ((save.button("Save as draft"), False), (launch.button("Start"), True)):
    if button:
        try:
            exp = save_plan(get_store(), plan, start=run, problems=check.errors)
            st.success(f"Saved {exp.experiment_id} ({exp.status}), {start} to {end}.")
        except RegistryError as exc:
            st.error(f"Not saved: {exc}")
