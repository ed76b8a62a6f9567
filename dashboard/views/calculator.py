"""Quick calculator: counts or means of two arms in, posterior, P(better) and a verdict out."""

from __future__ import annotations

import streamlit as st

from dashboard.calculator_sections import (
    DEFAULTS,
    FAMILIES,
    FAMILY_KEYS,
    arm_inputs,
    curves_section,
    result_section,
)
from dashboard.i18n import t
from experiments.quick_inputs import InputError
from experiments.stats import compare

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
defaults = DEFAULTS[family]
problems: list[str] = []
arms = []
for column, arm, values in ((left, "control", defaults[0]), (right, "variant", defaults[1])):
    try:
        arms.append(arm_inputs(column, family, arm, values))
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
result_section(result, pct)
curves_section(control, variant, result, pct)
