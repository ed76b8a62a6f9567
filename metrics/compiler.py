"""The one place that writes KPI SQL: a normalised request -> one query per source.

The SQL is DuckDB-flavoured but portable: explicit GROUP BY lists, CASE inside aggregates
(no FILTER), quantiles through `quantile_sql`, repeat contacts read from the precomputed gaps
of metrics.repeats (no per-query sort of all contacts), a survey's contact and customer
dimensions from the values metrics.survey_links keeps on it (no per-query join to all
contacts and customers), named parameters ($name) for every value that is not catalogue
text. Periods are cut in the business time zone: date windows become UTC instants in Python (a
plain range on the stored UTC timestamps) and the period of a row is DATE_TRUNC (day, week,
month, quarter or year) of its local time,
`(ts AT TIME ZONE 'UTC') AT TIME ZONE $tz`, which sqlglot writes for Spark as
FROM_UTC_TIMESTAMP. This is the reference SQL; `to_dialect`
(metrics.dialect, re-exported here) is the one exit to an engine's dialect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from metrics.catalogue import (
    CATALOGUE,
    CUSTOMER_DIMS,
    GRAINS,
    NPS_DETRACTOR_MAX,
    NPS_PROMOTER_MIN,
    SATISFACTION_BANDS,
    SOURCES,
    Kpi,
    kpi_levels,
    point_levels,
)
from metrics.dialect import to_dialect as to_dialect  # re-exported: the one exit
from metrics.settings import KpiSettings
from metrics.survey_links import LINKED_CONTACT, LINKED_CUSTOMER


@dataclass(frozen=True)
class CompiledQuery:
    """One SQL statement computing the sufficient statistics of `kpis` per group.

    Output columns: `dims` (in order), `period` when grain is set, then per KPI
    `<kpi>__n` plus `<kpi>__x` (ratio/mix/churn successes), `<kpi>__mean`/`<kpi>__sd`
    (means), `<kpi>__g` (quantiles: values at kpi_levels) or `<kpi>__v` (quantiles without
    intervals: values at point_levels), or `<kpi>__p`/`<kpi>__d` (NPS promoters/detractors).
    """

    source: str
    kpis: tuple[str, ...]
    dims: tuple[str, ...]
    grain: str | None
    sql: str
    params: dict[str, Any]
    sets: tuple[tuple[str, ...], ...] = ((),)  # the dims of each grouping set
    windows: tuple[tuple[date | None, date | None], ...] = ((None, None),)


def quantile_sql(expr: str, q: float | tuple[float, ...]) -> str:
    """The one quantile helper: continuous (interpolated) quantile(s) of expr (a list for a
    tuple of levels, computed in one sort)."""
    if isinstance(q, tuple):
        return f"QUANTILE_CONT({expr}, [{', '.join(repr(float(v)) for v in q)}])"
    return f"QUANTILE_CONT({expr}, {float(q)!r})"


def local_time_sql(column: str) -> str:
    """The stored naive-UTC `column` as naive local time in the business zone ($tz)."""
    return f"(({column} AT TIME ZONE 'UTC') AT TIME ZONE $tz)"


_CUSTOMER_COLS = CUSTOMER_DIMS
_BAND_CASE = (
    "CASE s.csat "
    + " ".join(f"WHEN {i} THEN '{band}'" for i, band in enumerate(SATISFACTION_BANDS, start=1))
    + " END"
)


def _uses(texts: list[str], name: str) -> bool:
    return any(name in t for t in texts)


# The contact columns every contacts query reads (and a drill-down shows: ROW_COLUMNS). Not
# agent_id (a person's name in many exports), comments or extras (free text).
CONTACT_COLUMNS = (
    "contact_id",
    "customer_id",
    "channel",
    "issue_type",
    "team",
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
)


def _contacts_base(
    needed: set[str], texts: list[str], params: dict[str, Any], settings: KpiSettings
) -> str:
    cols = [f"c.{c}" for c in CONTACT_COLUMNS]
    joins = ""
    if needed & set(_CUSTOMER_COLS):
        cols += [f"cu.{d}" for d in _CUSTOMER_COLS]
        joins += " LEFT JOIN customers AS cu ON cu.customer_id = c.customer_id"
    if _uses(texts, "repeat_after") or _uses(texts, "repeat_before"):
        # Gaps to the neighbouring contacts on the same issue, kept on the row by
        # metrics.repeats at ingest; compared with the window setting here, so changing it
        # needs no rebuild (and no join or sort per query).
        params["fcr_window_s"] = float(settings.fcr_window_days) * 86400.0
        cols += [
            "COALESCE(c.next_gap_s <= $fcr_window_s, FALSE) AS repeat_after",
            "COALESCE(c.prev_gap_s <= $fcr_window_s, FALSE) AS repeat_before",
        ]
    return f"base AS (SELECT {', '.join(cols)} FROM contacts AS c{joins})"


def _surveys_base(needed: set[str], texts: list[str], ids: bool = False) -> str:
    # The linked contact's and customer's values are on the survey row, kept there by
    # metrics.survey_links at ingest: no join of the period's surveys to every contact and
    # customer per query.
    cols = ["s.response_id", "s.answered_at", "s.nps", "s.csat", "s.ces"]
    if ids:  # the rows behind a cell (compile_rows) show which contact and customer
        own = LINKED_CONTACT["customer_id"]
        cols += ["s.contact_id", f"COALESCE(s.customer_id, s.{own}) AS customer_id"]
    if needed & {"channel", "issue_type", "team"}:
        cols += [f"s.{LINKED_CONTACT[d]} AS {d}" for d in ("channel", "issue_type", "team")]
    if needed & set(_CUSTOMER_COLS) or _uses(texts, "churned_at"):
        # The survey's own customer, else its contact's.
        cols += [f"s.{LINKED_CUSTOMER[d]} AS {d}" for d in (*_CUSTOMER_COLS, "churned_at")]
    if "satisfaction_band" in needed:
        cols.append(f"{_BAND_CASE} AS satisfaction_band")
    if _uses(texts, "followed_90d"):
        cols.append(
            "CAST(s.answered_at AS DATE) + INTERVAL 90 DAY <= "
            "(SELECT CAST(MAX(answered_at) AS DATE) FROM surveys) AS followed_90d"
        )
    return f"SELECT {', '.join(cols)} FROM surveys AS s"


def _month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def _period_bounds(
    column: str,
    date_from: date | None,
    date_to: date | None,
    params: dict[str, Any],
    settings: KpiSettings,
) -> list[str]:
    """The half-open period [date_from, date_to) on `column`, its local days bound as UTC
    instants (the business time zone's midnights); an open end adds no condition."""
    where = []
    if date_from is not None:
        params["date_from"] = settings.utc_bound(date_from)
        where.append(f"{column} >= $date_from")
    if date_to is not None:
        params["date_to"] = settings.utc_bound(date_to)
        where.append(f"{column} < $date_to")
    return where


Window = tuple[date | None, date | None]


def _customer_months(params: dict[str, Any], windows: Sequence[Window]) -> str:
    """Months overlapping each window [date_from, date_to), and each customer active at a
    month's start; with several windows each month row carries its window's index (`w__`), so
    one scan of customers answers them all (a month two windows share counts in both).

    The months begin no earlier than where the store can observe churn: the month of
    its first recorded activity (a churn, a contact or an invoice), not the oldest signup —
    a customer base signed up in 2000 but exported in 2026 has no churn record for 2001,
    and reporting 0 % churn for those months would be a false figure.
    """
    observed = (
        "COALESCE((SELECT CAST(DATE_TRUNC('month', LEAST("
        "(SELECT MIN(churned_at) FROM customers), (SELECT MIN(opened_at) FROM contacts), "
        "(SELECT MIN(issued_at) FROM invoices))) AS DATE)), "
        "(SELECT CAST(DATE_TRUNC('month', MIN(signup_date)) + INTERVAL 1 MONTH AS DATE) "
        "FROM customers))"
    )
    multi = len(windows) > 1
    ctes = ""
    if multi:  # once, not per window: it reads every contact and invoice
        ctes = f"observed AS (SELECT {observed} AS m), "
        observed = "(SELECT m FROM observed)"
    series = []
    for i, (date_from, date_to) in enumerate(windows):
        m_from, m_to = (f"m{i}_from", f"m{i}_to") if multi else ("m_from", "m_to")
        params[m_from] = _month_start(date_from) if date_from else None
        params[m_to] = _month_start(date_to - timedelta(days=1)) if date_to else None
        # An explicit start before the first observed month starts there too (a comparison
        # with the same month last year must not read a month without records as 0 % churn).
        series.append(
            "SELECT " + (f"{i} AS w__, " if multi else "") + "CAST(g.m AS DATE) AS month_start, "
            # The month's end once per month, not per customer row (that date arithmetic per
            # row was a third of the churn statement at 1M customers).
            "CAST(CAST(g.m AS DATE) + INTERVAL 1 MONTH AS DATE) AS month_end FROM generate_series("
            f"CAST(GREATEST(COALESCE(CAST(${m_from} AS DATE), {observed}), {observed}) "
            f"AS TIMESTAMP), CAST(COALESCE(CAST(${m_to} AS DATE), (SELECT CAST(DATE_TRUNC("
            "'month', MAX(GREATEST(signup_date, COALESCE(churned_at, signup_date)))) AS DATE) "
            "FROM customers)) AS TIMESTAMP), INTERVAL 1 MONTH) AS g(m)"
        )
    cols = ", ".join(f"cu.{d}" for d in _CUSTOMER_COLS)
    # Active at the start: signed up before the month's first day and not churned before it.
    return (
        f"{ctes}months AS ({' UNION ALL '.join(series)}), base AS (SELECT "
        + ("mo.w__, " if multi else "")
        + f"mo.month_start, {cols}, "
        "CASE WHEN cu.churned_at < mo.month_end THEN 1 ELSE 0 END AS lost "
        "FROM months AS mo JOIN customers AS cu ON cu.signup_date < mo.month_start "
        "AND (cu.churned_at IS NULL OR cu.churned_at >= mo.month_start))"
    )


def _measured_value(kpi: Kpi) -> str:
    """The value a mean or quantile KPI aggregates: its expression where its rows hold."""
    return f"CASE WHEN ({kpi.measure.denominator}) THEN {kpi.measure.expr} END"


def _aggregates(
    kpi: Kpi,
    partition: list[str],
    intervals: bool = True,
    values: Mapping[str, str] | None = None,
) -> list[str]:
    """The sufficient statistics of one KPI; `values` names the measured values projected
    before the aggregation (see compile_merged)."""
    m = kpi.measure
    k = kpi.name
    den = m.denominator
    one = f"CASE WHEN ({den}) THEN 1 ELSE 0 END"
    if m.aggregation == "ratio":
        return [
            f"SUM({one}) AS {k}__n",
            f"SUM(CASE WHEN ({den}) AND ({m.numerator}) THEN 1 ELSE 0 END) AS {k}__x",
        ]
    if m.aggregation == "nps":
        return [
            f"SUM({one}) AS {k}__n",
            f"SUM(CASE WHEN ({den}) AND {m.expr} >= {NPS_PROMOTER_MIN} THEN 1 ELSE 0 END) "
            f"AS {k}__p",
            f"SUM(CASE WHEN ({den}) AND {m.expr} <= {NPS_DETRACTOR_MAX} THEN 1 ELSE 0 END) "
            f"AS {k}__d",
        ]
    value = (values or {}).get(_measured_value(kpi), _measured_value(kpi))
    if m.aggregation == "mean":
        return [
            f"COUNT({value}) AS {k}__n",
            f"AVG({value}) AS {k}__mean",
            f"STDDEV_SAMP({value}) AS {k}__sd",
        ]
    if m.aggregation == "quantile":
        # The level q and a grid around it (one sort): the value, a distribution-free
        # interval and the probability of meeting a target come from the grid. A value
        # alone (a comparison window's) needs level q only: a third of the grid's cost.
        if not intervals:
            return [
                f"COUNT({value}) AS {k}__n",
                f"{quantile_sql(value, point_levels(kpi))} AS {k}__v",
            ]
        return [
            f"COUNT({value}) AS {k}__n",
            f"{quantile_sql(value, kpi_levels(kpi))} AS {k}__g",
        ]
    if m.aggregation == "mix":
        over = f"PARTITION BY {', '.join(partition)}" if partition else ""
        return [f"SUM({one}) AS {k}__x", f"SUM(SUM({one})) OVER ({over}) AS {k}__n"]
    if m.aggregation == "monthly_churn":
        return [f"COUNT(*) AS {k}__n", f"SUM(lost) AS {k}__x"]
    raise AssertionError(f"unhandled aggregation {m.aggregation}")  # catalogue validated


def compile_group(
    kpis: tuple[str, ...],
    by: tuple[str, ...],
    grain: str | None,
    date_from: date | None,
    date_to: date | None,
    filters: tuple[tuple[str, tuple[str, ...]], ...],
    settings: KpiSettings,
) -> CompiledQuery:
    """SQL for KPIs sharing one source, for one breakdown and one window."""
    return compile_merged(
        kpis, (_full_set(kpis, by),), grain, ((date_from, date_to),), filters, settings
    )


def _full_set(kpis: tuple[str, ...], by: tuple[str, ...]) -> tuple[str, ...]:
    """`by` plus the implicit dimensions of `kpis` (channel_mix -> channel, ...)."""
    extra = [CATALOGUE[k].implicit_dim for k in kpis]
    return tuple(dict.fromkeys([*by, *[d for d in extra if d]]))


def compile_merged(
    kpis: tuple[str, ...],
    sets: tuple[tuple[str, ...], ...],
    grain: str | None,
    windows: tuple[Window, ...],
    filters: tuple[tuple[str, tuple[str, ...]], ...],
    settings: KpiSettings,
    intervals: bool = True,
) -> CompiledQuery:
    """One statement for several breakdowns (GROUPING SETS) and disjoint date windows.

    Several requests that share a source, grain and filters are answered by one scan: each
    row is labelled with its window (`w__`, 0-based, when there is more than one) and each
    grouping set is recognisable by its GROUPING() flags (`g__<dim>` = 1 when the dimension
    is rolled up). `sets` are complete (implicit dimensions included). Several windows must
    all be bounded and disjoint; a mix KPI takes one set. `intervals` False: quantiles at
    their levels only (`<kpi>__v`), for values without interval or status.
    """
    defs = [CATALOGUE[k] for k in kpis]
    source = SOURCES[defs[0].source]
    mix = [d.implicit_dim for d in defs if d.measure.aggregation == "mix"]
    dims: list[str] = []
    for s_ in sets:
        dims += [d for d in s_ if d not in dims]
    texts = [
        t for d in defs for t in (d.measure.expr, d.measure.numerator, d.measure.denominator) if t
    ]
    needed = set(dims) | {f for f, _ in filters}
    # Identifiers come only from the catalogue: anything else never reaches the SQL text.
    unknown = sorted(needed - set(source.dimensions)) + (
        [f"grain {grain!r}"] if grain is not None and grain not in GRAINS else []
    )
    if unknown:
        raise ValueError(f"not a dimension of {source.name}: {', '.join(unknown)}")
    params: dict[str, Any] = {}
    for name, value in settings.sql_params().items():
        if _uses(texts, f"${name}"):
            params[name] = value
    multi = len(windows) > 1
    if multi and any(a is None or b is None for a, b in windows):
        raise ValueError("several windows in one query must all be bounded")
    starts = [a for a, _ in windows if a is not None]
    ends = [b for _, b in windows if b is not None]
    lo = min(starts) if len(starts) == len(windows) else None  # an open start: no lower bound
    hi = max(ends) if len(ends) == len(windows) else None

    where: list[str] = []
    label: str | None = None
    if source.name == "customer_months":
        ctes = _customer_months(params, windows)
        if multi:
            label = "w__"  # the months carry their window
    else:
        if source.name == "contacts":
            ctes = _contacts_base(needed, texts, params, settings)
        else:
            ctes = f"base AS ({_surveys_base(needed, texts)})"
        t = source.time_column
        if not multi:
            where += _period_bounds(t, lo, hi, params, settings)
        else:
            conds = []
            # Every window is bounded here: several windows with an open end raised above.
            for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
                params[f"w{i}_from"] = settings.utc_bound(a)
                params[f"w{i}_to"] = settings.utc_bound(b)
                conds.append(f"{t} >= $w{i}_from AND {t} < $w{i}_to")
            where.append("(" + " OR ".join(f"({c})" for c in conds) + ")")
            label = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, c in enumerate(conds)) + " END"
    for i, (dim, values) in enumerate(filters):
        names = []
        for j, v in enumerate(values):
            params[f"f{i}_{j}"] = v
            names.append(f"$f{i}_{j}")
        where.append(f"{dim} IN ({', '.join(names)})")

    head: list[str] = []  # grouping expressions in every set: window label first, period last
    tail: list[str] = []
    select: list[str] = []
    if label is not None:
        head.append(label)
        select.append(f"{label} AS w__")
    period: str | None = None
    if grain is not None:
        if source.name == "customer_months":
            # Churn is monthly: at day or week a row's period is its month; at quarter or year
            # the months pool (sum lost / sum active at each month's start).
            period = (
                f"CAST(DATE_TRUNC('{grain}', month_start) AS DATE)"
                if grain in ("quarter", "year")
                else "month_start"
            )
        else:
            params["tz"] = settings.time_zone
            period = f"CAST(DATE_TRUNC('{grain}', {local_time_sql(source.time_column)}) AS DATE)"
        tail.append(period)
    select += dims
    if period is not None:
        select.append(f"{period} AS period")
    if len(sets) > 1:
        if mix:
            raise ValueError("a mix KPI takes one grouping set per query")
        rolled = [d for d in dims if not all(d in s_ for s_ in sets)]
        select += [f"GROUPING({d}) AS g__{d}" for d in rolled]
        group_sql = (
            "GROUPING SETS ("
            + ", ".join("(" + ", ".join([*head, *s_, *tail]) + ")" for s_ in sets)
            + ")"
        )
    else:
        group_sql = ", ".join([*head, *sets[0], *tail])
    # The mix's denominator is the whole group without the implicit dimension.
    partition = [*head, *[d for d in sets[0] if d not in mix], *tail]
    # With several grouping sets, each quantile's value is computed once per row in a
    # projection: DuckDB otherwise evaluates its CASE in every set (the Overview's contacts
    # quantiles with their channel breakdown: 290 -> 250 ms CPU at 1M customers). Not for
    # means, nor with one set: no gain there, a few ms lost.
    measured: dict[str, str] = {}  # value expression -> its column in the projection
    for d in defs:
        if d.measure.aggregation == "quantile" and len(sets) > 1:
            measured.setdefault(_measured_value(d), f"v__{len(measured)}")
    if measured:
        projected = ", ".join(f"{expr} AS {name}" for expr, name in measured.items())
        ctes += f", measured AS (SELECT *, {projected} FROM base)"
    for d in defs:
        select += _aggregates(d, partition, intervals, measured)
    sql = f"WITH {ctes} SELECT {', '.join(select)} FROM {'measured' if measured else 'base'}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if group_sql:
        n_keys = len(dims) + (label is not None) + (period is not None)
        sql += " GROUP BY " + group_sql
        sql += " ORDER BY " + ", ".join(str(i) for i in range(1, n_keys + 1))
    return CompiledQuery(
        source.name,
        tuple(kpis),
        tuple(dims),
        grain,
        sql,
        params,
        tuple(tuple(s_) for s_ in sets),
        tuple(windows),
    )


class RequestLike(Protocol):
    """What the planner reads from a request (metrics.kpi_query.KpiRequest has these).

    Read-only properties, so frozen dataclasses match the protocol.
    """

    @property
    def kpis(self) -> tuple[str, ...]: ...
    @property
    def by(self) -> tuple[str, ...]: ...
    @property
    def grain(self) -> str | None: ...
    @property
    def date_from(self) -> date | None: ...
    @property
    def date_to(self) -> date | None: ...
    @property
    def filters(self) -> Any: ...  # tuple[tuple[str, tuple[str, ...]], ...]
    @property
    def intervals(self) -> bool: ...


@dataclass(frozen=True)
class Use:
    """Which rows of a planned query answer which KPIs of which request."""

    request: int
    kpis: tuple[str, ...]
    set: tuple[str, ...]
    window: int


def plan(
    requests: Sequence[RequestLike], settings: KpiSettings
) -> list[tuple[CompiledQuery, list[Use]]]:
    """The statements answering `requests`, as few as the engine allows.

    KPIs of one source share a statement when the requests agree on grain and filters: their
    breakdowns (with implicit dimensions) become GROUPING SETS and their date windows, when
    bounded and disjoint, a window label (with exact quantiles, only windows asked for the
    same breakdowns: see _split). Limit: a mix KPI gets one grouping set per statement.
    """
    buckets: dict[tuple, list[tuple[int, tuple[str, ...], tuple[str, ...], Window]]] = {}
    for i, req in enumerate(requests):
        groups: dict[tuple[str, bool, str | None], list[str]] = {}
        for name in req.kpis:
            k = CATALOGUE[name]
            is_mix = k.measure.aggregation == "mix"
            groups.setdefault((k.source, is_mix, k.implicit_dim), []).append(name)
        for (source, is_mix, _implicit), names in groups.items():
            key: tuple = (source, is_mix, req.grain, req.filters)
            set_ = _full_set(tuple(names), req.by)
            buckets.setdefault(key, []).append(
                (i, tuple(names), set_, (req.date_from, req.date_to))
            )
    out: list[tuple[CompiledQuery, list[Use]]] = []
    for (_source, is_mix, grain, filters, *_), entries in buckets.items():
        for part in _split(entries, is_mix):
            kpis = {k for _, names, _, _ in part for k in names}
            ordered = tuple(k for k in CATALOGUE if k in kpis)
            windows = tuple(dict.fromkeys(w for _, _, _, w in part))
            sets = tuple(dict.fromkeys(s_ for _, _, s_, _ in part))
            # Quantile grids only where a request shows intervals (not for a comparison
            # window alone).
            intervals = any(requests[i].intervals for i, *_ in part)
            for group in _holistic_apart(ordered, sets):
                q = compile_merged(group, sets, grain, windows, filters, settings, intervals)
                uses = [
                    Use(i, tuple(k for k in names if k in group), s_, windows.index(w))
                    for i, names, s_, w in part
                    if any(k in group for k in names)
                ]
                out.append((q, uses))
    return out


def _holistic_apart(
    kpis: tuple[str, ...], sets: tuple[tuple[str, ...], ...]
) -> list[tuple[str, ...]]:
    """The KPIs of one statement, its exact quantiles apart when there are several grouping
    sets: DuckDB derives a coarser set from a finer set's partial sums, but not from quantile
    states, so one quantile in the statement makes it aggregate every KPI once per set. Apart,
    the other KPIs are aggregated once (the Overview's current period with its channel
    breakdown at 1M customers: 476 ms CPU together, 92 + 280 ms apart)."""
    quantiles = tuple(k for k in kpis if CATALOGUE[k].measure.aggregation == "quantile")
    if len(sets) < 2 or not quantiles or len(quantiles) == len(kpis):
        return [kpis]
    return [tuple(k for k in kpis if k not in quantiles), quantiles]


def _split(entries: list, is_mix: bool) -> list[list]:
    """Parts of a bucket that one statement can answer (see compile_merged's limits)."""
    windows = list(dict.fromkeys(w for *_, w in entries))
    bounded = all(a is not None and b is not None for a, b in windows)
    ordered = sorted(windows) if bounded else []
    disjoint = bounded and all(ordered[j][1] <= ordered[j + 1][0] for j in range(len(ordered) - 1))
    # With exact quantiles, windows share a statement only when they are asked for the same
    # breakdowns: in one statement every grouping set aggregates the rows of every window, and
    # a quantile aggregated for a breakdown no request wants in that window (the Overview's
    # previous period by channel) costs more than a second scan that skips the other window's
    # row groups. Other aggregates are cheap next to the scan and joins a shared statement
    # pays once (the Overview's surveys: 157 ms merged, 202 ms split at 1M customers).
    holistic = any(
        CATALOGUE[k].measure.aggregation == "quantile" for _, names, _, _ in entries for k in names
    )
    wanted: dict[Window, set[tuple[str, ...]]] = {}
    for e in entries:
        wanted.setdefault(e[3], set()).add(e[2])
    parts: dict[tuple, list] = {}
    for e in entries:
        key: tuple = ()
        if len(windows) > 1 and not disjoint:
            key += (e[3],)  # overlapping windows: one statement per window
        elif len(windows) > 1 and holistic:
            key += (tuple(sorted(wanted[e[3]])),)
        if is_mix:
            key += (e[2],)  # mix: one statement per grouping set
        parts.setdefault(key, []).append(e)
    return list(parts.values())


# The columns a drill-down shows, per source: ids (customer ids hashed at ingest when they
# are contact details), categories, times in business local time, measures and flags. Never
# agent_id (a person's name in many exports), comments or extras (free text).
ROW_COLUMNS: dict[str, tuple[str, ...]] = {
    "contacts": CONTACT_COLUMNS,
    "surveys": (
        "response_id",
        "contact_id",
        "customer_id",
        "channel",
        "issue_type",
        "team",
        "answered_at",
        "nps",
        "csat",
        "ces",
    ),
}
_LOCAL_TIMES = ("opened_at", "resolved_at", "answered_at")


def _row_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"the row limit must be a positive whole number, got {limit!r}")
    return limit


def compile_rows(
    kpi_name: str,
    cell: tuple[tuple[str, str | None], ...],
    grain: str | None,
    period: date | None,
    date_from: date | None,
    date_to: date | None,
    filters: tuple[tuple[str, tuple[str, ...]], ...],
    settings: KpiSettings,
    limit: int,
) -> CompiledQuery:
    """The rows behind one KPI cell: those its n counts, with the same base, window, filters
    and period expression as the KPI's own statement (compile_merged).

    `cell`: the breakdown's (dimension, value) pairs (None = the value is missing); `period`:
    the cell's period start at `grain`. Output: ROW_COLUMNS of the source (times as business
    local time), the source's customer dimensions in `cell` or `filters`, `kpi_value` (the
    measured value of a mean, quantile or NPS KPI), `kpi_counts` (a share's numerator) and
    `total__` (all rows of the cell, before the limit). Ordered by time, then id.
    """
    kpi = CATALOGUE[kpi_name]
    m = kpi.measure
    source = SOURCES[kpi.source]
    if source.name not in ROW_COLUMNS or m.aggregation == "mix":
        raise ValueError(
            f"{kpi_name}: no rows to show (a {source.name} {m.aggregation} KPI is not made of "
            "contacts or survey responses one by one)"
        )
    dims = [d for d, _ in cell]
    needed = set(dims) | {f for f, _ in filters} | {"channel", "issue_type", "team"}
    unknown = sorted(needed - set(source.dimensions))
    if unknown or (grain is not None and grain not in GRAINS):
        raise ValueError(f"not a dimension or grain of {source.name}: {unknown or grain}")
    texts = [t for t in (m.expr, m.numerator, m.denominator) if t]
    params: dict[str, Any] = {"tz": settings.time_zone}
    for name, value in settings.sql_params().items():
        if _uses(texts, f"${name}"):
            params[name] = value
    if source.name == "contacts":
        ctes = _contacts_base(needed, texts, params, settings)
    else:
        ctes = f"base AS ({_surveys_base(needed, texts, ids=True)})"
    t = source.time_column
    # Exactly the rows the KPI's n counts (see _aggregates): its denominator, and for a
    # measured value a non-null value.
    where = [f"({m.denominator})"]
    if m.aggregation in ("mean", "quantile"):
        where.append(f"({m.expr}) IS NOT NULL")
    where += _period_bounds(t, date_from, date_to, params, settings)
    for i, (dim, values) in enumerate(filters):
        names = []
        for j, v in enumerate(values):
            params[f"f{i}_{j}"] = v
            names.append(f"$f{i}_{j}")
        where.append(f"{dim} IN ({', '.join(names)})")
    for i, (dim, value) in enumerate(cell):
        if value is None:
            where.append(f"{dim} IS NULL")
        else:
            params[f"c{i}"] = value
            where.append(f"{dim} = $c{i}")
    if grain is not None and period is not None:
        params["period"] = period
        where.append(f"CAST(DATE_TRUNC('{grain}', {local_time_sql(t)}) AS DATE) = $period")
    cols = [
        f"CAST({local_time_sql(c)} AS TIMESTAMP) AS {c}" if c in _LOCAL_TIMES else c
        for c in ROW_COLUMNS[source.name]
    ]
    cols += [d for d in CUSTOMER_DIMS if d in needed]
    if m.aggregation == "ratio":
        cols.append(f"CASE WHEN ({m.numerator}) THEN TRUE ELSE FALSE END AS kpi_counts")
    else:
        cols.append(f"{m.expr} AS kpi_value")
    cols.append("COUNT(*) OVER () AS total__")
    id_col = ROW_COLUMNS[source.name][0]
    sql = (
        f"WITH {ctes} SELECT {', '.join(cols)} FROM base WHERE {' AND '.join(where)} "
        # An int (checked here) inlined: not every engine binds a parameter in LIMIT.
        f"ORDER BY {t}, {id_col} LIMIT {_row_limit(limit)}"
    )
    return CompiledQuery(source.name, (kpi_name,), tuple(dims), grain, sql, params)


def compile_request(
    kpis: tuple[str, ...],
    by: tuple[str, ...],
    grain: str | None,
    date_from: date | None,
    date_to: date | None,
    filters: tuple[tuple[str, tuple[str, ...]], ...],
    settings: KpiSettings,
) -> list[CompiledQuery]:
    """The statements of one request (one per source; see `plan`)."""

    @dataclass(frozen=True)
    class _Req:
        kpis: tuple[str, ...]
        by: tuple[str, ...]
        grain: str | None
        date_from: date | None
        date_to: date | None
        filters: Any
        intervals: bool = True

    return [q for q, _ in plan([_Req(kpis, by, grain, date_from, date_to, filters)], settings)]
