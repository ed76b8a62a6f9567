"""KPI targets: catalogue defaults, user overrides (per KPI, optionally per channel or team) in
`targets`, and the status rule, which judges with the figure's uncertainty.

Status rule (also shown on the Targets page). With P(meets) the probability that the true
value is on the good side of the target and P(misses) the probability that it is worse than
the target by more than the near tolerance:
- no status without a value, a target, a distribution, or below the minimum sample;
- "meets" when P(meets) ≥ 0.9 ("probably meets", with P);
- "misses" when P(misses) ≥ 0.9 ("probably misses", with P);
- "near" when P(misses) ≤ 0.1: within the tolerance of the target, but not surely on its
  good side;
- "unclear" otherwise: the interval spans the target and the far side (no colour).
The near tolerance is 5 % of the KPI's scale (shares 0..1 -> 0.05, NPS -100..100 -> 10
points, index 0..100 -> 5, CES 1..7 -> 0.3), or 5 % of the target for unbounded units
(seconds, hours).

Distributions: shares Beta(1 + x, 1 + n − x); NPS and means normal(value, se); quantiles the
empirical CDF at the target read off the engine's quantile grid, F ~ Beta(1 + nF̂, 1 + n(1 − F̂)),
and P(q-quantile ≤ t) = P(F(t) ≥ q) (distribution-free, order statistics).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

# scipy.special, not scipy.stats: the same functions (beta.cdf is betainc, norm.cdf is ndtr)
# for a third of the import time, which every first page view after a start pays.
from scipy import special as spsp

from metrics.audit import record
from metrics.auth import Actor, require
from metrics.catalogue import CATALOGUE, KPI_NAMES, Direction, Kpi, get_kpi
from metrics.settings import KpiSettings, load_settings
from metrics.store import Store
from metrics.units import format_probability, tidy_relations

PROBABLE = 0.9
STATUS_RULE = (
    "meets: probably (P ≥ 90 %) on the good side of the target; misses: probably (P ≥ 90 %) "
    "worse than the target by more than the near tolerance (5 % of the KPI's scale, or of the "
    "target for times); near: probably within that tolerance; unclear: the interval spans "
    "both; no status below the minimum sample"
)
NEAR_FRACTION = 0.05
STATUSES: tuple[str, ...] = ("meets", "near", "unclear", "misses")
# Dimensions a target may be scoped to (one value of one of them).
SCOPE_DIMS: tuple[str, ...] = ("channel", "team")

Scope = tuple[str, str] | None


@dataclass(frozen=True)
class Target:
    """The target in force for one KPI (one band of a banded KPI, or one channel/team scope)
    and where it comes from."""

    kpi: str
    band: str | None
    value: float | None
    source: str
    default: float | None
    default_source: str
    overridden: bool
    scope: Scope = None


def target_key(kpi: str, band: str | None = None, scope: Scope = None) -> str:
    """Key of a target in load_targets' dict: `kpi`, `kpi:band`, or `kpi@dim=value`."""
    key = kpi if band is None else f"{kpi}:{band}"
    return key if scope is None else f"{key}@{scope[0]}={scope[1]}"


def effective_direction(kpi: Kpi, settings: KpiSettings) -> Direction:
    """The KPI's direction after settings (the catalogue's flips_when, e.g. CES as agreement)."""
    return kpi.direction_under(settings)


def _flipped(kpi: Kpi, settings: KpiSettings) -> bool:
    return effective_direction(kpi, settings) != kpi.direction


def default_target(
    kpi: Kpi, settings: KpiSettings, band: str | None = None
) -> tuple[float | None, str]:
    """The catalogue's default target and its source, after settings."""
    if band is not None:
        if band in kpi.band_targets:
            return kpi.band_targets[band], kpi.target_source
        return None, kpi.target_source
    if _flipped(kpi, settings) and kpi.target is not None and kpi.scale is not None:
        # The same point of the scale read the other way round (CES effort ≤ 3 -> agreement ≥ 5).
        mirrored = kpi.scale[0] + kpi.scale[1] - kpi.target
        return mirrored, f"{kpi.target_source}; mirrored to {mirrored:g} for the reading in force"
    return kpi.target, kpi.target_source


def _overrides(store: Store) -> dict[str, tuple[float, str | None]]:
    rows = (
        store.cursor()
        .execute("SELECT kpi, band, scope_dim, scope_value, target, source FROM targets")
        .fetchall()
    )
    out = {}
    for kpi, band, dim, value, target, source in rows:
        scope = (dim, value) if dim else None
        out[target_key(kpi, band or None, scope)] = (float(target), source)
    return out


def load_targets(store: Store, settings: KpiSettings | None = None) -> dict[str, Target]:
    """Every target in force, keyed by target_key: catalogue defaults (a default with a
    target_scope, such as chat first response, is keyed by that scope) and user overrides."""
    settings = settings or load_settings(store)
    overrides = _overrides(store)
    out: dict[str, Target] = {}
    for kpi in CATALOGUE.values():
        default, default_source = default_target(kpi, settings)
        scope = kpi.target_scope[0] if kpi.target_scope else None
        entries: list[tuple[str | None, Scope, float | None, str]] = [
            (b, None, *default_target(kpi, settings, b)) for b in kpi.band_targets
        ]
        if scope is None:
            entries.insert(0, (None, None, default, default_source))
        else:
            entries.insert(0, (None, None, None, f"no target outside {scope[0]} {scope[1]}"))
            entries.insert(1, (None, scope, default, default_source))
        for band, sc, value, source in entries:
            key = target_key(kpi.name, band, sc)
            if key in overrides:
                v, src = overrides[key]
                out[key] = Target(kpi.name, band, v, src or "set by user", value, source, True, sc)
            else:
                out[key] = Target(kpi.name, band, value, source, value, source, False, sc)
    for key, (v, src) in overrides.items():
        if key not in out:  # a user target scoped to a channel or team
            name, _, scope_text = key.partition("@")
            dim, _, level = scope_text.partition("=")
            if name in CATALOGUE and dim:
                out[key] = Target(
                    name, None, v, src or "set by user", None, "no default", True, (dim, level)
                )
    return out


def _check_target(
    kpi: str, value: float | None, band: str | None, scope: Scope
) -> tuple[Kpi, str, str, str]:
    k = get_kpi(kpi)
    if band is not None and band not in k.band_targets:
        raise ValueError(
            f"{kpi} has no band {band!r}; expected one of {', '.join(k.band_targets) or 'none'}"
        )
    if scope is not None:
        dim, val = scope
        if dim not in SCOPE_DIMS or dim not in k.dimensions or not str(val).strip():
            raise ValueError(
                f"a target of {kpi} can be scoped to one value of "
                f"{', '.join(d for d in SCOPE_DIMS if d in k.dimensions) or 'nothing'}, "
                f"got {dim}={val!r}"
            )
        if band is not None:
            raise ValueError(f"a band target of {kpi} cannot also be scoped to {dim}")
    dim, val = scope if scope is not None else ("", "")
    if value is None:  # a reset: only the key is checked
        return k, band or "", dim, str(val)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"target for {kpi} must be a finite number, got {value!r}")
    if k.scale is not None and not k.scale[0] <= value <= k.scale[1]:
        raise ValueError(
            f"target for {kpi} must be within {k.scale[0]:g}..{k.scale[1]:g} ({k.unit}), got {value}"
        )
    return k, band or "", dim, str(val)


def write_target(
    store: Store,
    kpi: str,
    value: float | None,
    source: str = "set by user",
    band: str | None = None,
    scope: Scope = None,
    *,
    actor: Actor | None = None,
) -> None:
    """The one function through which targets are written: value None deletes the override.

    ValueError (one line) for an unknown KPI, band or scope or a value off the KPI's scale;
    nothing is written then. Needs the "targets" permission; audited in the same transaction.
    """
    who = require(actor, "targets")
    _, b, dim, val = _check_target(kpi, value, band, scope)
    where = [kpi, b, dim, val]
    target = "target:" + ":".join(p for p in (kpi, b, f"{dim}={val}" if dim else "") if p)
    sql_before = (
        "SELECT target FROM targets WHERE kpi = ? AND band = ? AND scope_dim = ? "
        "AND scope_value = ?"
    )
    if value is None:
        with store.write() as cur:
            before = cur.execute(sql_before, where).fetchall()
            cur.execute(
                "DELETE FROM targets WHERE kpi = ? AND band = ? AND scope_dim = ? "
                "AND scope_value = ?",
                [kpi, b, dim, val],
            )
            record(
                cur,
                who,
                "target.reset",
                target,
                {"before": before[0][0] if before else None, "after": "default"},
            )
        return
    with store.write() as cur:
        before = cur.execute(sql_before, where).fetchall()
        cur.execute(
            "INSERT INTO targets (kpi, band, scope_dim, scope_value, target, source, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, current_timestamp) "
            "ON CONFLICT (kpi, band, scope_dim, scope_value) DO UPDATE SET "
            "target = excluded.target, source = excluded.source, updated_at = excluded.updated_at",
            [kpi, b, dim, val, float(value), source],
        )
        record(
            cur,
            who,
            "target.set",
            target,
            {"before": before[0][0] if before else None, "after": float(value), "source": source},
        )


def set_target(
    store: Store,
    kpi: str,
    value: float,
    source: str = "set by user",
    band: str | None = None,
    scope: Scope = None,
    *,
    actor: Actor | None = None,
) -> None:
    """Persist a user target (see write_target)."""
    write_target(store, kpi, value, source, band, scope, actor=actor)


def reset_target(
    store: Store,
    kpi: str,
    band: str | None = None,
    scope: Scope = None,
    *,
    actor: Actor | None = None,
) -> None:
    """Drop the user's override so the catalogue default applies again."""
    write_target(store, kpi, None, band=band, scope=scope, actor=actor)


def near_tolerance(kpi: Kpi, target: float) -> float:
    """How far on the wrong side of `target` still counts as near (module docstring)."""
    if kpi.scale is not None:
        return NEAR_FRACTION * (kpi.scale[1] - kpi.scale[0])
    return NEAR_FRACTION * abs(target)


# -- the uncertainty of one figure ----------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """What is known of a figure's sampling distribution, by kind.

    kind "beta": x successes of n; "normal": value and se; "quantile": q, n and the grid of
    (level, value) pairs computed by the engine.
    """

    kind: str
    n: int
    value: float | None = None
    se: float | None = None
    x: float | None = None
    q: float | None = None
    grid: tuple[tuple[float, float], ...] = ()

    def cdf(self, t: float) -> float | None:
        """P(true value ≤ t)."""
        if self.kind == "beta" and self.x is not None and self.n > 0:
            return float(spsp.betainc(1 + self.x, 1 + self.n - self.x, min(max(t, 0.0), 1.0)))
        if self.kind == "normal" and self.value is not None and self.se is not None:
            if self.se == 0:
                return 1.0 if self.value <= t else 0.0
            return float(spsp.ndtr((t - self.value) / self.se))
        if self.kind == "quantile" and self.grid and self.q is not None and self.n > 0:
            f = empirical_cdf(self.grid, t)
            # The q-quantile is ≤ t exactly when F(t) ≥ q.
            return float(spsp.betaincc(1 + self.n * f, 1 + self.n * (1 - f), self.q))
        return None


def empirical_cdf(grid: Sequence[tuple[float, float]], t: float) -> float:
    """F̂(t) from (level, quantile value) pairs: linear between grid points, right-continuous
    on ties, clamped to the grid's levels outside it (the caller's probabilities are then
    bounds, far beyond the 0.9 thresholds for n ≥ 30)."""
    levels = [lv for lv, _ in grid]
    values = [v for _, v in grid]
    if t < values[0]:
        return levels[0]
    if t >= values[-1]:
        return levels[-1]
    i = max(j for j, v in enumerate(values) if v <= t)
    lo_v, hi_v = values[i], values[i + 1]
    if hi_v <= lo_v:
        return levels[i]
    return levels[i] + (levels[i + 1] - levels[i]) * (t - lo_v) / (hi_v - lo_v)


def grid_quantile(grid: Sequence[tuple[float, float]], level: float) -> float:
    """The quantile at `level` interpolated on the grid (clamped to its ends)."""
    levels = [lv for lv, _ in grid]
    values = [v for _, v in grid]
    if level <= levels[0]:
        return values[0]
    if level >= levels[-1]:
        return values[-1]
    i = max(j for j, lv in enumerate(levels) if lv <= level)
    if i == len(levels) - 1:
        return values[-1]
    w = (level - levels[i]) / (levels[i + 1] - levels[i])
    return values[i] + w * (values[i + 1] - values[i])


@dataclass(frozen=True)
class Judgement:
    """A figure judged against its target: status and the two probabilities behind it."""

    status: str | None
    p_meets: float | None = None
    p_misses: float | None = None


def judge(
    spread: Spread,
    target: float | None,
    direction: Direction,
    tolerance: float,
    min_n: int,
) -> Judgement:
    """The status of a figure against `target` (module docstring), from its uncertainty."""
    if target is None or spread.n < min_n:
        return Judgement(None)
    if spread.value is None or (isinstance(spread.value, float) and math.isnan(spread.value)):
        return Judgement(None)
    edge = tolerance * (1 + 1e-9)  # the edge itself is "near" despite binary rounding
    if spread.kind == "normal" and spread.se == 0:
        # A figure known exactly (no spread): the point decides, equal counts as meeting.
        gap = spread.value - target if direction == "higher" else target - spread.value
        p_meets, p_misses = float(gap >= 0), float(gap < -edge)
    else:
        at = spread.cdf(target)
        far = spread.cdf(target - edge if direction == "higher" else target + edge)
        if at is None or far is None:
            return Judgement(None)
        p_meets = 1.0 - at if direction == "higher" else at
        p_misses = far if direction == "higher" else 1.0 - far
    p_meets = min(1.0, max(0.0, p_meets))
    p_misses = min(1.0, max(0.0, p_misses))
    if p_meets >= PROBABLE:
        status = "meets"
    elif p_misses >= PROBABLE:
        status = "misses"
    elif p_misses <= 1 - PROBABLE:
        status = "near"
    else:
        status = "unclear"
    return Judgement(status, p_meets, p_misses)


_WORDS = {
    "en": {
        "meets": "probably meets the target (P = {p})",
        "misses": "probably misses the target by more than the tolerance (P = {p})",
        "near": "near the target (P(meets) = {p})",
        "unclear": (
            "unclear against the target (P(meets) = {p}, P(misses by more than the "
            "tolerance) = {q})"
        ),
    },
    "sv": {
        "meets": "når troligen målet (P = {p})",
        "misses": "missar troligen målet med mer än toleransen (P = {p})",
        "near": "nära målet (P(når) = {p})",
        "unclear": "oklart mot målet (P(når) = {p}, P(missar mer än toleransen) = {q})",
    },
}


def status_text(judgement: Mapping[str, Any] | Judgement, language: str = "en") -> str | None:
    """The status in words with its probability, e.g. "probably meets the target (P = 94 %)"."""
    get = judgement.get if isinstance(judgement, Mapping) else judgement.__dict__.get
    status = get("status")
    if status is None:
        return None
    p = get("p_misses") if status == "misses" else get("p_meets")
    lang = language if language in _WORDS else "en"
    text = _WORDS[lang][status].format(
        p=format_probability(p or 0.0, lang=lang),
        q=format_probability(get("p_misses") or 0.0, lang=lang),
    )
    # "P > 99 %", not "P = > 99 %" (a probability is never shown as a certainty it is not).
    return tidy_relations(text)


def status(
    value: float | None,
    target: float | None,
    direction: Direction,
    tolerance: float,
    n: int,
    min_n: int,
    se: float | None = None,
) -> str | None:
    """Status of a figure with a normal spread `se` (0: a point known exactly); see judge."""
    if value is None:
        return None
    spread = Spread("normal", n, value=value, se=0.0 if se is None else se)
    return judge(spread, target, direction, tolerance, min_n).status


def targets_frame(store: Store) -> pl.DataFrame:
    """The Targets page table: one row per KPI (band, scope) with target, source and default."""
    settings = load_settings(store)
    rows = []
    for t in load_targets(store, settings).values():
        k = CATALOGUE[t.kpi]
        rows.append(
            {
                "kpi": t.kpi,
                "band": t.band,
                "scope_dim": t.scope[0] if t.scope else None,
                "scope_value": t.scope[1] if t.scope else None,
                "label": k.label,
                "unit": k.unit,
                "direction": effective_direction(k, settings),
                "target": t.value,
                "source": t.source,
                "default": t.default,
                "default_source": t.default_source,
                "overridden": t.overridden,
                "min_n": k.min_sample(settings.min_n),
            }
        )
    order = {name: i for i, name in enumerate(KPI_NAMES)}
    return pl.DataFrame(rows).sort(
        pl.col("kpi").replace_strict(order, return_dtype=pl.Int32), maintain_order=True
    )
