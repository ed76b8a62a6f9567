"""Rejection reasons in the page's language (dashboard/reasons.py).

Real ingests make the reasons (every kind of bad value, duplicate keys, times out of order,
frozen assignments, --insert-only): in English each comes back unchanged (the patterns
follow metrics/ingest's wording), in Swedish none keeps an English phrase, and what the file
said (values, column names) is kept."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import start_page
from test_ingest_merge import ASSIGN, FIRST, _csv, _experiments

from dashboard.i18n import translate
from dashboard.reasons import _COMPILED, NOTES, PHRASES, reason_text, reasons_in
from metrics.ingest import ingest_file
from metrics.store import Store

# English words of the reasons' fixed phrases; a Swedish reason holds none of them.
ENGLISH = (" expected", " is not ", " is empty", "duplicate ", " is before ", " does not ",
           " is outside ", " contradicts ", "cannot change", " refuses ", " with the same key",
           " part over ", " in the preset")  # fmt: skip

CONTACTS = _csv(
    "contact_id,channel,opened_at,resolved_at,abandoned,wait_s,issue_type",
    "C1,phone,2026-03-05 10:00,2026-03-05 11:00,no,12,billing",
    "C2,Fax,2026-03-05 10:00,,no,12,billing",  # unknown channel
    "C3,chat,2026-03-05 10:00,,maybe,12,billing",  # not yes/no
    "C4,chat,2026-03-05 10:00,,no,-5,billing",  # negative seconds
    "C5,chat,not a time,,no,12,billing",  # not a time
    "C6,chat,1850-03-05 10:00,,no,12,billing",  # year out of range
    "C7,,2026-03-05 10:00,,no,12,billing",  # empty required
    "C8,chat,2026-03-05 10:00,2026-03-04 10:00,no,12,billing",  # resolved before opened
    "C1,chat,2026-03-06 10:00,,no,12,billing",  # duplicate key
    "C9,email,2026-03-29 02:30,,no,12,billing",  # clocks went forward in Stockholm
    "C10,chat,2026-03-05 10:00,,no,12,fishing",  # unknown issue type
)
SURVEYS = _csv(
    "response_id,answered_at,nps,csat",
    "R1,2026-03-05 10:00,11,4",  # nps out of 0-10
    "R2,2026-03-05 10:00,9,9",  # csat out of 1-5
    "R3,05/13/2026 10:00,9,4",
    "R4,13/05/2026 10:00,9,4",  # contradicts the order the column was read in
)


def _reasons(store: Store) -> list[str]:
    rows = store.cursor().execute("SELECT reason FROM rejected_rows ORDER BY 1").fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def reasons(store: Store) -> list[str]:
    kw = {"max_reject_share": 1.0}
    ingest_file(
        store, CONTACTS, table="contacts", file_name="c.csv", timezone="Europe/Stockholm", **kw
    )
    ingest_file(store, SURVEYS, table="surveys", file_name="s.csv", **kw)
    _experiments(store)
    ingest_file(store, ASSIGN, table="assignments", file_name="a1.csv")
    changed = _csv(
        "experiment_id,unit_id,variant,assigned_at",
        "E_RUN,U1,treatment,2026-03-01 10:00",
        "E_DONE,U1,treatment,2026-03-01 10:00",
    )
    ingest_file(store, changed, table="assignments", file_name="a2.csv", **kw)
    ingest_file(store, FIRST, table="contacts", file_name="first.csv")
    moved = _csv("contact_id,channel,opened_at,team,Updated at", "K1,phone,2026-03-05 10:00,west,")
    ingest_file(store, moved, table="contacts", file_name="io.csv", insert_only=True, **kw)
    return _reasons(store)  # fmt: skip


def test_every_kind_of_reason_is_made(reasons: list[str]) -> None:
    """The files above do make each phrase the page translates (else the rest proves little)."""
    text = "\n".join(reasons)
    for phrase in ("is not known", "is not yes/no", "is not a number of seconds", "is empty",
                   "is not a date and time", "is outside", "is before", "duplicate contact_id",
                   "clocks went forward", "is not a whole number", "contradicts the column's",
                   "is running", "is decided", "--insert-only"):  # fmt: skip
        assert phrase in text, phrase


def test_english_reasons_come_back_unchanged(reasons: list[str]) -> None:
    assert [reason_text(r, "en") for r in reasons] == reasons


# Values for the phrases' variable parts, where a pattern wants more than any text.
SAMPLE = {"lo": "1", "hi": "5", "n": "3", "row": "2", "sep": ".", "lead": "", "tz": "Europe/Oslo",
          "end": "resolved_at", "start": "opened_at", "target": "customers", "name": "channel",
          "column": "customer_id", "why": "", "value": "true"}  # fmt: skip


@pytest.mark.parametrize("key", [k for k, _ in PHRASES] + [f"note_{k}" for k, _ in NOTES])
def test_each_phrase_matches_its_english_text_and_has_a_swedish_one(key: str) -> None:
    """en.toml's [reject] text of each pattern is the phrase the pattern matches (so the file
    documents what ingest writes), and the Swedish text carries no English phrase."""
    pattern = dict(_COMPILED)[key]
    english = translate(
        "en", f"reject.{key}", **{g: SAMPLE.get(g, "x") for g in pattern.groupindex}
    )
    assert pattern.search(english), (key, english)
    swedish = reason_text(english, "sv")
    assert not [w for w in ENGLISH if w in swedish], (key, swedish)


def test_swedish_reasons_keep_no_english_phrase_and_keep_the_values(reasons: list[str]) -> None:
    swedish = reasons_in(reasons, "sv")
    for before, after in zip(reasons, swedish, strict=True):
        assert not [w for w in ENGLISH if w in after], (before, after)
        for quoted in ("'Fax'", "'maybe'", "'-5'", "'fishing'", "'11'", "'treatment'"):
            assert (quoted in before) == (quoted in after), (before, after)
    assert "channel 'Fax' är okänt; förväntade ett av " in "\n".join(swedish)
    assert any(s.startswith("dubblett av contact_id 'C1': rad ") for s in swedish)


def test_combined_reasons_are_each_translated() -> None:
    both = (
        "channel 'Fax' is not known; expected one of phone, chat (or map it in a mapping "
        "file's [values.channel]); abandoned 'maybe' is not yes/no; expected yes/no, ja/nej, "
        "true/false or 1/0"
    )
    assert reason_text(both, "sv") == (
        "channel 'Fax' är okänt; förväntade ett av phone, chat (eller översätt det i "
        "mappningsfilens [values.channel]); abandoned 'maybe' är inte ja/nej; förväntade "
        "ja/nej, yes/no, true/false eller 1/0"
    )
    assert reason_text("something new happened", "sv") == "something new happened"
    assert reason_text(None, "sv") is None


def test_data_page_in_swedish_shows_rejected_rows_in_swedish(
    sample_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    ingest_file(sample_store, CONTACTS, table="contacts", file_name="bad.csv", max_reject_share=1.0)
    page = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "data.py"
    monkeypatch.setenv("CX_DB", str(sample_store.path))
    at = start_page(page, sample_store.path, monkeypatch, errors_ok=True)
    at.query_params["lang"] = "sv"
    at.run()
    shown = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    reasons = pl.from_pandas(shown)["reason"].to_list()
    assert any("är okänt; förväntade" in r for r in reasons), reasons
    assert not any(" expected" in r for r in reasons), reasons


def test_notes_on_how_files_were_read_in_swedish(store: Store) -> None:
    """Real notes: an ambiguous date column, [dedupe] in file order, an [aggregate] rule for
    a column the file lacks, rows left out by [filter]."""
    from pathlib import Path

    shapes = Path(__file__).parent / "data" / "ingest" / "shapes"
    notes = ingest_file(store, shapes / "contacts_ambiguous.csv", table="contacts").warnings
    body = _csv("contact_id,channel,opened_at,Status", "D1,phone,2026-03-05 10:00,open",
                "D1,chat,2026-03-05 11:00,open", "D2,chat,2026-03-05 11:00,deleted")  # fmt: skip
    for mapping in ({"dedupe": {"keep": "latest"}, "filter": {"Status": ["deleted"]}},
                    {"aggregate": {"team": "first"}}):  # fmt: skip
        kw = {"mapping": mapping, "max_reject_share": 1.0}
        notes += ingest_file(store, body, file_name="d.csv", table="contacts", **kw).warnings
    text = "\n".join(notes)
    for phrase in ("every slashed date", "in file order", "the rule is not used", "left out by"):
        assert phrase in text, (phrase, notes)
    swedish = reasons_in(notes, "sv")
    for before, after in zip(notes, swedish, strict=True):
        assert not [
            w for w in ENGLISH + (" read as ", " keeps the ", " left out ") if w in after
        ], (
            before,
            after,
        )


def test_reasons_of_rows_that_disagree_on_several_columns_group_as_one_cause(store: Store) -> None:
    """[aggregate] rows of one key disagreeing on two columns: one cause of both columns,
    not two half-sentences (the grouping splits a reason's parts at '; ')."""
    from metrics.ingest.errors import RejectShareExceeded

    body = _csv("contact_id,channel,opened_at", "D1,phone,2026-03-05 10:00",
                "D1,chat,2026-03-05 11:00", "D2,chat,2026-03-05 11:00")  # fmt: skip
    with pytest.raises(RejectShareExceeded) as caught:
        ingest_file(
            store,
            body,
            file_name="d.csv",
            table="contacts",
            mapping={"aggregate": {"team": "first"}},
        )
    assert [(g.column, g.count) for g in caught.value.groups] == [("channel, opened_at", 2)]
    (group,) = caught.value.groups
    assert group.reason.startswith("contact_id '…': its rows disagree on channel '…' and '…', ")
    assert reason_text(group.reason, "sv").startswith("contact_id '…': raderna skiljer sig i ")
