"""The KPI catalogue: one declarative definition per KPI, validated as a whole when it loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import sqlglot
from sqlglot import exp

Direction = Literal["higher", "lower"]
KpiType = Literal["simple", "ratio", "derived", "quantile", "share"]
Aggregation = Literal["mean", "ratio", "quantile", "nps", "mix", "monthly_churn"]

GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")

# The minimum sample of a figure (SEED_FACTS: segments under 30 respondents are left out);
# the kpi.min_n setting changes it for every KPI that does not fix its own.
MIN_SAMPLE_DEFAULT = 30

# NPS: promoters answer 9-10, detractors 0-6 (passives 7-8), on the 0-10 scale.
NPS_PROMOTER_MIN = 9
NPS_DETRACTOR_MAX = 6

# Channels answered while the customer waits (times in seconds) and written channels answered
# later (times in hours). "web" (logged-in pages) is self-service: neither.
LIVE_CHANNELS: tuple[str, ...] = ("phone", "chat", "video", "chatbot", "in_person")
WRITTEN_CHANNELS: tuple[str, ...] = ("email", "web_form", "social", "sms", "app")

# Offsets of the quantile levels computed around a quantile KPI's q (one sort in the engine):
# the empirical CDF on this grid gives a distribution-free interval and P(meets target).
QUANTILE_GRID: tuple[float, ...] = (
    -0.2,
    -0.1,
    -0.05,
    -0.02,
    -0.01,
    0.0,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
)


def quantile_levels(q: float) -> tuple[float, ...]:
    """The levels computed for a q-quantile KPI: q plus QUANTILE_GRID, kept inside (0, 1)."""
    return tuple(sorted({round(q + d, 6) for d in QUANTILE_GRID if 0.0 < round(q + d, 6) < 1.0}))


# Satisfaction bands from CSAT 1..5, in scale order (the churn-by-satisfaction breakdown).
SATISFACTION_BANDS: tuple[str, ...] = (
    "very dissatisfied",
    "fairly dissatisfied",
    "neutral",
    "fairly satisfied",
    "very satisfied",
)


class SettingReader(Protocol):
    """What a KPI reads of the settings (metrics.settings.KpiSettings): a value by its name."""

    def as_setting(self, name: str) -> object: ...


@dataclass(frozen=True)
class Source:
    """A flat relation the compiler builds (base CTE): its event time, columns and dimensions.

    `columns` are the names a measure expression may use; `dimensions` the names a KPI on
    this source may be cut or filtered by (each is also a column of the relation).
    """

    name: str
    time_column: str
    columns: tuple[str, ...]
    dimensions: tuple[str, ...]
    description: str


CONTACT_DIMS = ("channel", "issue_type", "team", "segment", "tier", "region", "age_band")
SURVEY_DIMS = CONTACT_DIMS + ("satisfaction_band",)
CUSTOMER_DIMS = ("segment", "tier", "region", "age_band")

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="contacts",
            time_column="opened_at",
            columns=(
                "contact_id",
                "customer_id",
                "opened_at",
                "wait_s",
                "first_response_s",
                "handle_s",
                "abandoned",
                "bot_handled",
                "escalated",
                "resolved",
                "resolved_at",
                "first_contact_resolved",
                # Derived by the compiler from the gaps metrics.repeats keeps on each contact
                # (over ALL contacts, not only the period's): another contact by the same
                # customer on the same issue type within N days (the fcr_window_days setting)
                # after / before this one's opened_at, ends included.
                "repeat_after",
                "repeat_before",
            )
            + CONTACT_DIMS,
            dimensions=CONTACT_DIMS,
            description="contacts, each with its customer's attributes; time = opened_at",
        ),
        Source(
            name="surveys",
            time_column="answered_at",
            # followed_90d (by the compiler): the answer is at least 90 days older than the
            # latest answer in the store, so 90 days of churn after it have been observed.
            columns=(
                "response_id",
                "answered_at",
                "nps",
                "csat",
                "ces",
                "churned_at",
                "followed_90d",
            )
            + SURVEY_DIMS,
            dimensions=SURVEY_DIMS,
            description=(
                "survey responses with the linked contact's channel/issue_type/team and the "
                "customer's attributes; time = answered_at"
            ),
        ),
        Source(
            name="customer_months",
            time_column="month_start",
            columns=("month_start", "lost") + CUSTOMER_DIMS,
            dimensions=CUSTOMER_DIMS,
            description=(
                "one row per customer and calendar month the customer was active at the "
                "month's start (signed up before it, not churned before it); time = month_start"
            ),
        ),
    )
}

# Named parameters a measure may use; their values come from metrics.settings.
SETTING_PARAMS: tuple[str, ...] = ("fcr_window_s", "sl_phone_s", "sl_chat_s")


@dataclass(frozen=True)
class Measure:
    """What is aggregated. Expressions are SQL over the source's columns (catalogue text only).

    - mean: AVG(expr) over rows where `denominator` holds and expr is not null.
    - quantile: the q-quantile of expr over the same rows.
    - ratio: share of rows where `numerator` holds among rows where `denominator` holds.
    - nps: expr is a 0-10 score; % promoters (9-10) minus % detractors (0-6).
    - mix: share of the rows (where `denominator` holds) falling in each value of `implicit_dim`.
    - monthly_churn: customers lost in the month / customers active at its start.
    """

    aggregation: Aggregation
    expr: str | None = None
    numerator: str | None = None
    denominator: str = "TRUE"
    q: float | None = None


@dataclass(frozen=True)
class Kpi:
    """One KPI: its meaning, how it is measured, how it is judged, and how it may be cut."""

    name: str
    label: str
    definition: str
    type: KpiType
    measure: Measure
    unit: str  # "share" (0..1), "score", "index", "seconds", "hours", "nps"
    direction: Direction
    source: str
    dimensions: tuple[str, ...]
    target: float | None
    target_source: str
    interval: str  # how ci_low/ci_high are computed, in words
    scale: tuple[float, float] | None = None  # bounded range of the value, if any
    min_n: int = MIN_SAMPLE_DEFAULT  # the catalogue's; the kpi.min_n setting overrides it
    implicit_dim: str | None = None  # always broken down by this dimension (mix, bands)
    band_targets: dict[str, float] = field(default_factory=dict)  # per implicit_dim value
    target_scope: tuple[tuple[str, str], ...] = ()  # the target applies only to these cells
    target_not_by: tuple[str, ...] = ()  # no target for cells cut or filtered by these dims
    judged: bool = True  # False: the target is a reference shown beside the value, no status
    # (setting, value): under that setting's value the scale is read the other way round:
    # the direction flips and the target is mirrored within `scale` (CES read as agreement).
    flips_when: tuple[str, str] | None = None
    # The canonical columns ("table.column") the KPI needs a loaded file to have supplied, as
    # groups of alternatives; None = derived from the measure (kpi_inputs). Absent is not zero.
    inputs: tuple[tuple[str, ...], ...] | None = None

    def direction_under(self, settings: SettingReader) -> Direction:
        """The direction after settings: under flips_when's value the scale reads the other way."""
        if self.flips_when is not None:
            name, value = self.flips_when
            if settings.as_setting(name) == value:
                return "lower" if self.direction == "higher" else "higher"
        return self.direction

    def min_sample(self, setting: int | None = None) -> int:
        """The minimum n in force: the kpi.min_n setting when given, else the catalogue's."""
        return setting if setting is not None else self.min_n


class CatalogueError(ValueError):
    """The catalogue is inconsistent; the message lists every problem found."""


_SHARE = "Wilson score 95 % interval"
_MEAN = "normal 95 % interval: mean ± 1.96·sd/√n"
_QUANT = (
    "distribution-free 95 % interval from order statistics: the quantiles at levels "
    "q ± 1.96·√(q(1-q)/n), read off a grid of levels q ± 0.2 (an interval reaching past the "
    "grid is cut at its edge)"
)

_AGENT = "NOT COALESCE(bot_handled, FALSE) AND NOT COALESCE(abandoned, FALSE)"
_FCR_DERIVED = "COALESCE(resolved, FALSE) AND NOT repeat_after"
_LIVE = ", ".join(f"'{c}'" for c in LIVE_CHANNELS)
_WRITTEN = ", ".join(f"'{c}'" for c in WRITTEN_CHANNELS)

KPIS: tuple[Kpi, ...] = (
    Kpi(
        name="nps",
        label="Net Promoter Score",
        definition=(
            f"% promoters ({NPS_PROMOTER_MIN}-10) minus % detractors (0-{NPS_DETRACTOR_MAX}) "
            "among survey answers with an NPS score, -100..+100"
        ),
        type="derived",
        measure=Measure("nps", expr="nps", denominator="nps IS NOT NULL"),
        unit="nps",
        direction="higher",
        source="surveys",
        dimensions=SURVEY_DIMS[:-1],
        target=20.0,
        target_source="NPS +15 to +25 (Bain 2020); point target is the midpoint +20",
        interval="normal 95 % interval, Var = [(p+d) - (p-d)²]/n (×100)",
        scale=(-100.0, 100.0),
    ),
    Kpi(
        name="csat",
        label="CSAT (top-2-box)",
        definition="share of CSAT answers scoring 4 or 5 on the 1-5 scale",
        type="share",
        measure=Measure("ratio", numerator="csat >= 4", denominator="csat IS NOT NULL"),
        unit="share",
        direction="higher",
        source="surveys",
        dimensions=SURVEY_DIMS[:-1],
        target=0.72,
        target_source=(
            "72 %: the support satisfaction index of 72 (media services, Sweden, SKI 2023) "
            "read as a share satisfied; reference: just under 2 of 3 satisfied with handling "
            "(Tele2/Ipsos 2023)"
        ),
        interval=_SHARE,
        scale=(0.0, 1.0),
    ),
    Kpi(
        name="satisfaction_index",
        label="Satisfaction index (0-100)",
        definition="mean of (csat - 1) / 4 · 100 over CSAT answers; comparable with SKI's index",
        type="simple",
        measure=Measure("mean", expr="(csat - 1) * 25.0", denominator="csat IS NOT NULL"),
        unit="index",
        direction="higher",
        source="surveys",
        dimensions=SURVEY_DIMS[:-1],
        target=72.0,
        target_source="support satisfaction index 72, media services, Sweden (SKI 2023)",
        interval=_MEAN,
        scale=(0.0, 100.0),
    ),
    Kpi(
        name="ces",
        label="Customer Effort Score",
        definition=(
            "mean CES answer on the 1-7 scale; read as effort (1 = very easy, lower is "
            "better) unless the ces_reading setting says agreement (7 = easiest)"
        ),
        type="simple",
        measure=Measure("mean", expr="ces", denominator="ces IS NOT NULL"),
        unit="score",
        direction="lower",
        source="surveys",
        dimensions=SURVEY_DIMS[:-1],
        target=3.0,
        target_source="CES ≤ 3 on the 1-7 scale read as effort (SEED_FACTS.md benchmark table)",
        interval=_MEAN,
        scale=(1.0, 7.0),
        flips_when=("ces_reading", "agreement"),
    ),
    Kpi(
        name="fcr",
        label="First contact resolution",
        definition=(
            "share of answered contacts (not abandoned) resolved at first contact: the file's "
            "first_contact_resolved flag where present, else resolved and no other contact by "
            "the same customer on the same issue type within N days (setting, default 7) "
            "after opened_at"
        ),
        type="ratio",
        measure=Measure(
            "ratio",
            numerator=f"COALESCE(first_contact_resolved, {_FCR_DERIVED})",
            denominator="NOT COALESCE(abandoned, FALSE)",
        ),
        inputs=(("contacts.first_contact_resolved", "contacts.resolved"),),
        unit="share",
        direction="higher",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=0.80,
        target_source=(
            "FCR 75-85 % (McKinsey 2022/2023, SKI 2023); Sweden median 70 %, best practice "
            "80-85 %; point target 80 %"
        ),
        interval=_SHARE,
        scale=(0.0, 1.0),
    ),
    Kpi(
        name="aht",
        label="Average handle time",
        definition="mean handle_s of agent-handled contacts (not bot-handled, not abandoned)",
        type="simple",
        measure=Measure("mean", expr="handle_s", denominator=f"{_AGENT} AND handle_s IS NOT NULL"),
        unit="seconds",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source=(
            "SEED_FACTS.md gives only a relative goal (-25-35 % with agent assist); set an "
            "absolute target on the Targets page"
        ),
        interval=_MEAN,
    ),
    Kpi(
        name="frt_live_median",
        label="First response time, live channels (median)",
        definition=(
            "median first_response_s of contacts with a first response in the live channels "
            "(phone, chat, video, chatbot, in person), in seconds"
        ),
        type="quantile",
        measure=Measure(
            "quantile",
            expr="first_response_s",
            denominator=f"first_response_s IS NOT NULL AND channel IN ({_LIVE})",
            q=0.5,
        ),
        unit="seconds",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=30.0,
        target_source=(
            "chat first response ≤ 30 s, 15-30 s target (Microsoft 2023, PTS 2024); Sweden "
            "median 60 s. Applies to chat only"
        ),
        interval=_QUANT,
        target_scope=(("channel", "chat"),),
    ),
    Kpi(
        name="frt_live_p90",
        label="First response time, live channels (90th percentile)",
        definition=(
            "90th percentile of first_response_s in the live channels (phone, chat, video, "
            "chatbot, in person), in seconds"
        ),
        type="quantile",
        measure=Measure(
            "quantile",
            expr="first_response_s",
            denominator=f"first_response_s IS NOT NULL AND channel IN ({_LIVE})",
            q=0.9,
        ),
        unit="seconds",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source="no benchmark in SEED_FACTS.md",
        interval=_QUANT,
    ),
    Kpi(
        name="frt_written_median",
        label="First response time, written channels (median)",
        definition=(
            "median hours to the first response in the written channels (e-mail, web form, "
            "social, SMS, app)"
        ),
        type="quantile",
        measure=Measure(
            "quantile",
            expr="first_response_s / 3600.0",
            denominator=f"first_response_s IS NOT NULL AND channel IN ({_WRITTEN})",
            q=0.5,
        ),
        unit="hours",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source="no benchmark in SEED_FACTS.md; set one on the Targets page",
        interval=_QUANT,
    ),
    Kpi(
        name="frt_written_p90",
        label="First response time, written channels (90th percentile)",
        definition=(
            "90th percentile of the hours to the first response in the written channels "
            "(e-mail, web form, social, SMS, app)"
        ),
        type="quantile",
        measure=Measure(
            "quantile",
            expr="first_response_s / 3600.0",
            denominator=f"first_response_s IS NOT NULL AND channel IN ({_WRITTEN})",
            q=0.9,
        ),
        unit="hours",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source="no benchmark in SEED_FACTS.md",
        interval=_QUANT,
    ),
    Kpi(
        name="wait_live_median",
        label="Queue wait, live channels (median)",
        definition=(
            "median wait_s before an answer or hang-up in the live channels (phone, chat, "
            "video, chatbot, in person), in seconds; abandoned contacts count with their wait"
        ),
        type="quantile",
        measure=Measure(
            "quantile",
            expr="wait_s",
            denominator=f"wait_s IS NOT NULL AND channel IN ({_LIVE})",
            q=0.5,
        ),
        unit="seconds",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source=(
            "no median benchmark in SEED_FACTS.md; the phone queue target (3 of 4 customers "
            "wait at most 10 min) is the KPI long_wait_share"
        ),
        interval=_QUANT,
    ),
    Kpi(
        name="resolution_time",
        label="Resolution time (median)",
        definition=(
            "median hours from opened_at to resolved_at of resolved contacts (median, not "
            "mean: a few never-closed cases would dominate a mean)"
        ),
        type="quantile",
        measure=Measure(
            "quantile",
            expr="(EPOCH(resolved_at) - EPOCH(opened_at)) / 3600.0",
            denominator="COALESCE(resolved, FALSE) AND resolved_at IS NOT NULL",
            q=0.5,
        ),
        unit="hours",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source=(
            "no benchmark in SEED_FACTS.md; reference: 6 of 10 cases solved the same day "
            "(Tele2/Ipsos 2023)"
        ),
        interval=_QUANT,
    ),
    Kpi(
        name="escalation_rate",
        label="Escalation rate",
        definition="share of contacts escalated, among contacts with a known escalation flag",
        type="ratio",
        measure=Measure("ratio", numerator="escalated", denominator="escalated IS NOT NULL"),
        unit="share",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source="no benchmark in SEED_FACTS.md",
        interval=_SHARE,
        scale=(0.0, 1.0),
    ),
    Kpi(
        name="service_level",
        label="Service level",
        definition=(
            "share of phone and chat contacts answered (not abandoned) with wait_s within the "
            "channel's threshold (settings: phone 20 s, chat 30 s)"
        ),
        type="ratio",
        measure=Measure(
            "ratio",
            numerator=(
                "NOT COALESCE(abandoned, FALSE) AND wait_s <= CASE WHEN channel = 'phone' "
                "THEN $sl_phone_s ELSE $sl_chat_s END"
            ),
            denominator="channel IN ('phone', 'chat') AND (wait_s IS NOT NULL OR abandoned)",
        ),
        inputs=(("contacts.wait_s",),),  # abandoned alone would make every answer "late"
        unit="share",
        direction="higher",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source="no benchmark in SEED_FACTS.md",
        interval=_SHARE,
        scale=(0.0, 1.0),
    ),
    Kpi(
        name="abandonment_rate",
        label="Abandonment rate",
        definition="share of contacts abandoned before an answer, among contacts with the flag",
        type="ratio",
        measure=Measure("ratio", numerator="abandoned", denominator="abandoned IS NOT NULL"),
        unit="share",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source="no benchmark in SEED_FACTS.md",
        interval=_SHARE,
        scale=(0.0, 1.0),
    ),
    Kpi(
        name="repeat_contact_rate",
        label="Repeat-contact rate",
        definition=(
            "share of contacts that repeat one by the same customer on the same issue type "
            "opened within the previous N days (N = the FCR window setting, default 7)"
        ),
        type="ratio",
        measure=Measure(
            "ratio",
            numerator="repeat_before",
            denominator="customer_id IS NOT NULL",
        ),
        unit="share",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source="no benchmark in SEED_FACTS.md",
        interval=_SHARE,
        scale=(0.0, 1.0),
    ),
    Kpi(
        name="automation_rate",
        label="Automation rate",
        definition=(
            "share of contacts handled by the bot and resolved without a human (not escalated)"
        ),
        type="ratio",
        measure=Measure(
            "ratio",
            numerator=(
                "COALESCE(bot_handled, FALSE) AND COALESCE(resolved, FALSE) "
                "AND NOT COALESCE(escalated, FALSE)"
            ),
        ),
        # A missing escalation flag reads as "not escalated"; bot and resolved cannot be read.
        inputs=(("contacts.bot_handled",), ("contacts.resolved",)),
        unit="share",
        direction="higher",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=0.45,
        target_source="automation (self-service) 35-55 % of contacts (SEED_FACTS.md); midpoint 45 %",
        interval=_SHARE,
        scale=(0.0, 1.0),
        # 35-55 % is of all contacts: a phone or chat cell is not expected to reach it.
        target_not_by=("channel",),
    ),
    Kpi(
        name="long_wait_share",
        label="Phone waits over 10 min",
        definition="share of phone contacts with a recorded wait whose wait_s exceeds 600 s",
        type="ratio",
        measure=Measure(
            "ratio",
            numerator="wait_s > 600",
            denominator="channel = 'phone' AND wait_s IS NOT NULL",
        ),
        unit="share",
        direction="lower",
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=0.25,
        target_source=(
            "≤ 25 %: 3 of 4 customers will not wait longer than 10 minutes (Tele2/Ipsos 2023)"
        ),
        interval=_SHARE,
        scale=(0.0, 1.0),
    ),
    Kpi(
        name="channel_mix",
        label="Channel mix",
        definition="share of contacts per channel (one value per channel)",
        type="share",
        measure=Measure("mix"),
        unit="share",
        direction="higher",  # not judged: no target; direction is required but unused
        source="contacts",
        dimensions=CONTACT_DIMS,
        target=None,
        target_source=(
            "no target; reference: phone about 60 % of last contacts (Tele2/Ipsos 2023)"
        ),
        interval=_SHARE,
        scale=(0.0, 1.0),
        implicit_dim="channel",
    ),
    Kpi(
        name="churn_rate",
        label="Monthly churn rate",
        definition=(
            "customers lost in a calendar month / customers active at its start (signed up "
            "before it and not churned before it; mid-month joiners are not in that month's "
            "denominator); over several months the pooled rate sum(lost)/sum(active). Always "
            "monthly: at grain day or week a row's period is its month's start"
        ),
        type="ratio",
        measure=Measure("monthly_churn"),
        unit="share",
        direction="lower",
        source="customer_months",
        dimensions=CUSTOMER_DIMS,
        target=None,
        target_source=(
            "SEED_FACTS.md gives a relative goal (churn -20-30 % vs baseline, McKinsey 2022); "
            "set the absolute target on the Targets page"
        ),
        interval=_SHARE,
        scale=(0.0, 1.0),
    ),
    Kpi(
        name="churn_by_satisfaction",
        label="Churn by satisfaction band",
        definition=(
            "share of surveyed customers who churned within 90 days after answering, by "
            "satisfaction band (CSAT 1..5 = very dissatisfied..very satisfied); only answers "
            "at least 90 days older than the latest answer in the store count, so recent ones "
            "do not look loyal merely for lack of time"
        ),
        type="ratio",
        measure=Measure(
            "ratio",
            numerator=(
                "churned_at >= CAST(answered_at AS DATE) AND "
                "churned_at <= CAST(answered_at AS DATE) + INTERVAL 90 DAY"
            ),
            denominator="csat IS NOT NULL AND followed_90d",
        ),
        unit="share",
        direction="lower",
        source="surveys",
        dimensions=SURVEY_DIMS,
        target=None,
        target_source=(
            "reference per band: share thinking of switching when the invoice arrives, very "
            "satisfied 4 %, fairly satisfied 21 %, neutral 35 %, fairly dissatisfied 67 %, "
            "very dissatisfied 73 % (Novus/Billogram, all industries). Intent, not churn: "
            "shown beside the band, never judged (no status)"
        ),
        judged=False,
        interval=_SHARE,
        scale=(0.0, 1.0),
        implicit_dim="satisfaction_band",
        band_targets={
            "very dissatisfied": 0.73,
            "fairly dissatisfied": 0.67,
            "neutral": 0.35,
            "fairly satisfied": 0.21,
            "very satisfied": 0.04,
        },
    ),
)

_REQUIRED: dict[str, tuple[str, ...]] = {
    "mean": ("expr",),
    "quantile": ("expr", "q"),
    "ratio": ("numerator",),
    "nps": ("expr",),
    "mix": (),
    "monthly_churn": (),
}


# Where each source column comes from, as canonical columns ("table.column"): what a loaded
# file must have supplied for a measure using it (derived columns name their inputs).
SOURCE_INPUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "contacts": {
        **{c: (f"contacts.{c}",) for c in SOURCES["contacts"].columns},
        "repeat_after": ("contacts.customer_id",),
        "repeat_before": ("contacts.customer_id",),
    },
    "surveys": {
        **{c: (f"surveys.{c}",) for c in SOURCES["surveys"].columns},
        "churned_at": ("customers.churned_at",),
        "followed_90d": ("surveys.answered_at",),
    },
    "customer_months": {
        "month_start": ("customers.signup_date",),
        "lost": ("customers.churned_at",),
    },
}


def kpi_inputs(kpi: Kpi) -> tuple[tuple[str, ...], ...]:
    """The canonical columns `kpi` needs supplied, as groups of alternatives.

    `Kpi.inputs` when set; otherwise every column its measure uses outside a COALESCE (a
    column the catalogue COALESCEs has a stated default when absent), mapped through
    SOURCE_INPUTS. Dimension columns (channel, ...) are not inputs.
    """
    if kpi.inputs is not None:
        return kpi.inputs
    m = kpi.measure
    if m.aggregation == "monthly_churn":
        names = ["month_start", "lost"]
    else:
        names = []
        for text in (m.expr, m.numerator, m.denominator):
            if text is None:
                continue
            tree = sqlglot.parse_one(f"SELECT {text}", read="duckdb")
            for col in tree.find_all(exp.Column):
                if col.find_ancestor(exp.Coalesce) is None:
                    names.append(col.name)
    dims = set(SOURCES[kpi.source].dimensions)
    mapping = SOURCE_INPUTS.get(kpi.source, {})
    groups = [mapping[n] for n in dict.fromkeys(names) if n in mapping and n not in dims]
    return tuple(dict.fromkeys(groups))


def _expression_problems(kpi: Kpi, label: str, text: str, columns: set[str]) -> list[str]:
    """Parse one catalogue expression; report syntax errors and unknown columns/params."""
    try:
        tree = sqlglot.parse_one(f"SELECT {text}", read="duckdb")
    except sqlglot.errors.ParseError as exc:
        return [f"{kpi.name}: {label} does not parse ({str(exc).splitlines()[0]}): {text!r}"]
    problems = []
    for col in tree.find_all(exp.Column):
        if col.name not in columns:
            problems.append(
                f"{kpi.name}: {label} uses unknown column {col.name!r} of source {kpi.source!r}"
            )
    for node in tree.find_all(exp.Placeholder, exp.Parameter):
        name = node.name
        if name not in SETTING_PARAMS:
            problems.append(
                f"{kpi.name}: {label} uses unknown parameter ${name}; "
                f"expected one of {', '.join(SETTING_PARAMS)}"
            )
    return problems


def validate(kpis: tuple[Kpi, ...]) -> list[str]:
    """Every problem in the catalogue, as readable lines (empty when it is sound)."""
    problems: list[str] = []
    seen: set[str] = set()
    for k in kpis:
        if k.name in seen:
            problems.append(f"{k.name}: defined more than once")
        seen.add(k.name)
        if not k.name.isidentifier() or k.name != k.name.lower():
            problems.append(f"{k.name!r}: name must be a lower-case identifier")
        for attr in ("label", "definition", "target_source", "interval"):
            if not getattr(k, attr).strip():
                problems.append(f"{k.name}: {attr} is empty")
        if k.direction not in ("higher", "lower"):
            problems.append(f"{k.name}: direction {k.direction!r} is not 'higher' or 'lower'")
        if k.type not in ("simple", "ratio", "derived", "quantile", "share"):
            problems.append(f"{k.name}: type {k.type!r} is unknown")
        if k.min_n < 1:
            problems.append(f"{k.name}: min_n must be at least 1, got {k.min_n}")
        m = k.measure
        if m.aggregation not in _REQUIRED:
            problems.append(f"{k.name}: aggregation {m.aggregation!r} is unknown")
        else:
            for attr in _REQUIRED[m.aggregation]:
                if getattr(m, attr) is None:
                    problems.append(f"{k.name}: a {m.aggregation} measure needs {attr}")
        if m.q is not None and not 0.0 < m.q < 1.0:
            problems.append(f"{k.name}: quantile q must be in (0, 1), got {m.q}")
        if m.aggregation == "monthly_churn" and k.source != "customer_months":
            problems.append(f"{k.name}: monthly_churn needs source 'customer_months'")
        if m.aggregation == "mix" and k.implicit_dim is None:
            problems.append(f"{k.name}: a mix measure needs implicit_dim")
        src = SOURCES.get(k.source)
        if src is None:
            problems.append(
                f"{k.name}: unknown source {k.source!r}; expected one of {', '.join(SOURCES)}"
            )
            continue
        bad_dims = [d for d in k.dimensions if d not in src.dimensions]
        if bad_dims:
            problems.append(
                f"{k.name}: dimensions {', '.join(bad_dims)} are not in source {k.source!r} "
                f"({', '.join(src.dimensions)})"
            )
        if k.implicit_dim is not None and k.implicit_dim not in src.dimensions:
            problems.append(f"{k.name}: implicit_dim {k.implicit_dim!r} not in source {k.source!r}")
        for dim, _value in k.target_scope:
            if dim not in k.dimensions:
                problems.append(f"{k.name}: target_scope dimension {dim!r} is not allowed")
        for dim in k.target_not_by:
            if dim not in k.dimensions:
                problems.append(f"{k.name}: target_not_by dimension {dim!r} is not allowed")
        if k.band_targets and k.implicit_dim is None:
            problems.append(f"{k.name}: band_targets need implicit_dim")
        if k.target is not None and k.scale is not None:
            lo, hi = k.scale
            if not lo <= k.target <= hi:
                problems.append(f"{k.name}: target {k.target} outside its scale {lo}..{hi}")
        columns = set(src.columns)
        for label, text in (
            ("expr", m.expr),
            ("numerator", m.numerator),
            ("denominator", m.denominator),
        ):
            if text is not None:
                problems.extend(_expression_problems(k, label, text, columns))
    return problems


def load(kpis: tuple[Kpi, ...] = KPIS) -> dict[str, Kpi]:
    """The catalogue by name; raises CatalogueError listing every problem at once."""
    problems = validate(kpis)
    if problems:
        raise CatalogueError(
            f"the KPI catalogue has {len(problems)} problem(s):\n  - " + "\n  - ".join(problems)
        )
    return {k.name: k for k in kpis}


CATALOGUE: dict[str, Kpi] = load()
KPI_NAMES: tuple[str, ...] = tuple(CATALOGUE)
ALL_DIMENSIONS: tuple[str, ...] = SURVEY_DIMS


def _same_value_qs(kpi: Kpi) -> list[float]:
    """The levels q of every quantile KPI with the same value and rows as `kpi` (median and
    p90 of one time): their aggregates are one identical expression the engine evaluates
    (and sorts) once."""
    m = kpi.measure
    return [
        k.measure.q
        for k in KPIS
        if k.measure.aggregation == "quantile"
        and k.measure.q is not None  # validate() requires q of a quantile measure
        and (k.measure.expr, k.measure.denominator) == (m.expr, m.denominator)
    ]


def kpi_levels(kpi: Kpi) -> tuple[float, ...]:
    """The quantile levels the engine computes for a quantile KPI with its interval: the union
    of the grids of every quantile KPI with the same value and rows (see _same_value_qs)."""
    return tuple(sorted({lv for q in _same_value_qs(kpi) for lv in quantile_levels(q)}))


def point_levels(kpi: Kpi) -> tuple[float, ...]:
    """The levels computed for a quantile KPI's value alone (no interval, no status): the q of
    every quantile KPI with the same value and rows."""
    return tuple(sorted(set(_same_value_qs(kpi))))


def get_kpi(name: str) -> Kpi:
    """The KPI called `name`; a ValueError listing the valid names otherwise."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(f"unknown KPI {name!r}; expected one of {', '.join(KPI_NAMES)}") from None


def applicable_kpis(by: tuple[str, ...] = (), filter_dims: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The KPIs that can be cut by every dimension in `by` and filtered by `filter_dims`."""
    needed = set(by) | set(filter_dims)
    return tuple(k.name for k in KPIS if needed <= set(k.dimensions))
