"""AppTests of what the numbers look like on the pages, in Swedish and English: shares in %
with the language's decimal mark, a duration and its change in the same unit, counts with
the language's thousands separator, money with its currency; and no internal name anywhere
a person reads."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from metrics.catalogue import CATALOGUE
from metrics.periods import overview
from metrics.units import NBSP, format_count, format_delta, format_probability, format_value

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "dashboard" / "views"
SEP = (date(2026, 9, 1), date(2026, 10, 1))  # the sample's last full month (conftest)

# Names of the code and the docs that must never reach a person's screen.
INTERNAL = re.compile(
    r"ci_low|ci_high|frt_median|frt_live|frt_written|SEED_FACTS|\b[a-z]+_s\b|\bshare\b(?! of)|"
    r"\bsmall_sample\b|\bp_misses\b|\bprob_real\b"
)


def visible_texts(at: AppTest) -> list[str]:
    """Every text a person reads on the page: titles, markdown, captions, alerts, the cards'
    labels, values, changes and help, widget labels, and the tables' column headers."""
    texts = [
        e.value
        for kind in ("title", "header", "subheader", "markdown", "caption")
        for e in getattr(at, kind)
    ]
    texts += [e.value for kind in ("info", "warning", "success") for e in getattr(at, kind)]
    for m in at.metric:
        texts += [m.label, m.value, m.proto.delta, m.proto.help]
    for kind in ("button", "selectbox", "radio", "text_input", "expander"):
        texts += [getattr(w, "label", "") for w in getattr(at, kind)]
    for df in at.dataframe:
        config = json.loads(df.proto.columns or "{}")
        for name in df.value.columns:
            texts.append(str((config.get(name) or {}).get("label") or name))
    for table in at.table:
        texts += [str(c) for c in table.value.columns]
    return [x for x in texts if x]


def _start(page: str, db: Path, monkeypatch, lang: str) -> AppTest:
    monkeypatch.setenv("CX_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(VIEWS / page), default_timeout=120)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _cards(at: AppTest, lang: str) -> dict[str, object]:
    from dashboard.i18n import has, translate

    # A card's title is the KPI's short name where it has one, else its label.
    by_label = {
        translate(lang, f"kpi.{k}.short" if has(f"kpi.{k}.short") else f"kpi.{k}.label"): k
        for k in CATALOGUE
    }
    return {by_label[m.label]: m for m in at.metric}


@pytest.fixture(scope="module", params=["sv", "en"])
def lang(request) -> str:
    return request.param


def test_overview_numbers_read_in_the_language(sample_store, monkeypatch, lang) -> None:
    at = _start("overview.py", sample_store.path, monkeypatch, lang)
    compare, _ = overview(sample_store, *SEP)
    rows = {r["kpi"]: r for r in compare.iter_rows(named=True)}
    cards = _cards(at, lang)
    assert len(cards) == 19
    for name, card in cards.items():
        r, unit = rows[name], CATALOGUE[name].unit
        assert card.value == format_value(r["value"], unit, lang=lang), name
    # The missing-target table's counts and distances read in the language too.
    table = at.table[0].value
    grouped = r"\d{1,3}(\u00a0\d{3})*" if lang == "sv" else r"\d{1,3}(,\d{3})*"
    assert all(re.fullmatch(grouped, n) for n in table["n"]), table["n"].tolist()
    assert any(int(re.sub(r"\D", "", n)) >= 1000 for n in table["n"])
    fcr = cards["fcr"].value
    # Hand-checked shape: "70,8 %" in Swedish, "70.8 %" in English.
    assert re.fullmatch(r"\d{1,3},\d %" if lang == "sv" else r"\d{1,3}\.\d %", fcr), fcr
    # A duration and its change in the same unit ("6,1 min" with "+0,1 min", never "+6 s").
    durations = [k for k in cards if CATALOGUE[k].unit in ("seconds", "hours")]
    assert durations
    for name in durations:
        value, delta = cards[name].value, cards[name].proto.delta
        if not delta:
            continue
        assert value.split(" ")[-1] == delta.split(" ")[-1], (name, value, delta)
        r = rows[name]
        expected = format_delta(r["delta"], CATALOGUE[name].unit, lang=lang, like=r["value"])
        assert delta == expected, name
    shares = [k for k in cards if CATALOGUE[k].unit == "share" and cards[k].proto.delta]
    pp = " p.e." if lang == "sv" else " pp"
    assert shares and all(cards[k].proto.delta.endswith(pp) for k in shares)
    # "n = 1 234" (no-break space) in Swedish, "n = 1,234" in English, under each card.
    badges = " ".join(m.value for m in at.markdown)
    for name in cards:
        assert f"n = {format_count(rows[name]['n'], lang=lang)}" in badges, name
    big = max(rows[k]["n"] for k in cards)
    assert big >= 1000 and (NBSP if lang == "sv" else ",") in format_count(big, lang=lang)


def test_overview_shows_no_internal_names(sample_store, monkeypatch, lang) -> None:
    at = _start("overview.py", sample_store.path, monkeypatch, lang)
    leaks = [text for text in visible_texts(at) if INTERNAL.search(text)]
    assert not leaks, leaks


def test_experiment_readout_numbers_in_the_language(sample_store, monkeypatch, lang) -> None:
    at = _start("experiment_list.py", sample_store.path, monkeypatch, lang)
    table = at.dataframe[1].value
    dec = "," if lang == "sv" else "."
    to = " till " if lang == "sv" else " to "
    # Every interval has its unit once, every lift its unit, in the language's numbers.
    for interval in table["95 % interval"]:
        assert to in interval and re.search(rf"\d\{dec}\d", interval), interval
    lifts = list(table["lift"])
    assert all(re.search(rf"[+-]?\d+(\{dec}\d+)?", x) for x in lifts), lifts
    p_better = at.metric[0].value
    assert re.fullmatch(rf"([<>] )?\d{{1,3}}\{dec}\d %", p_better), p_better
    header = " ".join(c.value for c in at.caption)
    assert ("enheter" if lang == "sv" else "units") in header
    leaks = [text for text in visible_texts(at) if INTERNAL.search(text)]
    assert not leaks, leaks


def test_churn_money_carries_the_currency(sample_store, monkeypatch, lang) -> None:
    at = _start("churn.py", sample_store.path, monkeypatch, lang)
    hovers = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        for trace in spec.get("data", []):
            hovers += [h for h in trace.get("hovertext") or [] if isinstance(h, str)]
    money = [h for h in hovers if " kr" in h or "SEK " in h]
    assert money, hovers[:5]
    if lang == "sv":
        assert all(re.search(r"\d kr", h) for h in money), money[:3]
    else:
        assert all(re.search(r"SEK \d", h) for h in money), money[:3]
    separators = {
        json.loads(c.proto.spec)["layout"].get("separators") for c in at.get("plotly_chart")
    }
    assert separators == {", " if lang == "sv" else ".,"}


def test_explore_tables_read_values_in_the_kpis_unit(sample_store, monkeypatch) -> None:
    at = _start("explore.py", sample_store.path, monkeypatch, "sv")
    leaks = [text for text in visible_texts(at) if INTERNAL.search(text)]
    assert not leaks, leaks  # e.g. p_misses as a column header
    # The numbers stay numbers (sorting, selection); the text shown is dashboard.numbers' in
    # Swedish, whatever the browser's language: a decimal comma, "< 1 %", a space in 1 234.
    grid = at.dataframe[0]
    data = grid.value
    shown = pa.ipc.open_stream(grid.proto.arrow_data.styler.display_values).read_all()
    kpi = CATALOGUE[at.selectbox(key="ex_kpi").value]
    for i in range(min(5, len(data))):
        for c in ("value", "ci_low", "ci_high"):
            expected = format_value(data[c].iloc[i], kpi.unit, lang="sv")
            assert shown[c][i].as_py() == expected, (c, i)
        assert shown["n"][i].as_py() == format_count(int(data["n"].iloc[i]), lang="sv")
        p = data["p_misses"].iloc[i]
        if p == p:  # not NaN
            assert shown["p_misses"][i].as_py() == format_probability(p, lang="sv")
    assert any("," in v for v in shown["value"].to_pylist())  # a decimal comma, not a point
    assert data["value"].dtype.kind == "f"  # sorts as numbers
