"""AppTest of the Targets page: edits persist in the store, reset restores the default."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import start_page
from streamlit.testing.v1 import AppTest

from metrics.catalogue import CATALOGUE
from metrics.targets import load_targets

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "targets.py"


@pytest.fixture
def app(sample_store, monkeypatch) -> AppTest:
    at = start_page(PAGE, sample_store.path, monkeypatch, errors_ok=True)
    return at


def _row(at: AppTest, kpi: str):
    table = at.dataframe[0].value
    return table[(table["kpi"] == kpi) & table["band"].isna()].iloc[0]


def test_targets_table_shows_catalogue_defaults_and_sources(app):
    table = app.dataframe[0].value
    assert set(CATALOGUE) <= set(table["kpi"])
    fcr = _row(app, "fcr")
    assert fcr["target"] == pytest.approx(CATALOGUE["fcr"].target)
    assert fcr["target shown"] == "80.0 %"
    assert fcr["source"] == CATALOGUE["fcr"].target_source
    assert not fcr["overridden"]


def test_targets_edit_share_in_percent_persists_as_fraction(app, sample_store):
    app.selectbox(key="tgt_kpi").select("First contact resolution").run()
    field = app.number_input(key="tgt_value_fcr:None")
    assert field.value == pytest.approx(80.0)  # shares are edited in percent
    field.set_value(85.0).run()
    app.text_input(key="tgt_source_fcr:None").input("Q3 plan").run()
    app.button(key="tgt_save").click().run()
    assert not app.exception and not app.error
    assert "Saved: First contact resolution target 85." in app.success[0].value
    stored = load_targets(sample_store)["fcr"]
    assert stored.value == pytest.approx(0.85) and stored.source == "Q3 plan"
    assert stored.overridden
    row = _row(app, "fcr")
    assert row["target"] == pytest.approx(0.85) and row["overridden"]


def test_targets_reset_restores_default(app, sample_store):
    app.selectbox(key="tgt_kpi").select("Net Promoter Score").run()
    app.number_input(key="tgt_value_nps:None").set_value(30.0).run()
    app.button(key="tgt_save").click().run()
    assert load_targets(sample_store)["nps"].value == pytest.approx(30.0)
    app.button(key="tgt_reset").click().run()
    assert not app.exception and not app.error
    assert "Reset: Net Promoter Score uses its default again." in app.success[0].value
    restored = load_targets(sample_store)["nps"]
    assert restored.value == pytest.approx(CATALOGUE["nps"].target) and not restored.overridden
    assert app.number_input(key="tgt_value_nps:None").value == pytest.approx(20.0)


def test_targets_value_off_scale_shows_error_and_saves_nothing(app, sample_store):
    app.selectbox(key="tgt_kpi").select("First contact resolution").run()
    app.number_input(key="tgt_value_fcr:None").set_value(150.0).run()
    app.button(key="tgt_save").click().run()
    assert not app.exception
    assert app.error[0].value.startswith("Not saved: target for fcr must be within 0..1")
    assert not load_targets(sample_store)["fcr"].overridden


def test_targets_band_of_banded_kpi_editable(app, sample_store):
    name = "Churn by satisfaction band — very dissatisfied"
    app.selectbox(key="tgt_kpi").select(name).run()
    key = "tgt_value_churn_by_satisfaction:very dissatisfied"
    app.number_input(key=key).set_value(60.0).run()
    app.button(key="tgt_save").click().run()
    assert not app.exception and not app.error
    t = load_targets(sample_store)["churn_by_satisfaction:very dissatisfied"]
    assert t.value == pytest.approx(0.60) and t.overridden


def test_targets_page_sets_a_target_for_one_channel(app, sample_store):
    app.selectbox(key="tgt_kpi").select("First contact resolution").run()
    app.selectbox(key="tgt_scope_dim").select("channel").run()
    app.text_input(key="tgt_scope_value").input("email").run()
    app.number_input(key="tgt_value_fcr:None").set_value(70.0).run()
    app.button(key="tgt_save").click().run()
    assert not app.exception and not app.error
    targets = load_targets(sample_store)
    assert targets["fcr@channel=email"].value == pytest.approx(0.70)
    assert targets["fcr"].value == pytest.approx(0.80)  # the KPI's own target is untouched
