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

from metrics.catalogue import CATALOGUE

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


def _from_catalogue(name: str, *, unit: str) -> ExperimentMetric:
    """The unit-level metric of a catalogue KPI whose measure is a plain per-row expression.

    The per-event SQL is the catalogue's own (one definition of each KPI): a ratio's
    condition becomes a 0/1 value over the rows its denominator admits, a mean's expression
    its value; label and direction come along.
    """
    kpi = CATALOGUE[name]
    m = kpi.measure
    if m.aggregation == "ratio":
        family, numerator = "ratio", f"CASE WHEN {m.numerator} THEN 1.0 ELSE 0.0 END"
    elif m.aggregation == "mean":
        family, numerator = "ratio", f"CAST({m.expr} AS DOUBLE)"
    elif m.aggregation == "nps":
        family, numerator = "nps", str(m.expr)
    else:
        raise ValueError(f"catalogue KPI {name!r} ({m.aggregation}) has no per-row form")
    where = m.denominator
    if m.aggregation in ("mean", "nps"):
        where = f"({where}) AND {m.expr} IS NOT NULL"
    return ExperimentMetric(
        name=name,
        family=family,
        source=kpi.source,
        numerator=numerator,
        where=where,
        label=kpi.label,
        direction=kpi.direction,
        unit=unit,
    )


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
    _from_catalogue("csat", unit="share of answers"),
    _from_catalogue("satisfaction_index", unit="points"),
    _from_catalogue("ces", unit="1-7"),
    _from_catalogue("nps", unit="points"),
    _from_catalogue("aht", unit="seconds"),
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
    _from_catalogue("escalation_rate", unit="share of contacts"),
    _from_catalogue("abandonment_rate", unit="share of contacts"),
    _from_catalogue("automation_rate", unit="share of contacts"),
    _from_catalogue("long_wait_share", unit="share of phone contacts"),
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


def catalogue_label(name: str) -> str | None:
    kpi = CATALOGUE.get(name)
    return kpi.label if kpi is not None else None


def catalogue_direction(name: str) -> str | None:
    """'higher' or 'lower' as the catalogue defines it, or None when it does not."""
    kpi = CATALOGUE.get(name)
    return kpi.direction if kpi is not None else None


def metric_choices() -> list[tuple[str, str]]:
    """(name, label) pairs for pickers, in catalogue order."""
    return [(m.name, m.display_label) for m in _METRICS]
