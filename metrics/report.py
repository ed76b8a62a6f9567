"""The Overview as one self-contained HTML file (`cx report overview --out FILE.html`).

The numbers are the Overview page's: metrics.periods.overview over the same period (default:
the last full month of the data) and filters. No script, no external file: inline CSS only,
so the file can be mailed or archived and opens anywhere. Text in Swedish or English; numbers
through metrics.units (the pages' own formats) in the report's language and currency.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial

import polars as pl

from metrics.catalogue import CATALOGUE
from metrics.periods import comparison_window, default_period, overview
from metrics.store import Store
from metrics.supplied import translated_reason
from metrics.targets import status_text
from metrics.units import (
    DEFAULT_CURRENCY,
    format_count,
    format_delta,
    format_probability,
    format_value,
    tidy_relations,
)

ValueFormatter = Callable[[float | None, str], str]

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Overview",
        "period": "Period {a} – {b}, compared with {c} – {d}.",
        "kpi": "KPI",
        "value": "Value",
        "change": "Change",
        "target": "Target",
        "status": "Status",
        "channel": "Channel",
        "all": "all channels",
        "real": "probably real (P = {p})",
        "noise": "probably noise",
        "missing": "Missing target",
        "none_missing": "Every KPI with a target and enough data meets it or is near it.",
        "by_channel": "By channel",
        "small": "n below the minimum sample: not judged",
        "no_target": "no target",
        "no_data": "no data — {reason}",
        "footer": "Generated {at} UTC from {store}. Status: {rule}",
        "rule": (
            "meets / misses when it is at least 90 % probable given the sample; near: probably "
            "within the tolerance; unclear: the interval spans both."
        ),
    },
    "sv": {
        "title": "Översikt",
        "period": "Period {a} – {b}, jämfört med {c} – {d}.",
        "kpi": "Nyckeltal",
        "value": "Värde",
        "change": "Förändring",
        "target": "Mål",
        "status": "Status",
        "channel": "Kanal",
        "all": "alla kanaler",
        "real": "troligen verklig (P = {p})",
        "noise": "troligen brus",
        "missing": "Missar målet",
        "none_missing": "Alla nyckeltal med mål och tillräckligt underlag når det eller är nära.",
        "by_channel": "Per kanal",
        "small": "n under minsta urval: bedöms inte",
        "no_target": "inget mål",
        "no_data": "inga data — {reason}",
        "footer": "Skapad {at} UTC från {store}. Status: {rule}",
        "rule": (
            "når / missar när det är minst 90 % sannolikt givet urvalet; nära: troligen inom "
            "toleransen; oklart: intervallet spänner över båda."
        ),
    },
}

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #d0d7de;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.meets{color:#1a7f37}.misses{color:#cf222e}.near{color:#9a6700}.unclear,.none{color:#57606a}
.muted{color:#57606a}footer{margin-top:2rem;font-size:.8rem;color:#57606a}
"""


def _missing(v: float | None) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


@dataclass(frozen=True)
class OverviewReport:
    """The Overview's numbers for one period: the compare frame and the channel breakdown;
    `comparison` names the window the changes are against (metrics.periods.COMPARISONS)."""

    date_from: date
    date_to: date
    compare: pl.DataFrame
    by_channel: pl.DataFrame
    comparison: str = "previous"


def overview_report(
    store: Store,
    date_from: date | None = None,
    date_to: date | None = None,
    filters: Mapping[str, Iterable[str]] | None = None,
    comparison: str = "previous",
) -> OverviewReport | None:
    """The Overview's numbers (default period: the last full month of the data), changes
    against `comparison` as the page's ?compare= picks; None for a store without contacts or
    surveys."""
    if date_from is None or date_to is None:
        period = default_period(store)
        if period is None:
            return None
        date_from, date_to = date_from or period[0], date_to or period[1]
    compare, by_channel = overview(store, date_from, date_to, filters, comparison=comparison)
    return OverviewReport(date_from, date_to, compare, by_channel, comparison)


def _e(text: object) -> str:
    return html.escape(str(text))


def render_html(
    report: OverviewReport,
    language: str = "en",
    *,
    currency: str = DEFAULT_CURRENCY,
    kpi_label: Callable[[str], str] | None = None,
    channel_label: Callable[[str], str] | None = None,
    store_name: str = "",
    now: datetime | None = None,
) -> str:
    """The report as one HTML document (no script, no external resource).

    Numbers are formatted by metrics.units in `language` and `currency`, as on the page."""
    w = _TEXT.get(language, _TEXT["en"])
    lang = language if language in _TEXT else "en"
    fmt_value = partial(format_value, lang=lang, currency=currency)
    label = kpi_label or (lambda name: CATALOGUE[name].label)
    channel = channel_label or str
    p_from, p_to = comparison_window(report.date_from, report.date_to, report.comparison)
    last = report.date_to - timedelta(days=1)
    parts = [
        f'<!DOCTYPE html><html lang="{_e(language)}"><head><meta charset="utf-8">',
        f"<title>{_e(w['title'])} {report.date_from:%Y-%m-%d}</title><style>{_CSS}</style>",
        f"</head><body><h1>{_e(w['title'])}</h1>",
        "<p class='muted'>"
        + _e(w["period"].format(a=report.date_from, b=last, c=p_from, d=p_to - timedelta(days=1)))
        + "</p>",
    ]
    cards = report.compare.filter(
        pl.col("kpi").is_in([k for k, v in CATALOGUE.items() if not v.implicit_dim])
    )
    head = (w["kpi"], w["value"], w["change"], w["target"], w["status"], "n")
    rows = []
    for r in cards.iter_rows(named=True):
        kpi = CATALOGUE[r["kpi"]]
        if _missing(r["delta"]):
            delta = None
        else:  # the change in its value's scale ("+0.1 min" beside "6.1 min")
            delta = format_delta(
                r["delta"], kpi.unit, lang=lang, currency=currency, like=r["value"]
            )
        if delta is None:
            change = "—"
        elif r["noise"]:
            change = f"{_e(delta)} <span class='muted'>({_e(w['noise'])})</span>"
        else:
            p = format_probability(r["prob_real"], lang=lang)
            change = f"{_e(delta)} ({_e(tidy_relations(w['real'].format(p=p)))})"
        rows.append(
            "<tr>"
            f"<td>{_e(label(kpi.name))}</td>"
            f"<td class='num'>{_e(fmt_value(r['value'], kpi.unit))}</td>"
            f"<td>{change}</td>"
            f"<td class='num'>{_e(_target(r, kpi.unit, fmt_value, w))}</td>"
            f"<td class='{r['status'] or 'none'}'>{_e(_status(r, language, w))}</td>"
            f"<td class='num'>{_count(r['n'], language)}</td></tr>"
        )
    parts.append(_table(head, rows))
    parts.append(f"<h2>{_e(w['missing'])}</h2>")
    missing = []
    for frame, per_channel in ((cards, False), (report.by_channel, True)):
        for r in frame.iter_rows(named=True):
            kpi = CATALOGUE[r["kpi"]]
            if kpi.implicit_dim or r["status"] != "misses":
                continue
            where = channel(r["channel"]) if per_channel else w["all"]
            missing.append(
                f"<tr><td>{_e(label(kpi.name))}</td><td>{_e(where)}</td>"
                f"<td class='num'>{_e(fmt_value(r['value'], kpi.unit))}</td>"
                f"<td class='num'>{_e(fmt_value(r['target'], kpi.unit))}</td>"
                f"<td class='misses'>{_e(_status(r, language, w))}</td></tr>"
            )
    if missing:
        parts.append(
            _table((w["kpi"], w["channel"], w["value"], w["target"], w["status"]), missing)
        )
    else:
        parts.append(f"<p>{_e(w['none_missing'])}</p>")
    parts.append(f"<h2>{_e(w['by_channel'])}</h2>")
    judged = report.by_channel.filter(
        pl.col("target").is_not_null() & pl.col("reason").is_null()  # no data: not by channel
    )
    channel_rows = [
        f"<tr><td>{_e(label(r['kpi']))}</td><td>{_e(channel(r['channel']))}</td>"
        f"<td class='num'>{_e(fmt_value(r['value'], CATALOGUE[r['kpi']].unit))}</td>"
        f"<td class='num'>{_e(fmt_value(r['target'], CATALOGUE[r['kpi']].unit))}</td>"
        f"<td class='{r['status'] or 'none'}'>{_e(_status(r, language, w))}</td>"
        f"<td class='num'>{_count(r['n'], language)}</td></tr>"
        for r in judged.iter_rows(named=True)
        if not CATALOGUE[r["kpi"]].implicit_dim
    ]
    parts.append(
        _table((w["kpi"], w["channel"], w["value"], w["target"], w["status"], "n"), channel_rows)
    )
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M")
    parts.append(
        f"<footer>{_e(w['footer'].format(at=stamp, store=store_name, rule=w['rule']))}</footer>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _count(n: int, language: str) -> str:
    return format_count(n, lang=language if language in _TEXT else "en")


def _target(r: Mapping, unit: str, fmt_value: ValueFormatter, w: Mapping[str, str]) -> str:
    return w["no_target"] if r["target"] is None else fmt_value(r["target"], unit)


def _status(r: Mapping, language: str, w: Mapping[str, str]) -> str:
    if r.get("reason"):  # absent is not zero: no status, the reason instead
        return w["no_data"].format(reason=translated_reason(r["reason"], language))
    if r["small_sample"]:
        return w["small"]
    return status_text(r, language) or "—"


def _table(head: Iterable[str], rows: list[str]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
