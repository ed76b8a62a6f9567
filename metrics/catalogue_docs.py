"""The KPI reference page (docs/kpi-reference.md), generated from the KPI catalogue.

Run `python -m metrics.catalogue_docs > docs/kpi-reference.md` after changing the catalogue;
tests/test_docs.py fails while the committed page differs from what this module renders.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from metrics.catalogue import (
    KPIS,
    NPS_DETRACTOR_MAX,
    NPS_PROMOTER_MIN,
    SETTING_PARAMS,
    SOURCES,
    Kpi,
    Measure,
    Source,
)

REFRESH_COMMAND = "python -m metrics.catalogue_docs > docs/kpi-reference.md"

# What each aggregation computes, in words (mirrors the Measure docstring).
_AGGREGATIONS: dict[str, str] = {
    "mean": "mean of the expression over the rows the denominator admits (nulls skipped)",
    "quantile": "interpolated quantile of the expression over the rows the denominator admits",
    "ratio": "share of the rows the denominator admits for which the numerator holds",
    "nps": f"% promoters ({NPS_PROMOTER_MIN}-10) minus % detractors (0-{NPS_DETRACTOR_MAX}) of "
    "the score",
    "mix": "share of the rows (where the denominator holds) in each value of the implicit "
    "dimension",
    "monthly_churn": "customers lost in the month / customers active at its start",
}

_UNITS: dict[str, str] = {
    "share": "0..1, shown as %",
    "nps": "points, -100..+100",
    "index": "0..100",
}


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """An inline code span; SQL in the catalogue has no backticks, but be safe."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _number(value: float) -> str:
    return f"{value:g}"


def format_target(kpi: Kpi, value: float | None) -> str:
    """A target in the KPI's unit, as the reference shows it (shares also as %)."""
    if value is None:
        return "none"
    if kpi.unit == "share":
        return f"{_number(value)} ({_number(round(value * 100, 6))} %)"
    if kpi.unit == "nps":
        return f"{value:+g}"
    if kpi.unit == "seconds":
        return f"{_number(value)} s"
    if kpi.unit == "hours":
        return f"{_number(value)} h"
    return _number(value)


def _direction(kpi: Kpi) -> str:
    return "higher is better" if kpi.direction == "higher" else "lower is better"


def _measure_lines(m: Measure) -> list[str]:
    lines = [f"- **Aggregation**: `{m.aggregation}`: {_AGGREGATIONS.get(m.aggregation, '')}"]
    if m.expr is not None:
        lines.append(f"- **Expression**: {_code(m.expr)}")
    if m.q is not None:
        lines.append(f"- **Quantile**: q = {_number(m.q)}")
    if m.numerator is not None:
        lines.append(f"- **Numerator**: {_code(m.numerator)}")
    if m.aggregation != "monthly_churn":  # its n is the customers active at the month's start
        lines.append(f"- **Denominator** (rows counted in n): {_code(m.denominator)}")
    return lines


def _target_lines(kpi: Kpi) -> list[str]:
    lines = [f"- **Default target**: {format_target(kpi, kpi.target)}"]
    if kpi.band_targets:
        bands = "; ".join(
            f"{band} {format_target(kpi, value)}" for band, value in kpi.band_targets.items()
        )
        lines.append(f"- **Reference per {kpi.implicit_dim}**: {bands}")
    lines.append(f"- **Target source**: {kpi.target_source}")
    if kpi.target_scope:
        scope = ", ".join(f"{dim} = {value}" for dim, value in kpi.target_scope)
        lines.append(f"- **Target applies only to**: {scope}")
    if kpi.target_not_by:
        lines.append(
            "- **No target for cells cut or filtered by**: " + ", ".join(kpi.target_not_by)
        )
    if not kpi.judged:
        lines.append(
            "- **Judged**: no: the target is a reference shown beside the value, no status"
        )
    return lines


def render_kpi(kpi: Kpi) -> str:
    """The section of one KPI."""
    lines = [
        f"### `{kpi.name}`",
        "",
        f"**{kpi.label}**: {kpi.definition}.",
        "",
        f"- **Type**: {kpi.type}",
        f"- **Source**: [`{kpi.source}`](#sources)",
        *_measure_lines(kpi.measure),
        f"- **Unit**: `{kpi.unit}`" + (f" ({_UNITS[kpi.unit]})" if kpi.unit in _UNITS else ""),
        f"- **Direction**: {_direction(kpi)}",
    ]
    if kpi.scale is not None:
        lines.append(f"- **Scale**: {_number(kpi.scale[0])} .. {_number(kpi.scale[1])}")
    lines.append(f"- **Interval**: {kpi.interval}")
    if kpi.implicit_dim is not None:
        lines.append(f"- **Always broken down by**: {kpi.implicit_dim}")
    lines.append(f"- **Dimensions**: {', '.join(kpi.dimensions) or 'none'}")
    lines += _target_lines(kpi)
    lines.append(f"- **Minimum n**: {kpi.min_n} (below it: flagged as a small sample, no status)")
    return "\n".join(lines) + "\n"


def _summary_table(kpis: Sequence[Kpi]) -> str:
    rows = [
        "| KPI | label | unit | direction | default target | min n |",
        "|---|---|---|---|---|---|",
    ]
    for k in kpis:
        target = format_target(k, k.target)
        if k.band_targets:
            target = f"per {k.implicit_dim}"
        rows.append(
            f"| [`{k.name}`](#{k.name}) | {_cell(k.label)} | {k.unit} | {k.direction} | "
            f"{_cell(target)} | {k.min_n} |"
        )
    return "\n".join(rows) + "\n"


def _sources_section(sources: Sequence[Source]) -> str:
    lines = [
        "## Sources",
        "",
        "The flat relations the compiler builds; a KPI's expressions may use the source's "
        "columns, and it may be cut or filtered by the source's dimensions.",
        "",
    ]
    for s in sources:
        lines += [
            f"- **`{s.name}`** ({s.description}). Time column `{s.time_column}`. "
            f"Dimensions: {', '.join(s.dimensions)}.",
        ]
    params = ", ".join(f"`${p}`" for p in SETTING_PARAMS)
    lines += [
        "",
        f"Named parameters a measure may use (values from the settings): {params}.",
        "",
    ]
    return "\n".join(lines)


def render(kpis: Sequence[Kpi] = KPIS, sources: Sequence[Source] | None = None) -> str:
    """The whole reference page as Markdown."""
    sources = list(SOURCES.values()) if sources is None else list(sources)
    head = [
        "# KPI reference",
        "",
        "<!-- Generated from metrics/catalogue.py by metrics/catalogue_docs.py; do not edit. -->",
        "",
        "Generated from the catalogue, [`metrics/catalogue.py`](../metrics/catalogue.py), by "
        f"[`metrics/catalogue_docs.py`](../metrics/catalogue_docs.py). Do not edit this file by "
        f"hand: change the catalogue, then run `{REFRESH_COMMAND}`. "
        "`tests/test_docs.py` fails while this page is stale. "
        "How to add a KPI: [adding-a-kpi.md](adding-a-kpi.md).",
        "",
        f"{len(kpis)} KPIs. Targets shown are the catalogue defaults; the Targets page and "
        "`targets` table override them per store, and the `ces_reading` setting mirrors the "
        "CES target and direction when CES is read as agreement.",
        "",
        _summary_table(kpis),
        _sources_section(sources),
        "## KPIs",
        "",
        "",
    ]
    return "\n".join(head) + "\n".join(render_kpi(k) for k in kpis)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the reference page to stdout as UTF-8 (redirect it into docs/kpi-reference.md)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args:
        print(f"usage: {REFRESH_COMMAND}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(render().encode("utf-8"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
