"""Quick calculator: counts or means of two arms in, posterior, P(better) and a verdict out."""

from __future__ import annotations

import math

import streamlit as st

from dashboard.figures.posterior import arms_figure, lift_figure
from experiments.quick_inputs import InputError, binary_arm, mean_arm, nps_arm
from experiments.stats import compare, verdict
from experiments.stats.curves import posterior_curves

FAMILIES = ("Conversion rate (yes/no)", "Average (e.g. handle time)", "NPS")

st.title("Quick calculator")
st.caption("Type the results of two groups; no upload needed. Nothing is saved.")
family = st.radio("What kind of metric?", FAMILIES, horizontal=True, key="family")
lower = False
left, right = st.columns(2)


def _inputs(col, arm: str, defaults: tuple):
    # Keys carry the family so one family's numbers never leak into another's inputs. No
    # min_value: a number below it would be silently replaced; it is rejected with a reason.
    k = f"{('bin', 'mean', 'nps')[FAMILIES.index(family)]}_{arm}"
    name = arm.capitalize()
    with col:
        st.subheader(name)
        if family == FAMILIES[0]:
            n = st.number_input("Units (n)", value=defaults[0], step=1, key=f"{k}_n")
            x = st.number_input("Successes", value=defaults[1], step=1, key=f"{k}_x")
            return binary_arm(name, n, x)
        if family == FAMILIES[1]:
            n = st.number_input("Units (n)", value=defaults[0], step=1, key=f"{k}_n")
            mean = st.number_input("Mean", value=float(defaults[1]), key=f"{k}_mean")
            sd = st.number_input("Standard deviation", value=float(defaults[2]), key=f"{k}_sd")
            return mean_arm(name, n, mean, sd)
        p = st.number_input("Promoters (9-10)", value=defaults[0], step=1, key=f"{k}_p")
        pa = st.number_input("Passives (7-8)", value=defaults[1], step=1, key=f"{k}_pa")
        d = st.number_input("Detractors (0-6)", value=defaults[2], step=1, key=f"{k}_d")
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
    lower = st.checkbox("Lower is better (e.g. churn, handle time)", key="lower")
if problems:
    st.error("Please check the numbers: " + "; ".join(problems) + ".")
    st.stop()
control, variant = arms
try:
    result = compare(control, variant, lower_is_better=lower)
except ValueError as exc:
    st.error(f"Please check the numbers: {exc}")
    st.stop()

pct = family == FAMILIES[0]


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v * 100:+.2f} pp" if pct else f"{v:+.3g}"


st.info(verdict(result), icon=":material/lightbulb:")
c1, c2, c3 = st.columns(3)
p = result.prob_variant_better
c1.metric("Chance the variant is better", f"{p:.1%}" if math.isfinite(p) else "n/a")
c2.metric("Expected loss if you ship the variant", _fmt(result.expected_loss.variant).lstrip("+"))
lift = result.absolute_lift
c3.metric(
    f"Difference ({result.ci_level:.0%} interval)",
    _fmt(lift.mean),
    help=f"{_fmt(lift.ci_low)} to {_fmt(lift.ci_high)}",
)
st.caption(
    f"{result.ci_level:.0%} interval of the difference: {_fmt(lift.ci_low)} to "
    f"{_fmt(lift.ci_high)}"
    + (
        f" · relative {result.relative_lift.mean:+.1%} "
        f"({result.relative_lift.ci_low:+.1%} to {result.relative_lift.ci_high:+.1%})"
        if math.isfinite(result.relative_lift.ci_low)
        else ""
    )
)
if result.message:
    st.warning(result.message)
curves = posterior_curves(control, variant)
if curves is not None:
    g1, g2 = st.columns(2)
    g1.plotly_chart(arms_figure(curves, percent=pct), width="stretch")
    title = "Difference: variant − control" + (" (percentage points)" if pct else "")
    g2.plotly_chart(lift_figure(curves, result, title=title, percent=pct), width="stretch")
