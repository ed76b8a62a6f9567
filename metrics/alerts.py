"""Alerts for people who do not open dashboards: the KPIs (overall and per channel) that
probably miss their target by more than the near tolerance, for `cx alerts check`.

A KPI cell alerts when its status is "misses": P(the true value is worse than the target by
more than the near tolerance) ≥ 0.9 (metrics.targets.judge). The numbers are the Overview's
(metrics.periods.overview over the same period and filters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from metrics.catalogue import CATALOGUE
from metrics.report import overview_report
from metrics.store import Store
from metrics.targets import PROBABLE, near_tolerance
from metrics.units import (
    DEFAULT_CURRENCY,
    format_count,
    format_probability,
    format_value,
    tidy_relations,
)

# One alert line per language: the KPI, where, its value against the target, and the odds.
_LINE = {
    "en": (
        "{label} ({where}): {value} vs target {target}, n = {n}, P(misses by more than the "
        "tolerance) = {p} — {period}"
    ),
    "sv": (
        "{label} ({where}): {value} mot målet {target}, n = {n}, P(missar med mer än "
        "toleransen) = {p} — {period}"
    ),
}
_ALL = {"en": "all channels", "sv": "alla kanaler"}
_NONE = {
    "en": "{period}: no KPI misses its target (P ≥ 0.9)",
    "sv": "{period}: inget nyckeltal missar sitt mål (P ≥ 0,9)",
}


@dataclass(frozen=True)
class Alert:
    """One KPI cell that probably misses its target by more than the tolerance."""

    kpi: str
    label: str
    channel: str | None  # None: all channels
    value: float
    target: float
    unit: str
    n: int
    p_misses: float
    off_by_tolerances: float  # |value − target| in units of the near tolerance

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(
        self,
        period: str,
        *,
        lang: str = "en",
        currency: str = DEFAULT_CURRENCY,
        label: str | None = None,
        channel_label: Callable[[str], str] = str,
    ) -> str:
        """The alert as one line in `lang`, numbers in the KPI's unit (metrics.units)."""
        lang = lang if lang in _LINE else "en"
        return tidy_relations(
            _LINE[lang].format(
                label=label or self.label,
                where=_ALL[lang] if self.channel is None else channel_label(self.channel),
                value=format_value(self.value, self.unit, lang=lang, currency=currency),
                target=format_value(self.target, self.unit, lang=lang, currency=currency),
                n=format_count(self.n, lang=lang),
                p=format_probability(self.p_misses, lang=lang),
                period=period,
            )
        )


def no_alert_text(period: str, lang: str = "en") -> str:
    """The line `cx alerts check` prints when no KPI misses its target."""
    return _NONE.get(lang, _NONE["en"]).format(period=period)


@dataclass(frozen=True)
class AlertCheck:
    """The result of one check: the period looked at and the alerts, worst first."""

    date_from: date
    date_to: date
    alerts: tuple[Alert, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from,
            "date_to": self.date_to,
            "threshold": PROBABLE,
            "alerts": [a.as_dict() for a in self.alerts],
        }


def check_alerts(
    store: Store,
    date_from: date | None = None,
    date_to: date | None = None,
    filters: Mapping[str, Iterable[str]] | None = None,
) -> AlertCheck | None:
    """The alerts for [date_from, date_to) (default: the Overview's default period, the last
    full month of the data); None for a store without contacts or surveys."""
    report = overview_report(store, date_from, date_to, filters)  # the Overview's numbers
    if report is None:
        return None
    alerts = []
    for frame, has_channel in ((report.compare, False), (report.by_channel, True)):
        for r in frame.iter_rows(named=True):
            kpi = CATALOGUE[r["kpi"]]
            if kpi.implicit_dim or r["status"] != "misses":
                continue
            tol = near_tolerance(kpi, r["target"]) or 1.0
            alerts.append(
                Alert(
                    kpi=kpi.name,
                    label=kpi.label,
                    channel=r.get("channel") if has_channel else None,
                    value=float(r["value"]),
                    target=float(r["target"]),
                    unit=kpi.unit,
                    n=int(r["n"]),
                    p_misses=float(r["p_misses"]),
                    off_by_tolerances=abs(r["value"] - r["target"]) / tol,
                )
            )
    alerts.sort(key=lambda a: (-a.off_by_tolerances, a.kpi, a.channel or ""))
    return AlertCheck(report.date_from, report.date_to, tuple(alerts))
