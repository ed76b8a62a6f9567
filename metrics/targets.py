"""KPI targets: catalogue defaults, user overrides persisted in `targets`, and the status rule.

Status rule (also shown on the Targets page):
- no status when there is no value, no target, or n is below the KPI's minimum sample;
- "meets" when the value is on the good side of the target (or equal to it);
- "near" when it is on the wrong side by at most 5 % of the KPI's scale (bounded scales:
  shares 0..1 -> 0.05, NPS -100..100 -> 10 points, index 0..100 -> 5, CES 1..7 -> 0.3), or
  by at most 5 % of the target itself for unbounded units (seconds, hours);
- "misses" otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from metrics.audit import record
from metrics.auth import Actor, require
from metrics.catalogue import CATALOGUE, KPI_NAMES, Direction, Kpi, get_kpi
from metrics.settings import KpiSettings, load_settings
from metrics.store import Store

STATUS_RULE = (
    "meets: on the good side of the target; near: on the wrong side by at most 5 % of the "
    "KPI's scale (5 % of the target for times); misses: further off; no status below the "
    "minimum sample"
)
NEAR_FRACTION = 0.05


@dataclass(frozen=True)
class Target:
    """The target in force for one KPI (or one band of a banded KPI) and where it comes from."""

    kpi: str
    band: str | None
    value: float | None
    source: str
    default: float | None
    default_source: str
    overridden: bool


def target_key(kpi: str, band: str | None = None) -> str:
    """Row key in the `targets` table: the KPI name, or `kpi:band` for a banded KPI."""
    return kpi if band is None else f"{kpi}:{band}"


def effective_direction(kpi: Kpi, settings: KpiSettings) -> Direction:
    """The KPI's direction after settings (CES read as agreement is higher-is-better)."""
    if kpi.name == "ces" and settings.ces_reading == "agreement":
        return "higher"
    return kpi.direction


def default_target(
    kpi: Kpi, settings: KpiSettings, band: str | None = None
) -> tuple[float | None, str]:
    """The catalogue's default target and its source, after settings."""
    if band is not None:
        if band in kpi.band_targets:
            return kpi.band_targets[band], kpi.target_source
        return None, kpi.target_source
    if kpi.name == "ces" and settings.ces_reading == "agreement" and kpi.target is not None:
        # Mirror of "effort ≤ 3" on the 1..7 scale: agreement ≥ 8 - 3.
        return 8.0 - kpi.target, kpi.target_source + "; mirrored to ≥ 5 for the agreement reading"
    return kpi.target, kpi.target_source


def _overrides(store: Store) -> dict[str, tuple[float, str | None]]:
    rows = store.cursor().execute("SELECT kpi, target, source FROM targets").fetchall()
    return {k: (float(t), s) for k, t, s in rows}


def load_targets(store: Store, settings: KpiSettings | None = None) -> dict[str, Target]:
    """Every target in force, keyed by target_key (bands of banded KPIs included)."""
    settings = settings or load_settings(store)
    overrides = _overrides(store)
    out: dict[str, Target] = {}
    for kpi in CATALOGUE.values():
        bands: list[str | None] = [None, *kpi.band_targets]
        for band in bands:
            key = target_key(kpi.name, band)
            default, default_source = default_target(kpi, settings, band)
            if key in overrides:
                value, src = overrides[key]
                out[key] = Target(
                    kpi.name, band, value, src or "set by user", default, default_source, True
                )
            else:
                out[key] = Target(
                    kpi.name, band, default, default_source, default, default_source, False
                )
    return out


def set_target(
    store: Store,
    kpi: str,
    value: float,
    source: str = "set by user",
    band: str | None = None,
    *,
    actor: Actor | None = None,
) -> None:
    """Persist a user target; ValueError for an unknown KPI/band or a value off the KPI's scale."""
    who = require(actor, "targets")
    k = get_kpi(kpi)
    if band is not None and band not in k.band_targets:
        raise ValueError(
            f"{kpi} has no band {band!r}; expected one of {', '.join(k.band_targets) or 'none'}"
        )
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"target for {kpi} must be a finite number, got {value!r}")
    if k.scale is not None and not k.scale[0] <= value <= k.scale[1]:
        raise ValueError(
            f"target for {kpi} must be within {k.scale[0]:g}..{k.scale[1]:g} ({k.unit}), got {value}"
        )
    key = target_key(kpi, band)
    with store.write() as cur:
        before = cur.execute("SELECT target FROM targets WHERE kpi = ?", [key]).fetchall()
        cur.execute(
            "INSERT INTO targets (kpi, target, source, updated_at) "
            "VALUES (?, ?, ?, current_timestamp) ON CONFLICT (kpi) DO UPDATE SET "
            "target = excluded.target, source = excluded.source, updated_at = excluded.updated_at",
            [key, float(value), source],
        )
        record(
            cur,
            who,
            "target.set",
            f"target:{key}",
            {"before": before[0][0] if before else None, "after": float(value), "source": source},
        )


def reset_target(
    store: Store, kpi: str, band: str | None = None, *, actor: Actor | None = None
) -> None:
    """Drop the user's override so the catalogue default applies again."""
    who = require(actor, "targets")
    get_kpi(kpi)
    key = target_key(kpi, band)
    with store.write() as cur:
        before = cur.execute("SELECT target FROM targets WHERE kpi = ?", [key]).fetchall()
        cur.execute("DELETE FROM targets WHERE kpi = ?", [key])
        record(
            cur,
            who,
            "target.reset",
            f"target:{key}",
            {"before": before[0][0] if before else None, "after": "default"},
        )


def near_tolerance(kpi: Kpi, target: float) -> float:
    """How far on the wrong side of `target` still counts as near (module docstring)."""
    if kpi.scale is not None:
        return NEAR_FRACTION * (kpi.scale[1] - kpi.scale[0])
    return NEAR_FRACTION * abs(target)


def status(
    value: float | None,
    target: float | None,
    direction: Direction,
    tolerance: float,
    n: int,
    min_n: int,
) -> str | None:
    """meets / near / misses, or None without a value, a target or the minimum sample."""
    if value is None or target is None or n < min_n:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    gap = value - target if direction == "higher" else target - value  # > 0 is better
    if gap >= 0:
        return "meets"
    if gap >= -tolerance * (1 + 1e-9):  # the edge is "near" despite binary rounding
        return "near"
    return "misses"


def targets_frame(store: Store) -> pl.DataFrame:
    """The Targets page table: one row per KPI (and band) with target, source and default."""
    settings = load_settings(store)
    rows = []
    for t in load_targets(store, settings).values():
        k = CATALOGUE[t.kpi]
        rows.append(
            {
                "kpi": t.kpi,
                "band": t.band,
                "label": k.label,
                "unit": k.unit,
                "direction": effective_direction(k, settings),
                "target": t.value,
                "source": t.source,
                "default": t.default,
                "default_source": t.default_source,
                "overridden": t.overridden,
                "min_n": k.min_n,
            }
        )
    order = {name: i for i, name in enumerate(KPI_NAMES)}
    return pl.DataFrame(rows).sort(
        pl.col("kpi").replace_strict(order, return_dtype=pl.Int32), maintain_order=True
    )
