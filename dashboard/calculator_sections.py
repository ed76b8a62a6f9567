"""Parts of the Quick calculator: one arm's inputs per family, the verdict, the result cards.

Widgets and words only; the arms are checked in experiments.quick_inputs and compared by
experiments.stats.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from dashboard import numbers
from dashboard.figures.posterior import arms_figure, lift_figure
from dashboard.i18n import current_language, t, t_or
from experiments.quick_inputs import binary_arm, mean_arm, nps_arm
from experiments.stats import verdict
from experiments.stats.curves import posterior_curves
from experiments.stats.decision import LOSS_SCALE
from experiments.stats.results import ComparisonResult
from metrics import units

FAMILIES = ("Conversion rate (yes/no)", "Average (e.g. handle time)", "NPS")
FAMILY_KEYS = dict(zip(FAMILIES, ("binary", "mean", "nps"), strict=True))  # calc.family.<key>
# (control, variant) inputs shown first, per family.
DEFAULTS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    FAMILIES[0]: ((1000, 100), (1000, 120)),
    FAMILIES[1]: ((200, 300.0, 120.0), (200, 285.0, 115.0)),
    FAMILIES[2]: ((120, 90, 90), (140, 85, 75)),
}


def arm_inputs(col: Any, family: str, arm: str, defaults: tuple[float, ...]) -> Any:
    """One arm's numbers for `family`, checked by experiments.quick_inputs (InputError)."""
    # Keys carry the family so one family's numbers never leak into another's inputs. No
    # min_value: a number below it would be silently replaced; it is rejected with a reason.
    k = f"{('bin', 'mean', 'nps')[FAMILIES.index(family)]}_{arm}"
    name = arm.capitalize()
    with col:
        st.subheader(t(f"calc.arm.{arm}"))
        if family == FAMILIES[0]:
            n = st.number_input(t("calc.units"), value=defaults[0], step=1, key=f"{k}_n")
            x = st.number_input(t("calc.successes"), value=defaults[1], step=1, key=f"{k}_x")
            return binary_arm(name, n, x)
        if family == FAMILIES[1]:
            n = st.number_input(t("calc.units"), value=defaults[0], step=1, key=f"{k}_n")
            mean = st.number_input(t("calc.mean"), value=float(defaults[1]), key=f"{k}_mean")
            sd = st.number_input(t("calc.sd"), value=float(defaults[2]), key=f"{k}_sd")
            return mean_arm(name, n, mean, sd)
        p = st.number_input(t("calc.promoters"), value=defaults[0], step=1, key=f"{k}_p")
        pa = st.number_input(t("calc.passives"), value=defaults[1], step=1, key=f"{k}_pa")
        d = st.number_input(t("calc.detractors"), value=defaults[2], step=1, key=f"{k}_d")
        return nps_arm(name, p, pa, d)


def verdict_text(result: ComparisonResult) -> str:
    """experiments.stats.verdict's sentence; in Swedish the same three cases from the catalogue."""
    if current_language() == "en":
        return verdict(result)
    p, loss = result.prob_variant_better, result.expected_loss.variant
    if not math.isfinite(p):
        return t("calc.verdict.none", message=result.message or t("calc.verdict.no_data"))
    if p >= 0.95:  # verdict()'s default prob_threshold
        scale = LOSS_SCALE.get(result.family, 1.0)
        unit = t_or(f"calc.verdict.unit.{result.family}", "")
        loss_text = units.format_significant(loss * scale, lang=current_language())
        return t(
            "calc.verdict.better", p=numbers.probability(p, digits=1), loss=loss_text, unit=unit
        )
    if p <= 0.05:
        return t("calc.verdict.worse", p=numbers.probability(p, digits=1))
    return t("calc.verdict.unclear", p=numbers.probability(p, digits=1))


def result_section(result: ComparisonResult, pct: bool) -> None:
    """The verdict, P(better), expected loss and the difference with its interval."""

    def fmt(v: float) -> str:
        if not math.isfinite(v):
            return t("common.na")
        if pct:
            return f"{numbers.number(v * 100, 2, signed=True)} {t('calc.pp')}"
        text = units.format_significant(v, lang=current_language())
        return text if text.startswith("-") or v == 0 else f"+{text}"

    st.info(verdict_text(result), icon=":material/lightbulb:")
    c1, c2, c3 = st.columns(3)
    p = result.prob_variant_better
    c1.metric(
        t("calc.p_better"), numbers.probability(p, digits=1) if math.isfinite(p) else t("common.na")
    )
    c2.metric(t("calc.expected_loss"), fmt(result.expected_loss.variant).lstrip("+"))
    lift, rel = result.absolute_lift, result.relative_lift
    level = numbers.share(result.ci_level, digits=0)
    c3.metric(
        t("calc.difference", level=level),
        fmt(lift.mean),
        help=t("calc.range", low=fmt(lift.ci_low), high=fmt(lift.ci_high)),
    )
    relative = ""
    if math.isfinite(rel.ci_low):
        relative = t(
            "calc.relative",
            mean=numbers.relative(rel.mean),
            low=numbers.relative(rel.ci_low),
            high=numbers.relative(rel.ci_high),
        )
    st.caption(
        t("calc.interval_caption", level=level, low=fmt(lift.ci_low), high=fmt(lift.ci_high))
        + relative
    )
    if result.message:
        st.warning(result.message)


def curves_section(control: Any, variant: Any, result: ComparisonResult, pct: bool) -> None:
    """Each arm's posterior and the posterior of the difference, when there are curves."""
    curves = posterior_curves(control, variant)
    if curves is None:
        return
    g1, g2 = st.columns(2)
    g1.plotly_chart(
        arms_figure(curves, title=t("calc.arms_title"), percent=pct),
        width="stretch",
        config=numbers.plotly_config(),
    )
    title = t("calc.lift_title_pp" if pct else "calc.lift_title")
    g2.plotly_chart(
        lift_figure(curves, result, title=title, percent=pct),
        width="stretch",
        config=numbers.plotly_config(),
    )
