"""What the readout shows a product team, in words and units: dates, units, formatted lifts.

Pure functions over a `Readout` (experiments.readout) and the metrics' units; the Experiments
page, the HTML export and the CLI format numbers through here so they say the same thing.
Units are the catalogue's vocabulary: a share's lift is in percentage points (pp), a time in
s / min / h, NPS and indices in points; other metrics also show the relative change in %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeGuard

from experiments.metric_defs import METRICS
from experiments.plan_validation import DECISIONS, Experiment
from metrics import units

# Words that are part of a formatted figure (the page's sentences are in dashboard/locale).
_UNITS_WORD = {"en": "units", "sv": "enheter"}
_CI_WORD = {"en": "95 % interval", "sv": "95 %-intervall"}


def _finite(v: Any) -> TypeGuard[float]:
    """A real, finite number (not a bool, None or NaN); narrows v to a number for mypy."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def metric_unit(name: str) -> str:
    """The unit of an experiment metric by name ('' for an unknown one)."""
    try:
        m = METRICS[name]  # an old name of a renamed metric finds it too
    except KeyError:
        return ""
    return m.unit


def display_scale(unit: str) -> tuple[float, str]:
    """Factor and axis suffix to chart a difference in the metric's unit (shares in pp)."""
    if unit == "share":
        return 100.0, "pp"
    return 1.0, {"seconds": "s", "hours": "h", "nps": "points", "index": "points"}.get(unit, unit)


def input_hint(unit: str) -> str:
    """How to type a difference in this unit (tolerances, MDEs): 'share: 0.02 = 2 pp'."""
    return {
        "share": "share: 0.02 = 2 pp",
        "seconds": "seconds",
        "hours": "hours",
        "nps": "NPS points",
        "index": "index points",
        "score": "points on the 1-7 scale",
    }.get(unit, unit)


def format_lift(value: float | None, unit: str, lang: str = "en") -> str:
    """A difference (variant − control) in the metric's unit: '+8.1 pp', '-74 s', '0.0 pp'
    (Swedish '+8,1 p.e.'); an em dash when undefined. Floating-point noise around an exact
    zero (-4e-20) rounds to an unsigned zero."""
    return units.format_delta(value, unit, lang=lang)


def format_interval(low: float | None, high: float | None, unit: str, lang: str = "en") -> str:
    """A lift's interval with its unit once, both ends in one scale: '-1.2 to +3.4 pp'."""
    return units.format_interval(low, high, unit, lang=lang, delta=True)


def format_value(value: float | None, unit: str, lang: str = "en") -> str:
    """A level of the metric in its unit: '68.2 %', '7.4 min', '+12.3' (NPS), '3.45' (score)."""
    return units.format_value(value, unit, lang=lang)


def format_relative(value: float | None, lang: str = "en") -> str:
    """A relative change: '+11.9 %'; noise-level values as '0.0 %'."""
    return units.format_relative(value, lang=lang)


def format_prob(value: float | None, lang: str = "en") -> str:
    """A probability in per cent with one decimal ('94.3 %'; '> 99.9 %', never '100.0 %'
    for a probability below one)."""
    return units.format_probability(value, lang=lang, digits=1)


def format_p(value: float | None, lang: str = "en") -> str:
    """A p-value: three significant digits ('0.0123'), '< 0.001' below that."""
    if not _finite(value):
        return units.DASH
    if value < 0.001:
        return f"< {units.format_number(0.001, 3, lang=lang)}"
    digits = max(2, 2 - math.floor(math.log10(value))) if value > 0 else 3
    return units.format_number(value, digits, lang=lang)


@dataclass(frozen=True)
class Timeline:
    start: date | None
    end: date | None
    days: int | None
    text: str


def timeline(exp: Experiment, today: date | None = None) -> Timeline:
    """Start and end dates and days running (to the end date if it has passed, else today)."""
    today = today or date.today()
    start, end = exp.start_date, exp.end_date
    if start is None:
        return Timeline(None, end, None, "not started" + (f"; planned end {end}" if end else ""))
    last = min(end, today) if end else today
    days = max((last - start).days + 1, 0)
    if start > today:
        return Timeline(start, end, 0, f"starts {start}" + (f", ends {end}" if end else ""))
    if end and end < today:
        return Timeline(start, end, days, f"{start} to {end}: ran {days} days")
    until = f", planned end {end}" if end else ", no end date"
    return Timeline(start, end, days, f"started {start}, running {days} days{until}")


def units_text(n_by_variant: dict[str, int], lang: str = "en") -> str:
    """'control 1,503 · callback 1,497 units' ('... enheter' in Swedish)."""
    arms = " · ".join(f"{k} {units.format_count(v, lang=lang)}" for k, v in n_by_variant.items())
    return f"{arms} {_UNITS_WORD.get(lang, 'units')}"


def lift_summary(m: Any, lang: str = "en") -> tuple[str, str]:
    """(headline, interval sentence) of a MetricReadout's lift in its unit.

    Shares read in percentage points; other metrics add the relative change, which is what a
    product team compares across metrics ('−74 s (−16.6 %)').
    """
    unit = metric_unit(m.metric)
    res = m.result
    lift = res.absolute_lift
    head = format_lift(lift.mean, unit, lang)
    rel = getattr(res, "relative_lift", None)
    if unit != "share" and rel is not None and _finite(rel.mean):
        head += f" ({format_relative(rel.mean, lang)})"
    ci = f"{_CI_WORD.get(lang, '95 % interval')} {format_interval(lift.ci_low, lift.ci_high, unit, lang)}"
    return head, ci


def cuped_sentence(m: Any) -> str | None:
    """What CUPED did to the primary metric, in its unit (None when it was not applied)."""
    cu = getattr(m, "cuped", None)
    if cu is None:
        return None
    unit, lift = metric_unit(m.metric), cu.absolute_lift
    return (
        f"CUPED (pre-period covariate) removes {format_prob(m.cuped_variance_reduction)} of the "
        f"variance: lift {format_lift(lift.mean, unit)} [{format_lift(lift.ci_low, unit)}, "
        f"{format_lift(lift.ci_high, unit)}], P(better) {format_prob(cu.prob_variant_better)}."
    )


def metric_table(r: Any, lang: str = "en") -> list[dict[str, str]]:
    """One row per metric (primary, then guardrails), every number formatted in its unit
    in `lang`; the words (role, verdict, 'of control') stay keys the page translates."""
    rows = []
    for m in (r.primary, *r.guardrails):
        unit, res, g = metric_unit(m.metric), m.result, m.guardrail
        head, _ = lift_summary(m, lang)
        lift = res.absolute_lift
        tol = m.tolerance
        if _finite(tol) and g is not None and getattr(g, "relative", False):
            tol_text = f"{units.format_share(tol, lang=lang, digits=0)} of control"
        else:
            tol_text = format_lift(tol, unit, lang).lstrip("+") if _finite(tol) else ""
        rows.append(
            {
                "role": m.role,
                "metric": m.label,
                r.control: format_value(res.control.mean, unit, lang),
                r.variant: format_value(res.variant.mean, unit, lang),
                "lift": head,
                "95 % interval": format_interval(lift.ci_low, lift.ci_high, unit, lang),
                "P(better)": format_prob(res.prob_variant_better, lang),
                "tolerance": tol_text,
                "P(harm beyond tolerance)": format_prob(g.prob_worse, lang)
                if g is not None
                else "",
                "guardrail": "" if g is None else ("holds" if g.passed else "not shown safe"),
            }
        )
    return rows


def default_decision(action: str | None) -> str:
    """The registry decision matching the readout's recommendation ('keep running' → ...)."""
    key = (action or "").strip().lower().replace(" ", "_")
    return key if key in DECISIONS else "keep_running"


def band_points(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cumulative points with the band the decision used: the sequential interval
    (seq_ci_low / seq_ci_high from the readout) where there is one, else the credible one."""

    def sequential(p: dict[str, Any]) -> bool:
        lo, hi = p.get("seq_ci_low"), p.get("seq_ci_high")
        return isinstance(lo, int | float) and isinstance(hi, int | float) and lo <= hi

    return [
        {**p, "ci_low": p["seq_ci_low"], "ci_high": p["seq_ci_high"], "interval": "sequential"}
        if sequential(p)
        else p
        for p in series
    ]


def interval_name(series: list[dict[str, Any]]) -> str:
    """How the cumulative series' interval was computed, for the chart's legend."""
    if any(p.get("interval") == "sequential" for p in series):
        return "sequential 95 % interval"
    return "credible interval"


def segment_table(
    rows: list[dict[str, Any]], unit: str = "", lang: str = "en"
) -> list[dict[str, Any]]:
    """Segment effects led by the partially pooled estimate, the unpooled one beside it and
    marked when it lies outside the pooled interval (an extreme the pooling pulls in).

    Lifts are formatted in the metric's unit (shares in pp) in `lang`. Rows without a
    pooled estimate (an older fit) keep the unpooled estimate only.
    """
    out = []
    for r in rows:
        pooled = r.get("pooled_mean")
        out.append(
            {
                "segment": f"{r.get('dimension')}: {r.get('level')}",
                "pooled": units.DASH if pooled is None else format_lift(pooled, unit, lang),
                "pooled_low": units.DASH
                if pooled is None
                else format_lift(r["pooled_ci_low"], unit, lang),
                "pooled_high": units.DASH
                if pooled is None
                else format_lift(r["pooled_ci_high"], unit, lang),
                "unpooled": format_lift(r["lift"], unit, lang),
                "unpooled_extreme": bool(r.get("unpooled_extreme", False)),
                "n": units.format_count(
                    int(r.get("n_control", 0)) + int(r.get("n_variant", 0)), lang=lang
                ),
            }
        )
    return out
