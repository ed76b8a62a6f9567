"""Parts of the Plan page: guardrail tolerances, the size and duration cards, save and launch.

Widgets and calls to experiments/ only; sizing lives in experiments.plan, what a plan may
hold in experiments.plan_validation and experiments.registry.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import streamlit as st

from dashboard import numbers
from dashboard.i18n import current_language, metric_label, t, t_or
from dashboard.store_access import get_store
from experiments.metric_defs import METRICS, ExperimentMetric, metric_choices
from experiments.plan import PlanEstimate
from experiments.plan_validation import RegistryError
from experiments.readout_view import format_lift, format_value, input_hint
from experiments.registry import save_plan


def metric_labels() -> dict[str, str]:
    """Experiment metric names -> labels in the UI language, in catalogue order."""
    return {k: metric_label(k, v) for k, v in metric_choices()}


def unit_hint(unit: str) -> str:
    """How a number in `unit` is typed (e.g. "0.02 = 2 points"), in the UI language."""
    return t_or(f"hint.{unit}", input_hint(unit))


def sentence(text: object) -> str:
    """A message from experiments/ as a sentence (its first letter upper-case)."""
    s = str(text)
    return s[:1].upper() + s[1:]


def guardrail_inputs(labels: dict[str, str], names: list[str]) -> list[dict[str, Any]]:
    """A tolerance input per chosen guardrail, in the guardrail metric's own unit."""
    guardrails = []
    for g in names:
        tol = st.number_input(
            t("plan.tolerance", metric=labels[g], hint=unit_hint(METRICS[g].unit)),
            min_value=0.0,
            value=0.02,
            step=0.01,
            format="%.4f",
            key=f"tol_{g}",
        )
        guardrails.append({"metric": g, "tolerance": tol})
    return guardrails


def estimate_section(estimate: PlanEstimate, metric: ExperimentMetric, label: str) -> None:
    """Units per arm and in all, the expected duration and the assurance; the baseline."""
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
            metric=label,
            value=format_value(estimate.baseline, metric.unit, current_language()),
            mde=format_lift(estimate.mde, metric.unit, current_language()).lstrip("+"),
            relative=numbers.share(estimate.mde_relative),
        )
    )


def save_buttons(
    plan: dict[str, Any], problems: tuple[str, ...] | list[str], start: date, end: date
) -> None:
    """Save the plan as a draft, or save and start it; the registry says what is refused."""
    save, launch = st.columns(2)
    for button, run in (
        (save.button(t("plan.save_draft")), False),
        (launch.button(t("plan.start")), True),
    ):
        if not button:
            continue
        try:
            exp = save_plan(get_store(), plan, start=run, problems=problems)
        except RegistryError as exc:
            st.error(t("plan.not_saved", error=exc))
            continue
        status = t_or(f"xstatus.{exp.status}", exp.status)
        st.success(t("plan.saved", id=exp.experiment_id, status=status, start=start, end=end))
