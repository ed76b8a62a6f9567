"""Plan an experiment: hypothesis, metrics, guardrails, split, MDE -> size, duration, assurance."""

from __future__ import annotations

import math
from datetime import date, timedelta

import streamlit as st

from dashboard import numbers
from dashboard.i18n import current_language, metric_label, t, t_or
from dashboard.store_access import cached, get_store
from experiments.metric_defs import METRICS, metric_choices
from experiments.plan import PlanningError, check_plan, parse_split, plan_experiment, split_problems
from experiments.plan_validation import RegistryError
from experiments.readout_view import format_lift, format_value, input_hint
from experiments.registry import save_plan

LABELS = {k: metric_label(k, v) for k, v in metric_choices()}


def hint(unit: str) -> str:
    return t_or(f"hint.{unit}", input_hint(unit))


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
    t("plan.mde") + (t("plan.mde_fraction") if relative else f" ({hint(metric.unit)})"),
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
guardrails = []
for g in guard_names:
    tol = st.number_input(
        t("plan.tolerance", metric=LABELS[g], hint=hint(METRICS[g].unit)),
        min_value=0.0,
        value=0.02,
        step=0.01,
        format="%.4f",
        key=f"tol_{g}",
    )
    guardrails.append({"metric": g, "tolerance": tol})
left, right = st.columns(2)
start = left.date_input(t("common.start"), value=date.today())
end = right.date_input(t("common.end"), value=date.today() + timedelta(days=42))

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
        st.error(t("plan.cannot_size", error=exc))
check = check_plan(variants, split, start, end, estimate)
for problem in check.errors:
    st.error(problem[0].upper() + problem[1:])
for warning in check.warnings:
    st.warning(warning[0].upper() + warning[1:])
if estimate is not None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(t("plan.n_per_arm"), numbers.count(estimate.n_per_arm))
    c2.metric(t("plan.n_total"), numbers.count(estimate.n_total))
    days = estimate.expected_days
    c3.metric(
        t("plan.duration"),
        t("common.na") if not math.isfinite(days) else t("plan.days", days=math.ceil(days)),
        help=t(
            "plan.duration_help",
            per_day=numbers.number(estimate.eligible_per_day, 1),
            start=estimate.lookback.get("from"),
            end=estimate.lookback.get("to"),
        ),
    )
    c4.metric(
        t("plan.assurance"),
        numbers.probability(estimate.assurance),
        help=t("plan.assurance_help"),
    )
    st.caption(
        t(
            "plan.baseline",
            metric=LABELS.get(primary, metric.display_label),
            value=format_value(estimate.baseline, metric.unit, current_language()),
            mde=format_lift(estimate.mde, metric.unit, current_language()).lstrip("+"),
            relative=numbers.share(estimate.mde_relative),
        )
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
for button, run in (
    (save.button(t("plan.save_draft")), False),
    (launch.button(t("plan.start")), True),
):
    if button:
        try:
            exp = save_plan(get_store(), plan, start=run, problems=check.errors)
            st.success(
                t(
                    "plan.saved",
                    id=exp.experiment_id,
                    status=t_or(f"xstatus.{exp.status}", exp.status),
                    start=start,
                    end=end,
                )
            )
        except RegistryError as exc:
            st.error(t("plan.not_saved", error=exc))
