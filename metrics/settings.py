"""Settings a manager can change (KPI meaning, business time zone, money, language), in `settings`.

Every setting is declared once in SETTINGS (key, default, parser, one-line help); every write
goes through `set_setting` / `save_settings`, which validate and persist in one transaction
(the single place an audit of settings changes can hook: `write_settings`).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from metrics.catalogue import MIN_SAMPLE_DEFAULT
from metrics.store import Store

CES_READINGS: tuple[str, ...] = ("effort", "agreement")
LANGUAGES: tuple[str, ...] = ("sv", "en")
DEFAULT_TIME_ZONE = "Europe/Stockholm"


class SettingError(ValueError):
    """A bad key or value; the message is one line naming the key and what was expected."""


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _positive(key: str) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise SettingError(f"{key} must be a positive number, got {raw!r}") from None
        if isinstance(raw, bool) or not math.isfinite(value) or value <= 0:
            raise SettingError(f"{key} must be a positive number, got {raw!r}")
        return value

    return parse


def _choice(key: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        if not isinstance(raw, str) or raw.strip() not in choices:
            raise SettingError(f"{key} must be one of {', '.join(choices)}, got {raw!r}")
        return raw.strip()

    return parse


def _margin(raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(raw, bool) or not 0 < value <= 1:
        raise SettingError(f"clv.margin must be a share in (0, 1], e.g. 0.3, got {raw!r}")
    return value


def _currency(raw: Any) -> str:
    text = str(raw).strip().upper() if isinstance(raw, str) else ""
    if len(text) != 3 or not text.isalpha():
        raise SettingError(f"ui.currency must be a 3-letter ISO 4217 code such as SEK, got {raw!r}")
    return text


def _time_zone(raw: Any) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if text not in _zones():
        raise SettingError(
            f"business.time_zone must be an IANA time zone such as Europe/Stockholm, got {raw!r}"
        )
    return text


def _min_n(raw: Any) -> int:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(raw, bool) or not math.isfinite(value) or value != int(value) or value < 1:
        raise SettingError(f"kpi.min_n must be a whole number of at least 1, got {raw!r}")
    return int(value)


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its stored key, default, parser/validator (raises SettingError), help."""

    key: str
    default: Any
    parse: Callable[[Any], Any]
    help: str


SETTINGS: dict[str, SettingSpec] = {
    s.key: s
    for s in (
        SettingSpec(
            "kpi.ces_reading",
            "effort",
            _choice("kpi.ces_reading", CES_READINGS),
            "how CES 1-7 is read: effort (1 = very easy, lower is better) or agreement "
            "(CES 2.0, 7 = easiest, higher is better)",
        ),
        SettingSpec(
            "kpi.fcr_window_days",
            7.0,
            _positive("kpi.fcr_window_days"),
            "days within which another contact on the same issue cancels first-contact "
            "resolution (also the repeat-contact window)",
        ),
        SettingSpec(
            "kpi.sl_phone_s",
            20.0,
            _positive("kpi.sl_phone_s"),
            "service level: a phone call answered within this many seconds counts as in time",
        ),
        SettingSpec(
            "kpi.sl_chat_s",
            30.0,
            _positive("kpi.sl_chat_s"),
            "service level: a chat answered within this many seconds counts as in time",
        ),
        SettingSpec(
            "kpi.min_n",
            MIN_SAMPLE_DEFAULT,
            _min_n,
            "minimum sample: a figure or breakdown cell with fewer observations is flagged "
            "and not judged against its target",
        ),
        SettingSpec(
            "clv.margin",
            0.30,
            _margin,
            "gross margin used by the simple CLV (ARPU × margin ÷ churn), a share in (0, 1]",
        ),
        SettingSpec("ui.currency", "SEK", _currency, "currency of money amounts (ISO 4217)"),
        SettingSpec(
            "business.time_zone",
            DEFAULT_TIME_ZONE,
            _time_zone,
            "time zone in which days, weeks, months and experiment days are cut",
        ),
        SettingSpec(
            "ui.language",
            "en",
            _choice("ui.language", LANGUAGES),
            "language of the UI: sv or en (the sidebar switch overrides it per session)",
        ),
    )
}


@dataclass(frozen=True)
class KpiSettings:
    """The settings that change what a KPI means or where its periods are cut.

    ces_reading: "effort" (1 = very easy, lower is better; the seed's "≤ 3") or "agreement"
        (CES 2.0: 7 = the company made it easy, higher is better).
    fcr_window_days: N of the derived FCR and the repeat-contact rate.
    sl_phone_s / sl_chat_s: service-level answer thresholds per channel.
    time_zone: the business time zone periods are cut in (timestamps are stored in UTC).
    min_n: the minimum sample of KPIs that do not set their own.
    """

    ces_reading: str = "effort"
    fcr_window_days: float = 7.0
    sl_phone_s: float = 20.0
    sl_chat_s: float = 30.0
    time_zone: str = DEFAULT_TIME_ZONE
    min_n: int = MIN_SAMPLE_DEFAULT

    def problems(self) -> list[str]:
        """Every bad value, one line each (empty when all are valid)."""
        out = []
        for f in fields(self):
            spec = SETTINGS[_KEY[f.name]]
            try:
                spec.parse(getattr(self, f.name))
            except SettingError as exc:
                out.append(str(exc))
        return out

    def sql_params(self) -> dict[str, Any]:
        """Values of the catalogue's named SQL parameters (catalogue.SETTING_PARAMS)."""
        return {
            "fcr_window_s": float(self.fcr_window_days) * 86400.0,
            "sl_phone_s": float(self.sl_phone_s),
            "sl_chat_s": float(self.sl_chat_s),
        }

    def as_setting(self, name: str) -> Any:
        """The value of a KpiSettings field by its stored key's short name (e.g. ces_reading)."""
        return getattr(self, name)

    def utc_bound(self, day: date) -> datetime:
        """Local midnight of `day` in the business time zone as a naive UTC timestamp.

        A period [d1, d2) in business days is [utc_bound(d1), utc_bound(d2)) on the stored
        UTC timestamps: the filter stays a plain range (engine-portable, prunes by zone maps).
        """
        return local_midnight_utc(day, self.time_zone)


# KpiSettings field -> stored key.
_KEY: dict[str, str] = {
    "ces_reading": "kpi.ces_reading",
    "fcr_window_days": "kpi.fcr_window_days",
    "sl_phone_s": "kpi.sl_phone_s",
    "sl_chat_s": "kpi.sl_chat_s",
    "time_zone": "business.time_zone",
    "min_n": "kpi.min_n",
}


def local_midnight_utc(day: date, time_zone: str) -> datetime:
    """00:00 of `day` in `time_zone`, as a naive datetime in UTC (how instants are stored)."""
    local = datetime.combine(day, time.min, tzinfo=ZoneInfo(time_zone))
    offset = local.utcoffset() or timedelta(0)
    return (local - offset).replace(tzinfo=None)


def local_day(instant: datetime, time_zone: str) -> date:
    """The business day of a stored naive-UTC instant."""
    return instant.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(time_zone)).date()


def load_language(store: Store) -> str:
    """The ui.language setting (for dashboard.i18n)."""
    return str(get_setting(store, "ui.language"))


def load_currency(store: Store) -> str:
    """The ui.currency setting."""
    return str(get_setting(store, "ui.currency"))


def _stored(store: Store) -> dict[str, Any]:
    rows = store.cursor().execute("SELECT key, value FROM settings").fetchall()
    out = {}
    for key, raw in rows:
        try:
            out[key] = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            continue
    return out


def all_settings(store: Store) -> dict[str, Any]:
    """Every declared setting in force (stored value if valid, else its default)."""
    stored = _stored(store)
    out = {}
    for key, spec in SETTINGS.items():
        value = spec.default
        if key in stored:
            # A hand-edited bad value must not break every page: the default applies.
            with contextlib.suppress(SettingError):
                value = spec.parse(stored[key])
        out[key] = value
    return out


def get_setting(store: Store, key: str) -> Any:
    """The value in force for `key`; SettingError naming the valid keys for an unknown one."""
    _spec(key)
    return all_settings(store)[key]


def _spec(key: str) -> SettingSpec:
    try:
        return SETTINGS[key]
    except KeyError:
        raise SettingError(f"unknown setting {key!r}; valid keys: {', '.join(SETTINGS)}") from None


def parse_value(key: str, raw: Any) -> Any:
    """`raw` (text from a command line or a widget, or a value) parsed and validated for `key`."""
    return _spec(key).parse(raw)


def write_settings(store: Store, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every value, then write all of them in one transaction (or none).

    The one function through which settings are written; returns the parsed values.
    SettingError lists every bad value at once.
    """
    parsed: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in values.items():
        try:
            parsed[key] = parse_value(key, raw)
        except SettingError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingError("; ".join(problems))
    with store.write() as cur:
        for key, value in parsed.items():
            cur.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, json.dumps(value)],
            )
    return parsed


def set_setting(store: Store, key: str, raw: Any) -> Any:
    """Parse, validate and persist one setting; returns the stored value."""
    return write_settings(store, {key: raw})[key]


def load_settings(store: Store) -> KpiSettings:
    """The KPI settings in force (invalid stored values fall back to their defaults)."""
    values = all_settings(store)
    return replace(KpiSettings(), **{name: values[key] for name, key in _KEY.items()})


def save_settings(store: Store, settings: KpiSettings) -> None:
    """Persist all KPI settings; SettingError (a ValueError) naming every bad value."""
    problems = settings.problems()
    if problems:
        raise SettingError("invalid KPI settings: " + "; ".join(problems))
    write_settings(store, {key: getattr(settings, name) for name, key in _KEY.items()})


def settings_frame_rows(store: Store) -> list[dict[str, Any]]:
    """One row per setting (key, value, default, help) for the Settings page and `cx settings`."""
    values = all_settings(store)
    return [
        {"key": k, "value": values[k], "default": s.default, "help": s.help}
        for k, s in SETTINGS.items()
    ]
