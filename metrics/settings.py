"""KPI settings (CES reading, FCR window, service-level thresholds), persisted in `settings`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from metrics.audit import record
from metrics.auth import Actor, require
from metrics.store import Store

CES_READINGS: tuple[str, ...] = ("effort", "agreement")


@dataclass(frozen=True)
class KpiSettings:
    """Settings that change what a KPI means; stored under the key `kpi.<field>`.

    ces_reading: "effort" (1 = very easy, lower is better; the seed's "≤ 3") or "agreement"
        (CES 2.0: 7 = the company made it easy, higher is better).
    fcr_window_days: N of the derived FCR and the repeat-contact rate.
    sl_phone_s / sl_chat_s: service-level answer thresholds per channel.
    """

    ces_reading: str = "effort"
    fcr_window_days: float = 7.0
    sl_phone_s: float = 20.0
    sl_chat_s: float = 30.0

    def problems(self) -> list[str]:
        out = []
        if self.ces_reading not in CES_READINGS:
            out.append(
                f"ces_reading must be one of {', '.join(CES_READINGS)}, got {self.ces_reading!r}"
            )
        for name in ("fcr_window_days", "sl_phone_s", "sl_chat_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                out.append(f"{name} must be a positive number, got {value!r}")
        return out

    def sql_params(self) -> dict[str, float]:
        """Values of the catalogue's named SQL parameters (catalogue.SETTING_PARAMS)."""
        return {
            "fcr_window_s": float(self.fcr_window_days) * 86400.0,
            "sl_phone_s": float(self.sl_phone_s),
            "sl_chat_s": float(self.sl_chat_s),
        }


_PREFIX = "kpi."


def load_settings(store: Store) -> KpiSettings:
    """The stored settings over the defaults (unknown or malformed keys are ignored)."""
    rows = (
        store.cursor().execute("SELECT key, value FROM settings WHERE key LIKE 'kpi.%'").fetchall()
    )
    names = {f.name for f in fields(KpiSettings)}
    values: dict[str, Any] = {}
    for key, raw in rows:
        name = key[len(_PREFIX) :]
        if name in names:
            values[name] = json.loads(raw) if isinstance(raw, str) else raw
    settings = replace(KpiSettings(), **values)
    # A hand-edited bad value must not break every page: fall back to the defaults.
    return settings if not settings.problems() else KpiSettings()


def save_settings(store: Store, settings: KpiSettings, *, actor: Actor | None = None) -> None:
    """Persist all settings; ValueError naming every bad value, nothing written.

    Needs the "settings" permission; the changed values (before and after) are audited.
    """
    who = require(actor, "settings")
    problems = settings.problems()
    if problems:
        raise ValueError("invalid KPI settings: " + "; ".join(problems))
    before = asdict(load_settings(store))
    after = asdict(settings)
    with store.write() as cur:
        for name, value in after.items():
            cur.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [_PREFIX + name, json.dumps(value)],
            )
        changed = {k: {"before": before[k], "after": v} for k, v in after.items() if before[k] != v}
        record(cur, who, "settings.set", "settings:kpi", changed)
