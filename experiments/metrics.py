"""Unit-level (per customer) versions of the catalogue's KPIs, as experiment metrics.

An experiment randomises customers, so every metric is defined per unit: what one customer
contributed in the experiment window. Four shapes, matching the engine's families:

- ``ratio``: per unit a numerator x and a denominator y summed over the unit's events
  (contacts or survey answers); the metric is Σx / Σy, analysed by the delta method from
  n, Σx, Σy, Σx², Σy², Σxy. FCR, CSAT, AHT ... are ratios because one customer has
  several contacts, and those are not independent.
- ``binary``: one 0/1 value per unit (churned within the horizon).
- ``mean``: one number per unit (contacts per customer).
- ``nps``: promoter / passive / detractor counts over the units' survey answers.

Labels and directions come from the KPI catalogue (metrics/catalogue.py) when it defines
the KPI, so the experiment and the dashboard never disagree on which way is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["ratio", "binary", "mean", "nps"]
Source = Literal["contacts", "surveys", "customers"]

# Days before assignment used for the CUPED covariate (the same metric, pre-period).
PRE_PERIOD_DAYS = 90


@dataclass(frozen=True)
class ExperimentMetric:
    """How one KPI is measured per unit. SQL fragments are expressions over the source row.

    Fragments are fixed strings written here, never user text, so they are safe to compile.
    """

    name: str
    family: Family
    source: Source
    numerator: str  # per event value (ratio / mean) or per unit 0/1 condition (binary)
    denominator: str = "1"  # per event weight (ratio only)
    where: str = "TRUE"  # which events count
    label: str = ""
    direction: Literal["higher", "lower"] = "higher"
    unit: str = ""
    horizon_days: int | None = None  # binary: outcome must happen within this many days
    cuped: bool = True  # whether a pre-period value of the same metric is meaningful
    # Needs prev_same_issue_at: the same customer's previous contact on the same issue type.
    needs_previous: bool = False

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"

    @property
    def display_label(self) -> str:
        # A horizon makes the unit-level metric a different quantity from the catalogue's
        # (churn within 90 days of assignment, not monthly churn): keep its own label then.
        if self.horizon_days is not None:
            return self.label
        return catalogue_label(self.name) or self.label or self.name


def _m(**kw: object) -> ExperimentMetric:
    return ExperimentMetric(**kw)  # type: ignore[arg-type]


_METRICS: tuple[ExperimentMetric, ...] = (
    _m(
        name="fcr",
        family="ratio",
        source="contacts",
        label="First contact resolution",
        # As the catalogue: the file's flag, else resolved (the catalogue also checks for a
        # repeat within N days; per unit that repeat is already counted as another contact).
        numerator="CASE WHEN COALESCE(first_contact_resolved, resolved, FALSE) THEN 1.0 "
        "ELSE 0.0 END",
        where="NOT COALESCE(abandoned, FALSE)",
        unit="share of answered contacts",
    ),
    _m(
        name="csat",
        family="ratio",
        source="surveys",
        label="CSAT (top-2-box)",
        numerator="CASE WHEN csat >= 4 THEN 1.0 ELSE 0.0 END",
        where="csat IS NOT NULL",
        unit="share of answers",
    ),
    _m(
        name="satisfaction_index",
        family="ratio",
        source="surveys",
        label="Satisfaction index (0-100)",
        numerator="(csat - 1) * 25.0",
        where="csat IS NOT NULL",
        unit="points",
    ),
    _m(
        name="ces",
        family="ratio",
        source="surveys",
        label="Customer effort score",
        numerator="CAST(ces AS DOUBLE)",
        where="ces IS NOT NULL",
        direction="lower",
        unit="1-7",
    ),
    _m(
        name="nps",
        family="nps",
        source="surveys",
        label="NPS",
        numerator="nps",
        where="nps IS NOT NULL",
        unit="points",
    ),
    _m(
        name="aht",
        family="ratio",
        source="contacts",
        label="Average handling time",
        numerator="handle_s",
        where="handle_s IS NOT NULL AND NOT COALESCE(bot_handled, FALSE) "
        "AND NOT COALESCE(abandoned, FALSE)",
        direction="lower",
        unit="seconds",
    ),
    _m(
        name="resolution_time",
        family="ratio",
        source="contacts",
        label="Resolution time",
        numerator="date_diff('second', opened_at, resolved_at) / 3600.0",
        where="resolved_at IS NOT NULL",
        direction="lower",
        unit="hours",
    ),
    _m(
        name="escalation_rate",
        family="ratio",
        source="contacts",
        label="Escalation rate",
        numerator="CASE WHEN escalated THEN 1.0 ELSE 0.0 END",
        where="escalated IS NOT NULL",
        direction="lower",
        unit="share of contacts",
    ),
    _m(
        name="abandonment_rate",
        family="ratio",
        source="contacts",
        label="Abandonment rate",
        numerator="CASE WHEN abandoned THEN 1.0 ELSE 0.0 END",
        where="abandoned IS NOT NULL",
        direction="lower",
        unit="share of contacts",
    ),
    _m(
        name="automation_rate",
        family="ratio",
        source="contacts",
        label="Automation rate",
        numerator="CASE WHEN bot_handled AND resolved AND NOT COALESCE(escalated, FALSE) "
        "THEN 1.0 ELSE 0.0 END",
        unit="share of contacts",
    ),
    _m(
        name="long_wait_share",
        family="ratio",
        source="contacts",
        label="Phone waits over 10 min",
        numerator="CASE WHEN wait_s > 600 THEN 1.0 ELSE 0.0 END",
        where="channel = 'phone' AND wait_s IS NOT NULL",
        direction="lower",
        unit="share of phone contacts",
    ),
    _m(
        name="repeat_contact_rate",
        family="ratio",
        source="contacts",
        label="Repeat-contact rate",
        direction="lower",
        needs_previous=True,
        # As the catalogue: a contact repeating one on the same issue within 7 days.
        numerator="CASE WHEN prev_same_issue_at IS NOT NULL AND date_diff('second', "
        "prev_same_issue_at, opened_at) <= 604800 THEN 1.0 ELSE 0.0 END",
        where="customer_id IS NOT NULL",
        unit="share of contacts",
    ),
    _m(
        name="contacts_per_customer",
        family="mean",
        source="contacts",
        label="Inbound contacts per customer",
        numerator="1.0",
        direction="lower",
        unit="contacts",
    ),
    _m(
        name="churn_rate",
        family="binary",
        source="customers",
        label="Churn within 90 days of assignment",
        horizon_days=90,
        direction="lower",
        numerator="churned_at",
        unit="share of customers",
        cuped=False,
    ),
)

METRICS: dict[str, ExperimentMetric] = {m.name: m for m in _METRICS}


class UnknownMetricError(KeyError):
    """A metric name that is not one of the unit-level experiment metrics."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_metric(name: str) -> ExperimentMetric:
    """The unit-level metric called `name`, or an error listing the valid names."""
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownMetricError(
            f"unknown experiment metric {name!r}; expected one of: {', '.join(METRICS)}"
        ) from None


def _catalogue_entry(name: str) -> object | None:
    # The catalogue is built in parallel; read it when present, never require it.
    try:
        from metrics import catalogue
    except Exception:  # noqa: BLE001 - a half-built catalogue must not break experiments
        return None
    for attr in ("CATALOGUE", "KPIS", "catalogue"):
        table = getattr(catalogue, attr, None)
        if isinstance(table, dict) and name in table:
            return table[name]
    getter = getattr(catalogue, "get_kpi", None)
    if callable(getter):
        try:
            return getter(name)
        except Exception:  # noqa: BLE001
            return None
    return None


def catalogue_label(name: str) -> str | None:
    entry = _catalogue_entry(name)
    label = getattr(entry, "label", None) if entry is not None else None
    return label if isinstance(label, str) and label else None


def catalogue_direction(name: str) -> str | None:
    """'higher' or 'lower' as the catalogue defines it, or None when it does not."""
    entry = _catalogue_entry(name)
    if entry is None:
        return None
    direction = getattr(entry, "direction", None)
    text = str(getattr(direction, "value", direction) or "").lower()
    if "lower" in text:
        return "lower"
    if "higher" in text:
        return "higher"
    return None


def metric_choices() -> list[tuple[str, str]]:
    """(name, label) pairs for pickers, in catalogue order."""
    return [(m.name, m.display_label) for m in _METRICS]
