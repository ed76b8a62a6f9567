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

# Decimals shown per unit; a value that rounds to zero at this precision is shown as 0
# (a lift of -4.05e-20 is floating-point noise around an exact zero, not a finding).
_DIGITS = {"share": 1, "seconds": 0, "minutes": 1, "hours": 1, "nps": 1, "index": 1, "score": 2}


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


def _scaled(value: float, unit: str) -> tuple[float, str, int]:
    """The value in display units, the suffix and the decimals."""
    if unit == "share":
        return value * 100, "pp", _DIGITS["share"]
    if unit == "seconds" and abs(value) >= 600:
        return value / 60, "min", _DIGITS["minutes"]
    if unit == "seconds":
        return value, "s", 0
    if unit == "hours":
        return value, "h", _DIGITS["hours"]
    if unit in ("nps", "index"):
        return value, "points", _DIGITS[unit]
    if unit == "score":
        return value, "", _DIGITS["score"]
    return value, unit, 2


def _number(v: float, digits: int, signed: bool) -> str:
    r = round(v, digits)
    if r == 0:
        r = 0.0  # no "-0.0" and no sign on an exact zero
        return f"{r:.{digits}f}"
    return f"{r:+,.{digits}f}" if signed else f"{r:,.{digits}f}"


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


def format_lift(value: float | None, unit: str) -> str:
    """A difference (variant − control) in the metric's unit: '+8.1 pp', '−74 s', '0.0 pp'."""
    if not _finite(value):
        return "n/a"
    v, suffix, digits = _scaled(float(value), unit)
    text = _number(v, digits, signed=True).replace("-", "−")
    return f"{text} {suffix}".strip()


def format_value(value: float | None, unit: str) -> str:
    """A level of the metric in its unit: '68.2 %', '446 s', '+12.3' (NPS), '3.45' (score)."""
    if not _finite(value):
        return "n/a"
    v = float(value)
    if unit == "share":
        return f"{_number(v * 100, 1, signed=False)} %"
    if unit == "nps":
        return _number(v, 1, signed=True).replace("-", "−")
    v, suffix, digits = _scaled(v, unit)
    if suffix == "points":
        suffix = ""
    return f"{_number(v, digits, signed=False).replace('-', '−')} {suffix}".strip()


def format_relative(value: float | None) -> str:
    """A relative change: '+11.9 %'; noise-level values as '0.0 %'."""
    if not _finite(value):
        return "n/a"
    return f"{_number(float(value) * 100, 1, signed=True).replace('-', '−')} %"


def format_prob(value: float | None) -> str:
    """A probability or share as a percentage with one decimal."""
    return "n/a" if not _finite(value) else f"{value:.1%}"


def format_p(value: float | None) -> str:
    """A p-value: three significant digits, 'n/a' when undefined."""
    return "n/a" if not _finite(value) else f"{value:.3g}"


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


def units_text(n_by_variant: dict[str, int]) -> str:
    """'control 1,503 · callback 1,497 units'."""
    return " · ".join(f"{k} {v:,}" for k, v in n_by_variant.items()) + " units"


def lift_summary(m: Any) -> tuple[str, str]:
    """(headline, interval sentence) of a MetricReadout's lift in its unit.

    Shares read in percentage points; other metrics add the relative change, which is what a
    product team compares across metrics ('−74 s (−16.6 %)').
    """
    unit = metric_unit(m.metric)
    res = m.result
    lift = res.absolute_lift
    head = format_lift(lift.mean, unit)
    rel = getattr(res, "relative_lift", None)
    if unit != "share" and rel is not None and _finite(rel.mean):
        head += f" ({format_relative(rel.mean)})"
    ci = f"95 % interval {format_lift(lift.ci_low, unit)} to {format_lift(lift.ci_high, unit)}"
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


def metric_table(r: Any) -> list[dict[str, str]]:
    """One row per metric (primary, then guardrails), every number formatted in its unit."""
    rows = []
    for m in (r.primary, *r.guardrails):
        unit, res, g = metric_unit(m.metric), m.result, m.guardrail
        head, ci = lift_summary(m)
        tol = m.tolerance
        if _finite(tol) and g is not None and getattr(g, "relative", False):
            tol_text = f"{tol:.0%} of control"
        else:
            tol_text = format_lift(tol, unit).lstrip("+") if _finite(tol) else ""
        rows.append(
            {
                "role": m.role,
                "metric": m.label,
                r.control: format_value(res.control.mean, unit),
                r.variant: format_value(res.variant.mean, unit),
                "lift": head,
                "95 % interval": ci.removeprefix("95 % interval "),
                "P(better)": format_prob(res.prob_variant_better),
                "tolerance": tol_text,
                "P(harm beyond tolerance)": format_prob(g.prob_worse) if g is not None else "",
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


def segment_table(rows: list[dict[str, Any]], factor: float = 1.0) -> list[dict[str, Any]]:
    """Segment effects led by the partially pooled estimate, the unpooled one beside it and
    marked when it lies outside the pooled interval (an extreme the pooling pulls in).

    `factor` scales lifts for display (100 for shares in pp). Rows without a pooled
    estimate (an older fit) keep the unpooled estimate only.
    """
    out = []
    for r in rows:
        pooled = r.get("pooled_mean")
        out.append(
            {
                "segment": f"{r.get('dimension')}: {r.get('level')}",
                "pooled": None if pooled is None else pooled * factor,
                "pooled_low": None if pooled is None else r["pooled_ci_low"] * factor,
                "pooled_high": None if pooled is None else r["pooled_ci_high"] * factor,
                "unpooled": r["lift"] * factor,
                "unpooled_extreme": bool(r.get("unpooled_extreme", False)),
                "n": int(r.get("n_control", 0)) + int(r.get("n_variant", 0)),
            }
        )
    return out
