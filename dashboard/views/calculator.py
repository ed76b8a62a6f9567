"""Quick calculator: counts or means of two arms in, posterior, P(better) and a verdict out."""

from __future__ import annotations

import math

import streamlit as st

from dashboard.figures.posterior import arms_figure, lift_figure
from dashboard.i18n import current_language, t, t_or
from experiments.quick_inputs import InputError, binary_arm, mean_arm, nps_arm
from experiments.stats import compare, verdict
from experiments.stats.curves import posterior_curves

FAMILIES = ("Conversion rate (yes/no)", "Average (e.g. handle time)", "NPS")
FAMILY_KEYS = dict(zip(FAMILIES, ("binary", "mean", "nps"), strict=True))  # calc.family.<key>

st.title(t("calc.title"))
st.caption(t("calc.caption"))
family = st.radio(
    t("calc.family_question"),
    FAMILIES,
    horizontal=True,
    key="family",
    format_func=lambda f: t(f"calc.family.{FAMILY_KEYS[f]}"),
)
lower = False
left, right = st.columns(2)


def _inputs(col, arm: str, defaults: tuple):
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


defaults = {
    FAMILIES[0]: ((1000, 100), (1000, 120)),
    FAMILIES[1]: ((200, 300.0, 120.0), (200, 285.0, 115.0)),
    FAMILIES[2]: ((120, 90, 90), (140, 85, 75)),
}[family]
problems: list[str] = []
arms = []
for column, arm, values in ((left, "control", defaults[0]), (right, "variant", defaults[1])):
    try:
        arms.append(_inputs(column, arm, values))
    except InputError as exc:
        problems += exc.problems
if family != FAMILIES[2]:
    lower = st.checkbox(t("calc.lower_is_better"), key="lower")
if problems:
    st.error(t("calc.check_numbers", problems="; ".join(problems)))
    st.stop()
control, variant = arms
try:
    result = compare(control, variant, lower_is_better=lower)
except ValueError as exc:
    st.error(t("calc.check_numbers", problems=exc))
    st.stop()

pct = family == FAMILIES[0]


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return t("common.na")
    return f"{v * 100:+.2f} {t('calc.pp')}" if pct else f"{v:+.3g}"


def _verdict() -> str:
    """experiments.stats.verdict's sentence; in Swedish the same three cases from the catalogue."""
    if current_language() == "en":
        return verdict(result)
    p, loss = result.prob_variant_better, result.expected_loss.variant
    if not math.isfinite(p):
        return t("calc.verdict.none", message=result.message or t("calc.verdict.no_data"))
    if p >= 0.95:  # verdict()'s default prob_threshold
        scale = 100 if result.family == "binary" else 1
        unit = t_or(f"calc.verdict.unit.{result.family}", "")
        return t("calc.verdict.better", p=f"{p:.1%}", loss=f"{loss * scale:.3g}", unit=unit)
    if p <= 0.05:
        return t("calc.verdict.worse", p=f"{p:.1%}")
    return t("calc.verdict.unclear", p=f"{p:.1%}")


st.info(_verdict(), icon=":material/lightbulb:")
c1, c2, c3 = st.columns(3)
p = result.prob_variant_better
c1.metric(t("calc.p_better"), f"{p:.1%}" if math.isfinite(p) else t("common.na"))
c2.metric(t("calc.expected_loss"), _fmt(result.expected_loss.variant).lstrip("+"))
lift = result.absolute_lift
c3.metric(
    t("calc.difference", level=f"{result.ci_level:.0%}"),
    _fmt(lift.mean),
    help=t("calc.range", low=_fmt(lift.ci_low), high=_fmt(lift.ci_high)),
)
st.caption(
    t(
        "calc.interval_caption",
        level=f"{result.ci_level:.0%}",
        low=_fmt(lift.ci_low),
        high=_fmt(lift.ci_high),
    )
    + (
        t(
            "calc.relative",
            mean=f"{result.relative_lift.mean:+.1%}",
            low=f"{result.relative_lift.ci_low:+.1%}",
            high=f"{result.relative_lift.ci_high:+.1%}",
        )
        if math.isfinite(result.relative_lift.ci_low)
        else ""
    )
)
if result.message:
    st.warning(result.message)
curves = posterior_curves(control, variant)
if curves is not None:
    g1, g2 = st.columns(2)
    g1.plotly_chart(arms_figure(curves, title=t("calc.arms_title"), percent=pct), width="stretch")
    title = t("calc.lift_title_pp" if pct else "calc.lift_title")
    g2.plotly_chart(lift_figure(curves, result, title=title, percent=pct), width="stretch")
