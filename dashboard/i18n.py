"""Swedish and English UI strings: t(key, **fmt) in the current language, and the sidebar switch.

The strings live in dashboard/locale/<lang>.toml (nested tables flattened to dotted keys,
e.g. [overview] title -> "overview.title"). The language comes, first match wins, from:
use_language() (a context, e.g. a report rendered outside Streamlit), the sidebar switch
(session), the URL (?lang=sv), the `language` setting in the store, then English.

A missing key raises KeyError under pytest (or CX_I18N_STRICT=1), so a page test fails on
it; in production it logs once and falls back to English, then to the key itself.
"""

from __future__ import annotations

import logging
import os
import re
import string
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeGuard

Language = Literal["sv", "en"]
LANGUAGES: tuple[Language, ...] = ("sv", "en")
LANGUAGE_NAMES: dict[str, str] = {"sv": "Svenska", "en": "English"}
DEFAULT_LANGUAGE: Language = "en"  # existing users and tests read English unless told otherwise
QUERY_PARAM = "lang"
SESSION_KEY = "ui_language"
SETTING_SEEN_KEY = "_ui_language_setting_seen"
LOCALE_DIR = Path(__file__).parent / "locale"

_log = logging.getLogger("cx.i18n")
_forced: ContextVar[str | None] = ContextVar("cx_ui_language", default=None)
_warned: set[tuple[str, str]] = set()


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every key -> string of one language's catalogue (read once per process)."""
    with open(LOCALE_DIR / f"{lang}.toml", "rb") as fh:
        return _flatten(tomllib.load(fh))


def placeholders(text: str) -> set[str]:
    """The {names} a catalogue string expects (format specs ignored)."""
    return {
        name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name
    }


def _strict() -> bool:
    flag = os.environ.get("CX_I18N_STRICT")
    if flag is not None:
        return flag == "1"
    return "PYTEST_CURRENT_TEST" in os.environ


def has(key: str) -> bool:
    """Whether the catalogues know `key` (checked in English, the reference catalogue)."""
    return key in catalogue("en")


def translate(lang: str, key: str, /, **fmt: Any) -> str:
    """`key` in `lang`, formatted with `fmt`; see the module docstring for a missing key."""
    text = catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE).get(key)
    if text is None:
        if _strict():
            raise KeyError(f"no UI string {key!r} in dashboard/locale/{lang}.toml")
        if (lang, key) not in _warned:
            _warned.add((lang, key))
            _log.warning("missing UI string %r in %s; falling back to English", key, lang)
        text = catalogue(DEFAULT_LANGUAGE).get(key, key)
    return text.format(**fmt) if fmt else text


def t(key: str, /, **fmt: Any) -> str:
    """The UI string `key` in the current language, formatted with `fmt`."""
    return translate(current_language(), key, **fmt)


def t_or(key: str, default: str, /, **fmt: Any) -> str:
    """`key` translated if the catalogue has it, else `default` (data values such as a
    team name or a channel the vocabulary does not know are shown as they are)."""
    return t(key, **fmt) if has(key) else default


def value_label(dimension: str, value: Any) -> str:
    """A dimension value in people's words: 'phone' -> 'Telefon' in Swedish, 'Phone' in
    English; a value the catalogue does not know (a team, a region) as it is."""
    if value is None:
        return "—"
    return t_or(f"value.{dimension}.{value}", str(value))


def dimension_label(dimension: str) -> str:
    """A dimension's name: 'issue_type' -> 'Ärendetyp' / 'Issue type'."""
    return t_or(f"dim.{dimension}", dimension.replace("_", " "))


def column_label(name: str) -> str:
    """A table column's header in people's words: 'ci_low' -> '95 % low' / '95 % lägsta';
    a dimension column by its name; an unknown column as it is."""
    return t_or(f"col.{name}", t_or(f"dim.{name}", name))


def no_data_reason(reason: str) -> str:
    """Why a KPI has no data (metrics.supplied's sentence) in the UI language."""
    from metrics.supplied import translated_reason

    return translated_reason(reason, current_language())


def kpi_label(name: str) -> str:
    """A KPI's label in the current language (kpi.<name>.label)."""
    return t(f"kpi.{name}.label")


def metric_label(name: str, default: str) -> str:
    """An experiment metric's label: the KPI's where it is one, else xmetric.<name>, else
    `default` (the registry's English label)."""
    return t_or(f"kpi.{name}.label", t_or(f"xmetric.{name}", default))


def interval_text(text: str) -> str:
    """A catalogue interval description ('Wilson score 95 % interval') in the current language;
    one the catalogues do not know is shown as it is."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return t_or(f"interval.{slug}", text)


def kpi_definition(name: str) -> str:
    """A KPI's definition in people's words (kpi.<name>.definition)."""
    return t(f"kpi.{name}.definition")


def month_name(month: int, *, short: bool = True) -> str:
    """A month's name (1..12) in the current language: 'Oct' / 'okt', 'October' / 'oktober'."""
    names = t("date.months_short" if short else "date.months_long").split(",")
    return names[month - 1].strip()


def date_text(day: date, *, year: bool = True) -> str:
    """'1 Sep 2026' / '1 sep 2026' (without the year when `year` is False)."""
    text = f"{day.day} {month_name(day.month)}"
    return f"{text} {day.year}" if year else text


def month_text(day: date) -> str:
    """'September 2026' / 'september 2026'."""
    return f"{month_name(day.month, short=False)} {day.year}"


@contextmanager
def use_language(lang: str) -> Iterator[None]:
    """Render in `lang` inside the block, whatever the session says (reports, tests)."""
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    token = _forced.set(lang)
    try:
        yield
    finally:
        _forced.reset(token)


def _in_streamlit() -> bool:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - streamlit is a dependency
        return False
    return get_script_run_ctx(suppress_warning=True) is not None


def setting_language() -> str | None:
    """The `language` setting in the store, if the settings layer has one (else None).

    Read through metrics.settings: `load_language(store)` if it exists, else the `language`
    attribute of what `load_ui_settings` or `load_settings` returns.
    """
    try:
        from dashboard.store_access import cached
        from metrics import settings as ms

        lang = None
        if hasattr(ms, "load_language"):
            lang = cached(ms.load_language)
        else:
            for name in ("load_ui_settings", "load_settings"):
                if hasattr(ms, name):
                    lang = getattr(cached(getattr(ms, name)), "language", None)
                    if lang is not None:
                        break
    except Exception:  # noqa: BLE001 - a store problem must not hide every label
        _log.warning("could not read the language setting; using %s", DEFAULT_LANGUAGE)
        return None
    return lang if lang in LANGUAGES else None


def is_language(value: object) -> TypeGuard[Language]:
    """Whether `value` is one of LANGUAGES (and so typed as a Language)."""
    return value in LANGUAGES


def current_language() -> Language:
    """The UI language now: forced context, sidebar choice, ?lang=, setting, English."""
    forced = _forced.get()
    if is_language(forced):
        return forced
    if not _in_streamlit():
        return DEFAULT_LANGUAGE
    import streamlit as st

    chosen = st.session_state.get(SESSION_KEY)
    if is_language(chosen):
        return chosen
    url = st.query_params.get(QUERY_PARAM)
    if is_language(url):
        return url
    setting = setting_language()
    return setting if is_language(setting) else DEFAULT_LANGUAGE


def language_switch() -> Language:
    """The sidebar's Svenska / English switch; the choice is kept in the session and the URL
    (?lang=), so a refresh or a shared link keeps it."""
    import streamlit as st

    if st.session_state.get(SESSION_KEY) not in LANGUAGES:
        st.session_state[SESSION_KEY] = current_language()  # URL, setting or default
    # A change of the setting (on the Settings page or by `cx settings set`) is followed, so
    # whoever changed it sees it at once; the switch still overrides it until the next change.
    setting = setting_language()
    seen = st.session_state.get(SETTING_SEEN_KEY)
    if setting is not None and seen is not None and setting != seen:
        st.session_state[SESSION_KEY] = setting
    st.session_state[SETTING_SEEN_KEY] = setting
    picked = st.sidebar.radio(
        "Språk / Language",
        LANGUAGES,
        key=SESSION_KEY,  # the widget's state is the session's language
        format_func=LANGUAGE_NAMES.get,
        horizontal=True,
    )
    if st.query_params.get(QUERY_PARAM) != picked:
        st.query_params[QUERY_PARAM] = picked
    return picked
