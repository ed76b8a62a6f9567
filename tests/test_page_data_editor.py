"""AppTest of the Data page's mapping editor: a file with unknown headers is mapped by hand,
previewed typed and validated, loaded, downloaded as TOML that `cx ingest` loads the same way,
and a batch with too many rejected rows asks before loading."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path

import pytest
import streamlit as st
from conftest import start_page
from streamlit.testing.v1 import AppTest

from dashboard.cli.main import main
from metrics.ingest.errors import accepted_share
from metrics.store import open_store

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "dashboard" / "views" / "data.py"
NAME = "call_log.csv"
PREFIX = f"me_contacts_{NAME}"
BAD_ROW = 3  # its "Hold (sec)" is "soon"
HEADER = "Ref No;Logged;Medium;Hold (sec);Talk time;Client"


def _row(i: int) -> str:
    day = i % 28 + 1  # days past 12: the slashed dates are day/month
    hold = "soon" if i == BAD_ROW else str(i * 3)
    return f"CC-{1000 + i};{day:02d}/03/2026 {i % 24:02d}:{i % 60:02d};Telefon;{hold};0:{i % 60:02d}:07;K{500 + i % 40}"


def call_log(rows: int) -> bytes:
    """A call-centre log none of whose required headers is a known name or alias."""
    return ("\n".join([HEADER, *(_row(i) for i in range(1, rows + 1))]) + "\n").encode()


def expected(i: int) -> tuple:
    """Row i as the store should hold it, worked out by hand from _row."""
    day = i % 28 + 1
    return (
        f"CC-{1000 + i}",
        "phone",
        datetime(2026, 3, day, i % 24, i % 60),
        float(i * 3),
        float((i % 60) * 60 + 7),
        f"K{500 + i % 40}",
    )


COLUMNS = "contact_id, channel, opened_at, wait_s, handle_s, customer_id"


@pytest.fixture
def app(store, monkeypatch, pii_key_file) -> AppTest:
    return start_page(PAGE, store.path, monkeypatch)


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """What each download button would hand the browser, by key (AppTest keeps no media)."""
    got: dict = {}
    real = st.download_button

    def spy(label, data, *args, **kwargs):
        got[kwargs.get("key") or label] = data
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    return got


def _upload(app: AppTest, body: bytes) -> None:
    app.file_uploader[0].upload(NAME, body, "text/csv").run()
    assert not app.exception


def _map_by_hand(app: AppTest) -> None:
    """Pick the columns the way an analyst would: a selectbox per canonical column."""
    app.selectbox(key=f"{PREFIX}_contact_id").select("Ref No").run()
    app.selectbox(key=f"{PREFIX}_opened_at").select("Logged").run()
    app.selectbox(key=f"{PREFIX}_wait_s").select("Hold (sec)").run()
    app.selectbox(key=f"{PREFIX}_channel").select("\x00constant").run()
    app.selectbox(key=f"{PREFIX}_channel_constant").select("phone").run()
    assert not app.exception


def _frame(app: AppTest, column: str):
    """The first table on the page with `column` (AppTest finds dataframes by position)."""
    return next(d.value for d in app.dataframe if column in d.value.columns)


def _stored(store) -> list[tuple]:
    return store.cursor().execute(f"SELECT {COLUMNS} FROM contacts ORDER BY contact_id").fetchall()


def test_editor_opens_when_the_file_does_not_map_and_suggests_by_shape(app):
    _upload(app, call_log(30))
    # No required header is known, so the editor opens by itself; its suggestions fill them.
    assert app.subheader[0].value == "Mapping"
    assert any("does not map onto this table by itself" in c.value for c in app.caption)
    assert not app.error
    # One selectbox per canonical column of contacts, preset by name or by value shape.
    picks = {
        s.key.removeprefix(f"{PREFIX}_"): s.value for s in app.selectbox if s.key.startswith(PREFIX)
    }
    assert {"contact_id", "opened_at", "wait_s", "handle_s", "channel", "team"} <= set(picks)
    assert picks["handle_s"] == "Talk time"  # an alias: the automatic mapping had it
    assert picks["opened_at"] == "Logged"  # "05/03/2026 14:02" values: dates and times
    assert picks["channel"] == "Medium"  # Telefon: a channel word
    assert picks["customer_id"] == "Client"  # close to the alias "client id"
    assert picks["team"] == "\x00none"
    # A choice's label names the column's value shape; the values themselves are not shown.
    box = app.selectbox(key=f"{PREFIX}_opened_at")
    assert box.format_func("Logged") == "Logged · dates and times"
    assert box.format_func("Talk time") == "Talk time · durations"


def test_editor_maps_previews_typed_and_validated_and_loads(app, store):
    rows = 120  # one bad row in 120 is under the 1 % a batch may reject
    _upload(app, call_log(rows))
    _map_by_hand(app)
    assert not app.error
    preview = _frame(app, "problem")
    first = preview.iloc[0]
    assert first["contact_id"] == "CC-1001" and first["channel"] == "phone"
    assert first["opened_at"] == datetime(2026, 3, 2, 1, 1) and first["wait_s"] == 3.0
    assert first["handle_s"] == 67.0  # "0:01:07", typed
    bad = preview[preview["row_number"] == BAD_ROW].iloc[0]
    assert "wait_s" in bad["problem"] and "soon" in bad["problem"]
    shown = [m.value for m in app.markdown if m.value.startswith(":orange[")]
    assert shown == [
        ":orange[1 of the first 20 rows have a problem and would be rejected: see the problem "
        "column.]"
    ]

    app.button(key="data_ingest").click().run()
    assert not app.exception and not app.error
    assert (
        "read 120 rows: 119 inserted, 0 updated, 0 unchanged, 1 rejected" in app.warning[-1].value
    )
    got = _stored(store)
    want = sorted(expected(i) for i in range(1, rows + 1) if i != BAD_ROW)
    assert got == want


def test_editor_toml_download_loads_the_same_file_identically_via_the_cli(
    app, store, downloads, tmp_path
):
    body = call_log(120)
    _upload(app, body)
    _map_by_hand(app)
    toml_text = downloads["me_download"]
    spec = tomllib.loads(toml_text)
    assert spec["table"] == "contacts"
    assert spec["columns"] == {
        "Ref No": "contact_id",
        "Client": "customer_id",
        "Logged": "opened_at",
        "Hold (sec)": "wait_s",
        "Talk time": "handle_s",
    }
    assert spec["constants"] == {"channel": "phone"}
    app.button(key="data_ingest").click().run()
    assert not app.exception and not app.error

    mapping = tmp_path / "call_log_mapping.toml"
    mapping.write_text(toml_text, encoding="utf-8")
    source = tmp_path / NAME
    source.write_bytes(body)
    db = tmp_path / "cli.duckdb"
    open_store(db).close()
    code = main(
        ["ingest", str(source), "--table", "contacts", "--mapping", str(mapping), "--db", str(db)]
    )
    assert code == 0
    with open_store(db) as cli_store:
        via_cli = _stored(cli_store)
    assert via_cli == _stored(store) and len(via_cli) == 119


def test_editor_bad_format_shows_one_line_error_not_a_traceback(app, store):
    _upload(app, call_log(20))
    _map_by_hand(app)
    app.text_input(key=f"{PREFIX}_opened_at_format").input("dd/mm/yyyy").run()
    assert not app.exception
    assert app.error[0].value.startswith("This mapping cannot be used")
    message = app.code[0].value
    assert "\n" not in message and "[formats] opened_at" in message and "%d/%m/%Y" in message
    assert not [b for b in app.button if b.key == "data_ingest"]
    assert store.cursor().execute("SELECT count(*) FROM ingest_batches").fetchall()[0][0] == 0


def test_editor_declared_format_decides_ambiguous_dates_in_the_preview(app):
    _upload(app, call_log(10))  # days 2-11 only: day/month or month/day cannot be told
    _map_by_hand(app)
    assert _frame(app, "problem").iloc[0]["opened_at"] == datetime(2026, 2, 3, 1, 1)
    assert any("every slashed date could be" in w.value for w in app.warning)  # a warning
    app.text_input(key=f"{PREFIX}_opened_at_format").input("%d/%m/%Y %H:%M").run()
    assert not app.exception and not app.error
    assert _frame(app, "problem").iloc[0]["opened_at"] == datetime(2026, 3, 2, 1, 1)


def test_editor_never_offers_a_column_dropped_as_personal_data(app):
    lines = call_log(5).decode().splitlines()
    body = "\n".join([lines[0] + ";Namn", *(line + ";Ann Berg" for line in lines[1:])]) + "\n"
    app.file_uploader[0].upload(NAME, body.encode(), "text/csv").run()
    assert not app.exception
    offered = app.selectbox(key=f"{PREFIX}_team").options  # labels: "header · shape"
    assert not [o for o in offered if o.startswith("Namn")]
    assert [o for o in offered if o.startswith("Client")]


def test_editor_is_offered_for_a_file_that_maps(app):
    body = b"contact_id,channel,opened_at\nA1,phone,2026-03-05 10:00\nA2,chat,2026-03-05 11:00\n"
    app.file_uploader[0].upload("ok.csv", body, "text/csv").run()
    assert not app.error and not [s for s in app.selectbox if s.key.startswith("me_")]
    app.toggle(key="me_open_contacts").set_value(True).run()
    assert not app.exception and not app.error
    box = app.selectbox(key="me_contacts_ok.csv_channel")
    assert box.value == "channel"  # starts from the automatic mapping
    assert not [c for c in app.caption if c.value.startswith("Still filled")]
    box.select("\x00none").run()  # the header still matches channel by its name: say so
    assert not app.exception
    assert [c.value for c in app.caption if c.value.startswith("Still filled")] == [
        "Still filled by a file column whose name matches it: channel. To leave one out, pick "
        "a value for it, or rename that column in the file."
    ]


# -- too many rejected rows: grouped reasons, then "Load anyway" ------------------------------
def test_reject_share_over_the_limit_asks_then_loads_anyway(app, store):
    _upload(app, call_log(10))  # one bad row in ten: 10 % rejected
    _map_by_hand(app)
    # Days 2-11 alone do not say day/month or month/day: the analyst says so.
    app.radio(key=f"{PREFIX}_dayfirst").set_value("dmy").run()
    app.button(key="data_ingest").click().run()
    assert not app.exception
    message = app.error[0].value
    assert message.startswith(
        "Not loaded: 1 of 10 rows (10.0 %) would be rejected, more than the 1.0 % allowed."
    )
    groups = _frame(app, "examples")
    assert groups["column"].tolist() == ["wait_s"] and groups["count"].tolist() == [1]
    assert str(BAD_ROW) in groups["examples"][0]
    assert _stored(store) == []  # nothing written before the analyst confirms
    anyway = app.button(key="data_load_anyway")
    assert anyway.label == "Load anyway, leaving out the rejected rows (1)"
    anyway.click().run()
    assert not app.exception and not app.error
    assert "read 10 rows: 9 inserted, 0 updated, 0 unchanged, 1 rejected" in app.warning[-1].value
    assert _stored(store) == sorted(expected(i) for i in range(1, 11) if i != BAD_ROW)


def test_accepted_share_rounds_up_so_the_same_batch_passes():
    share = 1 / 12  # 0.08333…: accepting exactly it can leave 12 x share just under one row
    assert accepted_share(share) == 0.0834 >= share
    assert accepted_share(0.01) == 0.01 and accepted_share(1.0) == 1.0
    assert accepted_share(0.07) == 0.07  # 0.07 * 10_000 is 700.0000000000001: noise, not more


ZENDESK = (
    b"Id,Requester,Via,Ticket type,Created at,Solved at,Group,Priority\n"
    b"101,Ann Berg,Web form,question,2026-03-05 10:00,2026-03-05 12:00,Support,normal\n"
    b"102,Bo Lind,Email,incident,2026-03-05 11:00,,Billing,high\n"
)


def test_editor_offers_the_preset_the_headers_match(app):
    app.file_uploader[0].upload("tickets.csv", ZENDESK, "text/csv").run()
    assert not app.exception
    offered = app.selectbox(key="me_contacts_tickets.csv_team").options
    assert not [o for o in offered if o.startswith("Requester")]
    assert app.info[0].value == "This looks like a Zendesk export."
    app.button(key="me_use_preset").click().run()
    assert not app.exception and not app.error
    assert app.selectbox(key="data_preset").value == "zendesk"
    mapping = dict(_frame(app, "goes to").itertuples(index=False, name=None))
    assert mapping["Id"] == "contact_id" and mapping["Via"] == "channel"


def test_editor_in_swedish(store, monkeypatch, pii_key_file):
    from dashboard.i18n import use_language

    monkeypatch.setenv("CX_DB", str(store.path))
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.query_params["lang"] = "sv"
    at.run()
    with use_language("sv"):  # format_func runs in the test's thread
        _upload(at, call_log(10))
        assert at.subheader[0].value == "Mappning"
        box = at.selectbox(key=f"{PREFIX}_handle_s")
        assert box.format_func("Talk time") == "Talk time · tidslängder"
        assert box.format_func("\x00none") == "— finns inte i filen"
        assert at.radio(key=f"{PREFIX}_dayfirst").options == [
            "avgör per kolumn",
            "dag/månad",
            "månad/dag",
        ]
        assert at.button(key="data_ingest").label == "Läs in"


def test_editor_shows_a_hostile_file_name_as_text(app):
    name = "[click](http://evil.example)![x](http://evil.example/i.png).csv"
    app.file_uploader[0].upload(name, call_log(5), "text/csv").run()
    assert not app.exception
    help_line = next(c.value for c in app.caption if c.value.startswith("Reuse it"))
    assert "](http" not in help_line and "\\[click\\]" in help_line
