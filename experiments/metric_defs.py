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

One definition of each metric: a metric named like a catalogue KPI (`kpi`) takes the KPI's
per-row SQL, and reads its label, direction and unit from metrics/catalogue.py whenever they
are asked for, so they are written once (FCR with its repeat check in the fcr_window_days
setting, the repeat-contact rate likewise). The direction follows the settings as the KPI's
does (`under`: CES read as agreement is higher-is-better). A metric that measures something
else per unit (mean resolution time, churn within 90 days of assignment, contacts per
customer) carries a name and label the catalogue does not use; only such a metric without a
KPI states its own unit and direction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from metrics.catalogue import CATALOGUE, Direction, Kpi, SettingReader

Family = Literal["ratio", "binary", "mean", "nps"]
Source = Literal["contacts", "surveys", "customers"]
# A catalogue source an experiment can read per unit (customer_months has no unit's events).
_UNIT_SOURCES: dict[str, Source] = {"contacts": "contacts", "surveys": "surveys"}

# Days before assignment used for the CUPED covariate (the same metric, pre-period).
PRE_PERIOD_DAYS = 90
# Columns the readout SQL derives per contact for the catalogue's repeat check.
REPEAT_COLUMNS = ("repeat_after", "repeat_before")


@dataclass(frozen=True)
class ExperimentMetric:
    """How one KPI is measured per unit. SQL fragments are expressions over the source row.

    Fragments are fixed strings written here or in the catalogue, never user text, so they
    are safe to compile. With `kpi` set, label, direction and unit are the catalogue KPI's
    (`own_label` names another statistic of the same rows, such as a mean of a median KPI);
    without, the metric states them itself in `own_label`, `own_direction` and `own_unit` (the
    catalogue's unit vocabulary "share", "seconds", "hours", "nps", "index", "score", or a
    plain noun such as "contacts").
    """

    name: str
    family: Family
    source: Source
    numerator: str  # per event value (ratio / mean) or per unit 0/1 condition (binary)
    denominator: str = "1"  # per event weight (ratio only)
    where: str = "TRUE"  # which events count
    # The catalogue KPI this metric is the per-unit form of (None: its own definition).
    kpi: str | None = None
    own_label: str = ""
    own_direction: Direction | None = None
    own_unit: str = ""
    horizon_days: int | None = None  # binary: outcome must happen within this many days
    cuped: bool = True  # whether a pre-period value of the same metric is meaningful
    # Read the other way round under the settings in force (set by `under`).
    flipped: bool = False

    def __post_init__(self) -> None:
        # Each fact is written once: a KPI's metric may not restate what the catalogue owns,
        # and a metric of its own must state all of it.
        if self.kpi is not None:
            if self.kpi not in CATALOGUE:
                raise ValueError(f"{self.name}: kpi {self.kpi!r} is not in the catalogue")
            if self.own_direction is not None or self.own_unit:
                raise ValueError(
                    f"{self.name}: direction and unit come from catalogue KPI {self.kpi!r}"
                )
        elif not (self.own_label and self.own_direction and self.own_unit):
            raise ValueError(f"{self.name}: a metric without a KPI needs a label, direction, unit")

    @property
    def catalogue_kpi(self) -> Kpi | None:
        return CATALOGUE[self.kpi] if self.kpi is not None else None

    @property
    def label(self) -> str:
        k = self.catalogue_kpi
        return self.own_label or (k.label if k is not None else "")

    @property
    def unit(self) -> str:
        k = self.catalogue_kpi
        return k.unit if k is not None else self.own_unit

    @property
    def direction(self) -> Direction:
        k = self.catalogue_kpi
        base = k.direction if k is not None else self.own_direction
        if base is None:  # refused by __post_init__; narrows the type
            raise ValueError(f"{self.name}: no direction")
        if self.flipped:
            return "lower" if base == "higher" else "higher"
        return base

    def under(self, settings: SettingReader) -> ExperimentMetric:
        """This metric as the settings read it: a KPI's direction flips as the KPI's does."""
        k = self.catalogue_kpi
        if k is None:
            return self
        return replace(self, flipped=k.direction_under(settings) != k.direction)

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"

    @property
    def display_label(self) -> str:
        return self.label or self.name

    @property
    def repeat_columns(self) -> tuple[str, ...]:
        """The repeat-check columns (REPEAT_COLUMNS) its SQL reads."""
        text = f"{self.numerator} {self.where}"
        return tuple(c for c in REPEAT_COLUMNS if c in text)

    @property
    def needs_repeats(self) -> bool:
        return bool(self.repeat_columns)


def _from_catalogue(
    kpi_name: str, *, as_mean: bool = False, name: str | None = None, label: str = ""
) -> ExperimentMetric:
    """The unit-level metric of a catalogue KPI whose measure is a plain per-row expression.

    The per-event SQL is the catalogue's own (one definition of each KPI): a ratio's
    condition becomes a 0/1 value over the rows its denominator admits, a mean's expression
    its value; label, direction and unit are read from the KPI. `as_mean` takes a quantile
    KPI's expression and rows as a mean; that is another statistic, so it needs its own name
    and label.
    """
    kpi = CATALOGUE[kpi_name]
    m = kpi.measure
    if as_mean and not (name and label and name != kpi_name):
        raise ValueError(f"a mean of {kpi_name!r} needs its own name and label")
    if kpi.source not in _UNIT_SOURCES:
        raise ValueError(f"catalogue KPI {kpi_name!r} ({kpi.source}) has no per-unit events")
    family: Family
    if m.aggregation == "ratio":
        family, numerator = "ratio", f"CASE WHEN {m.numerator} THEN 1.0 ELSE 0.0 END"
    elif m.aggregation == "mean" or (as_mean and m.aggregation == "quantile"):
        family, numerator = "ratio", f"CAST({m.expr} AS DOUBLE)"
    elif m.aggregation == "nps":
        family, numerator = "nps", str(m.expr)
    else:
        raise ValueError(f"catalogue KPI {kpi_name!r} ({m.aggregation}) has no per-row form")
    where = m.denominator
    if m.expr is not None:
        where = f"({where}) AND {m.expr} IS NOT NULL"
    return ExperimentMetric(
        name=name or kpi_name,
        family=family,
        source=_UNIT_SOURCES[kpi.source],
        numerator=numerator,
        where=where,
        own_label=label,
        kpi=kpi_name,
    )


_METRICS: tuple[ExperimentMetric, ...] = (
    # FCR and the repeat-contact rate use the catalogue's repeat check (another contact by
    # the same customer on the same issue type within the fcr_window_days setting), which
    # the readout SQL computes as the columns repeat_after / repeat_before.
    _from_catalogue("fcr"),
    _from_catalogue("csat"),
    _from_catalogue("satisfaction_index"),
    _from_catalogue("ces"),
    _from_catalogue("nps"),
    _from_catalogue("aht"),
    # The catalogue reports the median resolution time; a per-unit comparison of arms needs
    # sums, so the experiment compares the mean over the same rows, under its own name.
    _from_catalogue(
        "resolution_time",
        as_mean=True,
        name="mean_resolution_time",
        label="Mean resolution time (hours)",
    ),
    _from_catalogue("escalation_rate"),
    _from_catalogue("abandonment_rate"),
    _from_catalogue("automation_rate"),
    _from_catalogue("long_wait_share"),
    _from_catalogue("repeat_contact_rate"),
    ExperimentMetric(
        name="contacts_per_customer",
        family="mean",
        source="contacts",
        numerator="1.0",
        own_label="Inbound contacts per customer",
        own_direction="lower",
        own_unit="contacts",
    ),
    # Not the catalogue's monthly churn rate: whether a unit churned within 90 days of its
    # assignment. Its own name, so it is never read as the catalogue's KPI.
    ExperimentMetric(
        name="churn_90d",
        family="binary",
        source="customers",
        numerator="churned_at",
        own_label="Churn within 90 days of assignment",
        own_direction="lower",
        own_unit="share",
        horizon_days=90,
        cuped=False,
    ),
)

# Names stored by earlier versions (plans, the sample generator) for metrics since renamed
# because they were not the catalogue KPI of that name.
ALIASES: dict[str, str] = {
    "churn_rate": "churn_90d",
    "resolution_time": "mean_resolution_time",
}


class _Metrics(Mapping[str, ExperimentMetric]):
    """The metrics by name, in catalogue order; an old name (ALIASES) still finds its metric
    (also through `get` and `in`, which Mapping builds on __getitem__)."""

    def __init__(self, metrics: tuple[ExperimentMetric, ...]) -> None:
        self._by_name = {m.name: m for m in metrics}

    def __getitem__(self, key: str) -> ExperimentMetric:
        return self._by_name[ALIASES.get(key, key)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


METRICS: Mapping[str, ExperimentMetric] = _Metrics(_METRICS)


class UnknownMetricError(KeyError):
    """A metric name that is not one of the unit-level experiment metrics."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_metric(name: str, settings: SettingReader | None = None) -> ExperimentMetric:
    """The unit-level metric called `name` (read under `settings` when given: a KPI's
    direction follows them), or an error listing the valid names."""
    try:
        metric = METRICS[name]  # an old name (ALIASES) finds the renamed metric
    except KeyError:
        raise UnknownMetricError(
            f"unknown experiment metric {name!r}; expected one of: {', '.join(METRICS)}"
        ) from None
    return metric if settings is None else metric.under(settings)


def canonical_name(name: str) -> str:
    """The current name of a metric given its current or an old name (ALIASES)."""
    return ALIASES.get(name, name)


def metric_choices() -> list[tuple[str, str]]:
    """(name, label) pairs for pickers, in catalogue order."""
    return [(m.name, m.display_label) for m in _METRICS]
