"""A self-contained HTML readout (plotly.js embedded once) to send to people without the app."""

from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Any

from dashboard.figures.experiments import cumulative_figure, guardrail_figure, posterior_figure
from dashboard.i18n import metric_label, t, t_or, use_language
from dashboard.numbers import plotly_config
from experiments.readout import analyze
from experiments.readout_view import (
    format_interval,
    format_p,
    format_prob,
    lift_summary,
    metric_unit,
)
from metrics.store import Store
from metrics.units import DASH, tidy_relations


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return DASH
    return html.escape(str(v))


def readout_html(
    store: Store,
    experiment_id: str,
    readout: Any = None,
    lang: str = "en",
    variant: str | None = None,
) -> str:
    """The readout of `experiment_id` (against `variant`, by default its first treatment
    arm) as one HTML document with its figures embedded, in `lang` (the page passes the UI
    language): words from the catalogues, numbers through metrics.units, the same table and
    header as the Experiments page."""
    with use_language(lang):
        r = readout if readout is not None else analyze(store, experiment_id, variant=variant)
        return _readout_html(r, lang)


def _readout_html(r: Any, lang: str) -> str:
    from dashboard.experiment_sections import decision_reasons, header_text, metric_rows

    d = r.to_dict()
    e, p = d["experiment"], d["primary"]
    label = metric_label(p["metric"], p["label"])
    figs = [
        posterior_figure(
            d["posterior"],
            control=r.control,
            variant=r.variant,
            metric=label,
            unit=metric_unit(p["metric"]),
        ),
        cumulative_figure(
            d["cumulative"], unit=metric_unit(p["metric"]), lower_is_better=p["lower_is_better"]
        ),
    ]
    if d["guardrails"]:
        guards = [
            g | {"label": metric_label(g["metric"], str(g.get("label") or g["metric"]))}
            for g in d["guardrails"]
        ]
        figs.append(guardrail_figure(guards))
    config = plotly_config()  # month names in the readout's language, as on the page
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), config=config)
        for i, fig in enumerate(figs)
    ]
    rows = metric_rows(r)
    cols = list(rows[0]) if rows else []
    table = "<tr>" + "".join(f"<th>{html.escape(t_or(f'exp.mcol.{c}', c))}</th>" for c in cols)
    table += "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in cols) + "</tr>"
        for row in rows
    )
    head, _ = lift_summary(r.primary, lang)
    lift = r.primary.result.absolute_lift
    ci = format_interval(lift.ci_low, lift.ci_high, metric_unit(p["metric"]), lang)
    reasons = "".join(f"<li>{html.escape(x)}</li>" for x in decision_reasons(r.decision))
    srm = d["srm"]
    action = d["decision"]["action"]
    stored = ""
    if e.get("decision"):
        stored = (
            "<p><b>"
            + html.escape(t("xhtml.recorded"))
            + "</b> "
            + html.escape(
                t(
                    "xhtml.recorded_by",
                    decision=t_or(f"xdecision.{e['decision']}", e["decision"]),
                    by=str(e.get("decided_by")),
                    on=_fmt(e.get("decided_at")),
                )
            )
            + "</p>"
        )
    if e.get("learnings"):
        stored += f"<p><b>{html.escape(t('exp.learnings'))}:</b> {html.escape(e['learnings'])}</p>"
    status = t_or(f"xstatus.{e['status']}", e["status"])
    p_srm = tidy_relations(f"p = {format_p(srm['p_value'], lang)}")
    return f"""<!doctype html>
<html lang="{html.escape(lang)}"><head><meta charset="utf-8">
<title>{html.escape(t("xhtml.title", name=e["name"]))}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #d0d7de; padding: 6px 8px; text-align: left; }}
.decision {{ font-size: 1.4em; font-weight: 600; }}
</style></head><body>
<h1>{html.escape(e["name"])}</h1>
<p><i>{html.escape(e.get("hypothesis") or "")}</i></p>
<p>{html.escape(t("xhtml.experiment", id=e["experiment_id"], status=status))}:
{html.escape(header_text(r))}.</p>
<p class="decision">{html.escape(t("exp.decision", action=t_or(f"xdecision.{action.replace(' ', '_')}", action)))}</p>
<p>{html.escape(t("exp.lift_in", metric=label))}: <b>{html.escape(head)}</b>
({html.escape(t("exp.ci_range", range=ci))}),
{html.escape(t("exp.p_better"))} {format_prob(r.primary.result.prob_variant_better, lang)}.</p>
<ul>{reasons}</ul>
{stored}
<h2>{html.escape(t("xhtml.metrics"))}</h2>
<table>{table}</table>
<p>{html.escape(t("xhtml.srm", p=p_srm))}
{"<b>" + html.escape(t("xhtml.srm_mismatch")) + "</b>" if srm["mismatch"] else html.escape(t("xhtml.srm_ok"))}.</p>
{"".join(parts)}
<p style="color:#57606a">{html.escape(t("xhtml.generated", at=f"{datetime.now():%Y-%m-%d %H:%M}"))}</p>
</body></html>
"""
