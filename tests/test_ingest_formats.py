"""Reading and parsing: delimiters, encodings, decimal comma, times and zones, mappings."""

from __future__ import annotations

import codecs
import io
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from metrics.ingest import PRESETS, IngestError, ingest_file, preview_file
from metrics.store import Store

EXPORTS = Path(__file__).resolve().parents[1] / "sample_data" / "exports"


def _rows(store: Store, sql: str) -> list[tuple]:
    return store.cursor().execute(sql).fetchall()


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_detected_and_values_identical(store, delimiter):
    lines = [
        ["contact_id", "channel", "opened_at", "team"],
        ["A1", "phone", "2026-03-05 14:02", "north, west"],
        ["A2", "chat", "2026-03-05 15:00", "south"],
    ]
    body = "\n".join(delimiter.join(f'"{v}"' if "," in v else v for v in r) for r in lines)
    report = ingest_file(store, body.encode(), table="contacts", file_name="d.csv")
    assert report.delimiter == delimiter and report.inserted == 2
    assert _rows(store, "SELECT contact_id, team FROM contacts ORDER BY 1") == [
        ("A1", "north, west"),
        ("A2", "south"),
    ]


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", codecs.BOM_UTF8, "utf-8-sig"),
        ("cp1252", b"", "cp1252"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
    ],
)
def test_encodings_keep_swedish_letters(store, encoding, prefix, expected):
    text = "contact_id\tchannel\topened_at\tteam\nÅ1\tChatt\t2026-03-05 14:02\tÄlvsjö Öst\n"
    report = ingest_file(
        store, prefix + text.encode(encoding), table="contacts", file_name="enc.txt"
    )
    assert report.encoding == expected
    assert _rows(store, "SELECT contact_id, channel, team FROM contacts") == [
        ("Å1", "chat", "Älvsjö Öst")
    ]


def test_legacy_byte_after_a_long_utf8_start_falls_back_to_cp1252(store):
    rows = "".join(f"A{i},phone,2026-03-05 14:02,north\n" for i in range(5000))
    body = "contact_id,channel,opened_at,team\n" + rows + "Z1,Telefon,2026-03-05 14:02,Göteborg\n"
    report = ingest_file(store, body.encode("cp1252"), table="contacts", file_name="late.csv")
    assert (report.encoding, report.inserted) == ("cp1252", 5001)
    assert _rows(store, "SELECT team FROM contacts WHERE contact_id = 'Z1'") == [("Göteborg",)]


def test_padded_and_blank_values_are_trimmed(store):
    body = (
        b"contact_id,channel,opened_at,wait_s,resolved,issue_type\n"
        b" A1 , phone , 2026-03-05 14:02 , 12 , yes ,\n"
        b"A2,chat,2026-03-05 14:02,   ,   , billing \n"
        b"A3,chat,   ,1,no,\n"
    )
    report = ingest_file(store, body, table="contacts", file_name="pad.csv", max_reject_share=1.0)
    assert (report.inserted, report.rejected) == (2, 1)
    assert report.reasons[0]["reason"] == "opened_at is empty; expected a value (required)"
    assert _rows(
        store, "SELECT contact_id, channel, wait_s, resolved, issue_type FROM contacts ORDER BY 1"
    ) == [("A1", "phone", 12.0, True, None), ("A2", "chat", None, None, "billing")]


def test_decimal_comma_detected_without_preset(store):
    body = (
        b"contact_id;channel;opened_at;wait_s;handle_s\nA1;phone;2026-03-05 14:02;12,5;1 300,25\n"
    )
    report = ingest_file(store, body, table="contacts", file_name="sv.csv")
    assert report.decimal == ","
    assert _rows(store, "SELECT wait_s, handle_s FROM contacts") == [(12.5, 1300.25)]


def test_clock_durations_read_as_seconds(store):
    body = (
        b"contact_id,channel,opened_at,handle_s,wait_s\nA1,phone,2026-03-05 14:02,1:02:03,04:05\n"
    )
    ingest_file(store, body, table="contacts", file_name="t.csv")
    assert _rows(store, "SELECT handle_s, wait_s FROM contacts") == [(3723.0, 245.0)]


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-03-05 14:02", None, datetime(2026, 3, 5, 14, 2)),  # UTC by default
        ("2026-03-05 14:02", "Europe/Stockholm", datetime(2026, 3, 5, 13, 2)),
        ("03/05/2026 2:02 PM", "America/New_York", datetime(2026, 3, 5, 19, 2)),
        ("03/05/2026 2:02 PM", None, datetime(2026, 3, 5, 14, 2)),
        ("2026-03-05T14:02:00Z", "Europe/Stockholm", datetime(2026, 3, 5, 14, 2)),  # Z wins
        ("2026-03-05T14:02:00+01:00", None, datetime(2026, 3, 5, 13, 2)),
        ("2026-03-05 14:02:00 -0500", None, datetime(2026, 3, 5, 19, 2)),
        ("2026-03-05 14:02:07.250", None, datetime(2026, 3, 5, 14, 2, 7, 250000)),
        ("05.03.2026 14:02", None, datetime(2026, 3, 5, 14, 2)),
        # 02:30 on 25 Oct 2026 happens twice in Stockholm; the earlier (CEST, UTC+2) is taken.
        ("2026-10-25 02:30", "Europe/Stockholm", datetime(2026, 10, 25, 0, 30)),
    ],
)
def test_timestamp_formats_and_zones_to_naive_utc(store, text, tz, expected):
    body = f'contact_id,channel,opened_at\nA1,phone,"{text}"\n'.encode()
    ingest_file(store, body, table="contacts", file_name="t.csv", timezone=tz)
    assert _rows(store, "SELECT opened_at FROM contacts") == [(expected,)]


def test_mixed_timestamp_formats_in_one_column(store):
    body = (
        b"contact_id,channel,opened_at\nA1,phone,2026-03-05 14:02\n"
        b"A2,phone,03/05/2026 2:02 PM\nA3,phone,2026-03-05T14:02:00Z\nA4,phone,yesterday\n"
    )
    report = ingest_file(store, body, table="contacts", file_name="t.csv", max_reject_share=1.0)
    assert (report.inserted, report.rejected) == (3, 1)
    assert report.reasons[0]["reason"] == (
        "opened_at 'yesterday' is not a date and time; expected e.g. 2026-03-05 14:02, "
        "2026-03-05T14:02:00Z or 03/05/2026 2:02 PM"
    )
    assert {r[0] for r in _rows(store, "SELECT opened_at FROM contacts")} == {
        datetime(2026, 3, 5, 14, 2)
    }


def test_booleans_in_several_languages(store):
    body = (
        b"contact_id,channel,opened_at,resolved,escalated\n"
        b"A1,phone,2026-03-05 14:02,Ja,nej\nA2,phone,2026-03-05 14:02,YES,no\n"
        b"A3,phone,2026-03-05 14:02,1,0\nA4,phone,2026-03-05 14:02,True,FALSE\n"
        b"A5,phone,2026-03-05 14:02,kanske,\n"
    )
    report = ingest_file(store, body, table="contacts", file_name="b.csv", max_reject_share=1.0)
    assert (report.inserted, report.rejected) == (4, 1)
    assert report.reasons[0]["reason"] == (
        "resolved 'kanske' is not yes/no; expected yes/no, ja/nej, true/false or 1/0"
    )
    assert (
        _rows(store, "SELECT resolved, escalated FROM contacts ORDER BY contact_id")
        == [(True, False)] * 4
    )


def test_score_ranges(store):
    body = (
        b"response_id,answered_at,nps,csat,ces\n"
        b"R1,2026-03-05 14:02,0,1,1\nR2,2026-03-05 14:02,10,5,7\n"
        b"R3,2026-03-05 14:02,11,3,3\nR4,2026-03-05 14:02,7.5,3,3\n"
        b"R5,2026-03-05 14:02,5,0,3\nR6,2026-03-05 14:02,5,3,8\nR7,2026-03-05 14:02,8.0,,\n"
    )
    report = ingest_file(store, body, table="surveys", file_name="s.csv", max_reject_share=1.0)
    assert (report.inserted, report.rejected) == (3, 4)
    assert [r["column"] for r in report.reasons] == ["nps", "nps", "csat", "ces"]
    assert report.reasons[0]["reason"] == "nps '11' is not a whole number 0–10; expected 0–10"
    assert _rows(store, "SELECT response_id, nps, csat, ces FROM surveys ORDER BY 1") == [
        ("R1", 0, 1, 1),
        ("R2", 10, 5, 7),
        ("R7", 8, None, None),
    ]


def test_toml_mapping_columns_values_scale_and_ces_flip(store, tmp_path):
    mapping = tmp_path / "acme.toml"
    mapping.write_text(
        'timezone = "Europe/Stockholm"\nces_scale = "agreement"\n'
        "[columns]\n"
        '"Svar nr" = "response_id"\n"När" = "answered_at"\n"Lätthet" = "ces"\n'
        '"Hemligt" = "drop"\n"Kundmail" = "hash"\n',
        encoding="utf-8",
    )
    body = "Svar nr,När,Lätthet,Hemligt,Kundmail,Kampanj\nS1,2026-03-05 14:02,7,x,a@b.se,vår\n"
    report = ingest_file(
        store, body.encode(), table="surveys", file_name="acme.csv", mapping=mapping
    )
    assert report.inserted == 1
    assert dict(report.mapping) == {
        "Svar nr": "response_id",
        "När": "answered_at",
        "Lätthet": "ces",
        "Hemligt": "dropped: by mapping",
        "Kundmail": "hashed: personal data",
        "Kampanj": "extras",
    }
    row = _rows(store, "SELECT answered_at, ces, extras FROM surveys")[0]
    assert row[:2] == (datetime(2026, 3, 5, 13, 2), 1)  # CES 2.0 "7 = easy" -> effort 1
    assert '"Kampanj":"vår"' in row[2] and "Hemligt" not in row[2] and "a@b.se" not in row[2]


def test_dict_mapping_value_map_for_custom_channel_words(store):
    mapping = {
        "columns": {"Kontaktsätt": "channel"},
        "values": {"channel": {"Växeln": "phone", "Brevlåda": "email"}},
        "scale": {"wait_s": 60},
    }
    body = "contact_id,Kontaktsätt,opened_at,wait_s\nA1,Växeln,2026-03-05 14:02,1.5\nA2,brevlåda,2026-03-05 14:02,\n"
    report = ingest_file(store, body.encode(), table="contacts", file_name="m.csv", mapping=mapping)
    assert report.inserted == 2
    assert _rows(store, "SELECT channel, wait_s FROM contacts ORDER BY contact_id") == [
        ("phone", 90.0),
        ("email", None),
    ]


def test_mapping_value_outside_vocabulary_is_a_file_error(store):
    with pytest.raises(IngestError) as err:
        ingest_file(
            store,
            b"contact_id,channel,opened_at\nA,x,2026-03-05\n",
            table="contacts",
            file_name="m.csv",
            mapping={"values": {"channel": {"x": "pigeon"}}},
        )
    assert str(err.value) == (
        "mapping: [values.channel] maps 'x' to 'pigeon'; expected one of phone, email, chat, "
        "chatbot, app, web, web_form, sms, social, in_person, video"
    )


def test_aliases_are_case_space_and_underscore_insensitive(store):
    body = b"Ticket ID,CHANNEL,Created At,Wait Time,ISSUE_TYPE\nT1,Phone Call,2026-03-05 14:02,3,Invoice\n"
    report = ingest_file(store, body, table="contacts", file_name="a.csv")
    assert dict(report.mapping) == {
        "Ticket ID": "contact_id",
        "CHANNEL": "channel",
        "Created At": "opened_at",
        "Wait Time": "wait_s",
        "ISSUE_TYPE": "issue_type",
    }
    assert _rows(store, "SELECT contact_id, channel, issue_type, wait_s FROM contacts") == [
        ("T1", "phone", "billing", 3.0)
    ]


def test_preview_from_bytes_shows_mapping_and_first_rows(store):
    data = (EXPORTS / "swedish_contacts.csv").read_bytes()
    version = store.data_version()
    preview = preview_file(
        data, file_name="swedish_contacts.csv", table="contacts", preset="swedish"
    )
    assert store.data_version() == version
    assert (
        preview.format,
        preview.encoding,
        preview.delimiter,
        preview.decimal,
        preview.header_rows,
        preview.timezone,
    ) == ("csv", "cp1252", ";", ",", 1, "Europe/Stockholm")
    targets = dict(preview.mapping)
    assert targets["Kanal"] == "channel" and targets["Ärendetyp"] == "issue_type"
    assert targets["Namn"] == "dropped: personal data"
    assert targets["Telefonnummer"] == "hashed: personal data"
    assert targets["Kommentar"] == "extras"
    assert preview.missing_required == [] and preview.rows_read == 10
    rows = preview.rows
    assert isinstance(rows, pl.DataFrame) and rows.height == 10
    assert rows["row_number"].to_list() == list(range(1, 11))
    first = rows.row(0, named=True)
    assert (first["channel"], first["issue_type"], first["wait_s"], first["problem"]) == (
        "phone",
        "billing",
        12.5,
        None,
    )
    assert rows.row(5, named=True)["problem"].startswith("channel 'Brevduva' is not known")


def test_preview_limits_rows_to_twenty(store):
    body = "contact_id,channel,opened_at\n" + "".join(
        f"A{i},phone,2026-03-05 14:02\n" for i in range(50)
    )
    preview = preview_file(
        io.BytesIO(body.encode()).getvalue(), file_name="many.csv", table="contacts"
    )
    assert preview.rows.height == 20 and preview.rows_read == 50


def test_presets_describe_themselves():
    assert set(PRESETS) == {
        "zendesk",
        "zendesk_api",
        "intercom",
        "intercom_api",
        "qualtrics",
        "swedish",
    }
    assert PRESETS["qualtrics"].table == "surveys" and PRESETS["qualtrics"].ces_scale == "agreement"
    assert PRESETS["swedish"].timezone == "Europe/Stockholm" and PRESETS["swedish"].table is None
    assert all(p.description for p in PRESETS.values())


def test_example_mapping_file_applies_columns_values_scale_and_drops(store):
    body = (
        "Ärende;Kund;Kontaktsätt;Orsak;Start;Kö (min);Handläggare;Kundens mobil\n"
        "X1;C1;Växeln;Räkning;2026-03-05 14:02;1,5;Eva Ek;070-111 22 33\n"
    ).encode("cp1252")
    report = ingest_file(
        store,
        body,
        table="contacts",
        file_name="acme.csv",
        mapping=EXPORTS / "example_mapping.toml",
    )
    assert report.pii == {"Kundens mobil": "hashed"}
    row = _rows(store, "SELECT channel, issue_type, opened_at, wait_s, extras FROM contacts")[0]
    assert row[:4] == ("phone", "billing", datetime(2026, 3, 5, 13, 2), 90.0)
    assert (
        "Eva Ek" not in row[4] and "070-111" not in row[4]
    )  # a hash may contain "070"; not a hyphen
