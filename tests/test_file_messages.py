"""Whole-file refusals and undo refusals in the page's language (dashboard/reasons.py).

Each REFUSALS pattern is met by a real message where one can be made: a bad or hostile file
loaded through metrics.ingest into a temporary store, a mapping the file does not fit, an
undo the store refuses. In English the message comes back unchanged; in Swedish no English
word is left outside what the message quotes (file name, columns, numbers, a parser's own
words), and every one of those is still there. The few messages no test file can provoke
are checked from their English text in en.toml.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from test_ingest_hostile import (
    CONTACT_CELLS,
    CONTENT_TYPES,
    ROOT_RELS,
    WORKBOOK,
    WORKBOOK_RELS,
    _lie_about_size,
    _sheet_xml,
    _xlsx,
)
from test_ingest_wrong_table import _without

import metrics.ingest.readers as readers
from dashboard.i18n import catalogue, placeholders, translate, use_language
from dashboard.reasons import _REFUSALS, REFUSALS, _parts, message_text
from metrics.ingest import IngestError, ingest_file
from metrics.ingest.batches import BatchError, undo_batch
from metrics.ingest.readers import Limits
from metrics.store import Store

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "dashboard" / "views" / "data.py"
DATA = ROOT / "tests" / "data" / "ingest"
SHAPES = DATA / "shapes"
PATTERNS = dict(_REFUSALS)

# English words of the messages' fixed parts; none may be left in a Swedish message once the
# quoted parts are taken out. Mapping-file sections ([columns]) and options stay as written.
ENGLISH = re.compile(
    r"\b(expected|file|files|column|columns|row|rows|cannot|limit|workbook|sheet|batch|undone|"
    r"not|missing|looks|header|the|of|and|or|nothing|over|than|more|only|value|values|unknown|"
    r"such|it|is|has|was|were|read|open|parts|lines|cells|smaller|load|map|try|found|none)\b"
)
CODE = re.compile(r"\[\w+(?:\.\w+)?\]|--[\w-]+|`[^`]*`|\"\w*\"")  # [values.channel], "row"


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


CONTACTS = "contact_id,channel,opened_at"
ROW = "K1,phone,2026-03-05 14:02"


def _refused(store: Store, source, name: str = "x1.csv", table: str = "contacts", **kw) -> str:
    with pytest.raises(IngestError) as err:
        ingest_file(store, source, file_name=name, table=table, **kw)
    return str(err.value)


def _undo_refused(store: Store, batch_id: str) -> str:
    with pytest.raises(BatchError) as err:
        undo_batch(store, batch_id, by="tester")
    return str(err.value)


def _load(store: Store, name: str, *rows: str) -> str:
    return ingest_file(store, _csv(CONTACTS, *rows), table="contacts", file_name=name).batch_id


def _parquet(rows: int = 2) -> bytes:
    frame = pl.DataFrame(
        {
            "contact_id": [f"K{i}" for i in range(rows)],
            "channel": ["phone"] * rows,
            "opened_at": ["2026-03-05 14:02"] * rows,
        }  # fmt: skip
    )
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def _read(store, tmp_path, monkeypatch) -> str:
    (tmp_path / "dir.csv").mkdir()  # stat works, reading does not
    return _refused(store, tmp_path / "dir.csv", name="dir.csv")


def _columns(store, tmp_path, monkeypatch) -> str:
    # A header longer than the sniffed sample: only the first chunk sees all its columns.
    wide = "x" * (readers._SAMPLE + 10)
    body = _csv(f"contact_id,channel,{wide},opened_at,Note", "K1,phone,a,2026-03-05 14:02,b")
    return _refused(store, body, limits=Limits(max_columns=4))


def _blank_lines(store, tmp_path, monkeypatch) -> str:
    monkeypatch.setattr(readers, "MAX_CHUNK_CELLS", 100)
    return _refused(store, _csv(CONTACTS, ROW) + b"\n" * 60)


def _record(store, tmp_path, monkeypatch) -> str:
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 1 << 20)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 64 << 10)
    body = _csv(CONTACTS + ",Note", ROW + ',"open', *[ROW + ",more"] * 60_000)
    return _refused(store, body)


def _parts_limit(store, tmp_path, monkeypatch) -> str:
    monkeypatch.setattr(readers, "_XLSX_MEMBERS", 3)
    return _refused(store, _xlsx(_sheet_xml("A1:C2", CONTACT_CELLS)), name="x1.xlsx")


def _damaged(store, tmp_path, monkeypatch) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, text in (("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", ROOT_RELS),
                           ("xl/workbook.xml", WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)):  # fmt: skip
            zf.writestr(part, text)
        zf.writestr("xl/worksheets/sheet1.xml", _sheet_xml("A1:C2", CONTACT_CELLS) + " " * 9000)
    data = _lie_about_size(buf.getvalue(), "xl/worksheets/sheet1.xml", 4096)
    return _refused(store, data, name="x1.xlsx")


def _decimal(store, tmp_path, monkeypatch) -> str:
    monkeypatch.setattr(readers, "CHUNK_BYTES", 4096)
    lines = ["contact_id;channel;opened_at;wait_s"]
    lines += [f"K{i};phone;2026-03-05 14:02;{i},5" for i in range(300)]
    lines.append("K300;phone;2026-03-05 14:02;12.5")
    return _refused(store, _csv(*lines))


def _missing(store, tmp_path, monkeypatch) -> str:
    return _refused(store, DATA / "missing_column.csv", name="missing_column.csv")


def _missing_many(store, tmp_path, monkeypatch) -> str:
    return _refused(store, _csv("response_id,Note", "R1,x"), table="surveys")


def _no_header(store, tmp_path, monkeypatch) -> str:
    return _refused(store, SHAPES / "cdnow_master.txt", name="cdnow.txt", table="invoices")


def _preset_hint(store, tmp_path, monkeypatch) -> str:
    zendesk = ROOT / "sample_data" / "exports" / "zendesk_tickets.csv"
    return _refused(store, zendesk, name="zendesk.csv")


def _wrong_table(store, tmp_path, monkeypatch) -> str:
    row = _without("invoices", "amount")
    body = (",".join(row) + "\n" + ",".join(row.values()) + "\n").encode()
    return _refused(store, body, name="inv.csv", table="customers")


def _reject_share(store, tmp_path, monkeypatch) -> str:
    body = _csv(CONTACTS, ROW, "K2,Fax,2026-03-05 14:02", "K3,chat,later", "K4,Fax,2026-03-05")
    return _refused(store, body)


def _undone(store, tmp_path, monkeypatch) -> str:
    batch = _load(store, "a1.csv", ROW)
    undo_batch(store, batch, by="tester")
    return _undo_refused(store, batch)


def _no_history(store, tmp_path, monkeypatch) -> str:
    batch = _load(store, "a1.csv", ROW)
    with store.write() as cur:
        cur.execute("UPDATE ingest_batches SET history_kept = false")
    return _undo_refused(store, batch)


def _later(store, tmp_path, monkeypatch) -> str:
    first = _load(store, "a1.csv", ROW)
    _load(store, "a2.csv", "K1,chat,2026-03-05 14:02")
    return _undo_refused(store, first)


def _drifted(store, tmp_path, monkeypatch) -> str:
    _load(store, "a1.csv", ROW)
    second = _load(store, "a2.csv", "K1,chat,2026-03-05 14:02")
    with store.write() as cur:  # a write outside ingest
        cur.execute("DELETE FROM contacts")
    return _undo_refused(store, second)


def _frozen(store, tmp_path, monkeypatch) -> str:
    with store.write() as cur:
        cur.execute(
            "INSERT INTO experiments (experiment_id, name, primary_metric, status) "
            "VALUES ('E1', 'e', 'csat', 'draft')"
        )
    head = "experiment_id,unit_id,variant,assigned_at"
    ingest_file(store, _csv(head, "E1,U1,control,2026-03-01 10:00"), table="assignments",
                file_name="a1.csv")  # fmt: skip
    moved = ingest_file(store, _csv(head, "E1,U1,treatment,2026-03-01 10:00"),
                        table="assignments", file_name="a2.csv")  # fmt: skip
    with store.write() as cur:
        cur.execute("UPDATE experiments SET status = 'running'")
    return _undo_refused(store, moved.batch_id)


def _mapped(mapping: dict | Path) -> Trigger:
    """A contacts file loaded with a mapping the checks refuse (a dict is named "mapping")."""
    return lambda s, p, m: _refused(s, _csv(CONTACTS, ROW), mapping=mapping)


def _toml(store, tmp_path, monkeypatch) -> str:
    (tmp_path / "bad.toml").write_text("[columns\n", encoding="utf-8")
    return _refused(store, _csv(CONTACTS, ROW), mapping=tmp_path / "bad.toml")


def _preset_file(store, tmp_path, monkeypatch) -> str:
    from metrics.ingest.mapping import load_preset

    (tmp_path / "orders.toml").write_text('table = "orders"\n', encoding="utf-8")
    with pytest.raises(IngestError) as err:
        load_preset(tmp_path / "orders.toml")
    return str(err.value)


def _key_refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    from metrics.ingest.pii import PiiKeyError, load_key

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PiiKeyError) as err:
        load_key()
    return str(err.value)


def _key_file(tmp_path: Path, text: str, mode: int) -> str:
    path = tmp_path / "pii.key"
    path.write_text(text, encoding="ascii")
    path.chmod(mode)
    return str(path)


def _other_key(store, tmp_path, monkeypatch) -> str:
    from metrics.ingest.pii import PiiKeyError

    body = _csv(CONTACTS + ",E-mail", ROW + ",k@k.se")
    ingest_file(store, body, table="contacts", file_name="a1.csv")  # the store's key
    monkeypatch.setenv("CX_PII_KEY", "another-key-0123456789")
    with pytest.raises(PiiKeyError) as err:
        ingest_file(store, body, table="contacts", file_name="a2.csv")
    return str(err.value)


Trigger = Callable[[Store, Path, pytest.MonkeyPatch], str]
_XLSX_CONTACTS = _xlsx(_sheet_xml("A1:C2", CONTACT_CELLS))
# REFUSALS key -> what makes that message for real.
TRIGGERS: dict[str, Trigger] = {
    "open": lambda s, p, m: _refused(s, p / "nix.csv", name="nix.csv"),
    "read": _read,
    "size": lambda s, p, m: _refused(s, DATA / "oversize.csv", name="big.csv", max_bytes=100),
    "empty": lambda s, p, m: _refused(s, b"  \n"),
    "no_rows": lambda s, p, m: _refused(s, _csv(CONTACTS)),
    "xls": lambda s, p, m: _refused(s, DATA / "old_excel.xls", name="x1.xls"),
    "binary": lambda s, p, m: _refused(s, b"\x00\x01\x02\xff\xfe binary"),
    "delimiter": lambda s, p, m: _refused(s, SHAPES / "calls_spaces_no_delimiter.txt"),
    "ragged": lambda s, p, m: _refused(s, DATA / "ragged.csv"),
    "record": _record,
    "blank_lines": _blank_lines,
    "field": lambda s, p, m: _refused(
        s,
        _csv(CONTACTS + ",Note", ROW + ",ok", ROW + ",y" + "x" * 30),
        limits=Limits(max_field_bytes=20),
    ),  # fmt: skip
    "columns_header": lambda s, p, m: _refused(
        s, _csv(CONTACTS + ",Note", ROW + ",x"), limits=Limits(max_columns=3)
    ),
    "columns_file": lambda s, p, m: _refused(
        s, _parquet(), name="x1.parquet", limits=Limits(max_columns=2)
    ),
    "columns_sheet": lambda s, p, m: _refused(
        s, _xlsx(_sheet_xml("A1:XFD1048576", CONTACT_CELLS)), name="x1.xlsx"
    ),
    "columns": _columns,
    "rows_sheet": lambda s, p, m: _refused(
        s, _xlsx(_sheet_xml("A1:C50", CONTACT_CELLS)), name="x1.xlsx", limits=Limits(max_rows=9)
    ),
    "cells_sheet": lambda s, p, m: _refused(
        s, _xlsx(_sheet_xml("A1:ALL1048576", CONTACT_CELLS)), name="x1.xlsx"
    ),
    "rows": lambda s, p, m: _refused(
        s,
        _csv(CONTACTS, *[f"K{i},phone,2026-03-05 14:02" for i in range(15)]),
        limits=Limits(max_rows=10),
    ),  # fmt: skip
    "rows_file": lambda s, p, m: _refused(
        s, _parquet(3), name="x1.parquet", limits=Limits(max_rows=1)
    ),
    "not_workbook": lambda s, p, m: _refused(s, DATA / "corrupt.xlsx", name="x1.xlsx"),
    "parts": _parts_limit,
    "unpacks": lambda s, p, m: _refused(
        s, _XLSX_CONTACTS, name="x1.xlsx", limits=Limits(max_unpacked_bytes=100)
    ),
    "damaged": _damaged,
    "sheet_missing": lambda s, p, m: _refused(s, _XLSX_CONTACTS, name="x1.xlsx", sheet="Blad9"),
    "not_parquet": lambda s, p, m: _refused(s, DATA / "corrupt.parquet", name="x1.parquet"),
    "row_group": lambda s, p, m: _refused(
        s, _parquet(), name="x1.parquet", limits=Limits(max_unpacked_bytes=10)
    ),
    "missing_fit": lambda s, p, m: _refused(s, DATA / "survey_as_contacts.csv"),
    "wrong_table": _wrong_table,
    "lacks": _wrong_table,
    "missing_one": _missing,
    "missing_many": _missing_many,
    "header_such_as": _missing,
    "one_of": _missing_many,
    "found": _missing,
    "mapping_hint": _missing,
    "no_header": _no_header,
    "preset_hint": _preset_hint,
    "preset_table": lambda s, p, m: _refused(
        s, _csv(CONTACTS, ROW), "x1.csv", "surveys", preset="zendesk"
    ),  # fmt: skip
    "unknown_table": lambda s, p, m: _refused(s, _csv(CONTACTS, ROW), table="orders"),
    "unknown_preset": lambda s, p, m: _refused(s, _csv(CONTACTS, ROW), preset="freshdesk"),
    "maps_to": lambda s, p, m: _refused(
        s, DATA / "missing_column.csv", mapping={"columns": {"Ticket": "ticket_number"}}
    ),
    "made_from": lambda s, p, m: _refused(
        s, _csv(CONTACTS, ROW), mapping={"combine": {"opened_at": ["Datum", "Tid"]}}
    ),
    "order_by_missing": lambda s, p, m: _refused(
        s, _csv(CONTACTS, ROW), mapping={"dedupe": {"keep": "latest", "order_by": "Ändrad"}}
    ),
    "strptime": lambda s, p, m: _refused(
        s, _csv(CONTACTS, ROW), mapping={"formats": {"opened_at": "dd/mm/yyyy"}}
    ),
    "timezone": lambda s, p, m: _refused(s, _csv(CONTACTS, ROW), timezone="Mars/Olympus"),
    "m_read": lambda s, p, m: _refused(s, _csv(CONTACTS, ROW), mapping=p / "nix.toml"),
    "m_toml": _toml,
    "m_table": _preset_file,
    "m_section": _mapped({"columns": "Id"}),
    "m_keys_dedupe": _mapped({"dedupe": {"keep": "first", "by": "x"}}),
    "m_keys_pii": _mapped({"pii": {"drop": ["x"]}}),
    "m_keys": _mapped({"colums": {}}),
    "m_values_column": _mapped({"values": {"colour": {"a": "b"}}}),
    "m_values": _mapped({"values": {"channel": {"Växeln": "switchboard"}}}),
    "m_ces": _mapped({"ces_scale": "agree"}),
    "m_decimal": _mapped({"decimal": ";"}),
    "m_dayfirst": _mapped({"dayfirst": "ja"}),
    "m_header_rows": _mapped({"header_rows": 7}),
    "m_filter": _mapped({"filter": {"Status": "deleted"}}),
    "m_ids_with": _mapped({"ids": {"contact_id": "row"}, "dedupe": {"keep": "first"}}),
    "m_dedupe_aggregate": _mapped({"dedupe": {"keep": "first"}, "aggregate": {"team": "last"}}),
    "m_questions": _mapped({"questions": {"rating": "recommend"}}),
    "m_regex": _mapped({"questions": {"channel": "(kanal"}}),
    "m_signature": _mapped({"signature": "Via"}),
    "m_dedupe_keep": _mapped({"dedupe": {"keep": "newest"}}),
    "m_dedupe_order_by": _mapped({"dedupe": {"keep": "latest", "order_by": 5}}),
    "m_aggregate_column": _mapped({"aggregate": {"colour": "first"}}),
    "m_aggregate_key": _mapped({"aggregate": {"contact_id": "first"}}),
    "m_aggregate_kind": _mapped({"aggregate": {"channel": "sum"}}),
    "m_aggregate_how": _mapped({"aggregate": {"team": "mean"}}),
    "m_ids_column": _mapped({"ids": {"team": "row"}}),
    "m_ids_how": _mapped({"ids": {"contact_id": "hash"}}),
    "m_derived_column": _mapped({"constants": {"colour": "blå"}}),
    "m_derived_kind": _mapped({"multiply": {"channel": ["Antal", "Pris"]}}),
    "m_combine": _mapped({"combine": {"opened_at": ["Datum"]}}),
    "m_durations": _mapped({"durations": {"wait_s": ["Start", "Slut"]}}),
    "m_multiply": _mapped({"multiply": {"handle_s": "Tid"}}),
    "m_formats": _mapped({"formats": "%d/%m/%Y"}),
    "m_formats_column": _mapped({"formats": {"channel": "%d/%m/%Y"}}),
    "m_pii_keep": _mapped({"pii": {"keep": "Telefon"}}),
    "decimal": _decimal,
    "reject_share": _reject_share,
    "reject_group": _reject_share,
    "reject_group_one": _reject_share,
    "reject_examples": _reject_share,
    "reject_fix": _reject_share,
    "pii_env_short": lambda s, p, m: _key_refused(m, CX_PII_KEY="short"),
    "pii_create": lambda s, p, m: _key_refused(
        m, CX_PII_KEY_FILE=_key_file(p, "x" * 64, 0o600) + "/pii.key"
    ),
    "pii_not_file": lambda s, p, m: _key_refused(m, CX_PII_KEY_FILE=str(p)),
    "pii_mode": lambda s, p, m: _key_refused(m, CX_PII_KEY_FILE=_key_file(p, "x" * 64, 0o644)),
    "pii_short": lambda s, p, m: _key_refused(m, CX_PII_KEY_FILE=_key_file(p, "x" * 8, 0o600)),
    "pii_other_key": _other_key,
    "no_batch": lambda s, p, m: _undo_refused(s, "nope"),
    "undone": _undone,
    "no_history": _no_history,
    "later": _later,
    "drifted": _drifted,
    "frozen": _frozen,
}
# What no test file provokes: the English in en.toml is checked instead (test below).
FROM_EXAMPLE_ONLY = {
    "csv": "polars' other parse errors than a long row; none known to a small file",
    "sheet_read": "fastexcel failing on a sheet that opened and passed the zip checks",
    "parquet_read": "pyarrow failing on a row group after the metadata read",
    "wrong_table_none": "a table asked for whose required columns the file has fills them",
    "reject_other": "needs more than ten distinct causes of rejected rows",
    "pii_read": "a key file the tests' user (root in CI) cannot read cannot be made",
}


def test_every_pattern_is_made_for_real_or_said_why_not() -> None:
    keys = [k for k, _ in REFUSALS]
    assert len(keys) == len(set(keys))
    assert set(TRIGGERS) | set(FROM_EXAMPLE_ONLY) == set(keys)
    assert not set(TRIGGERS) & set(FROM_EXAMPLE_ONLY)


def _quoted(english: str) -> list[str]:
    """The variable parts of a message as the Swedish keeps them (sizes say byte): the
    groups of each pattern where message_text meets it, in message_text's order."""
    parts, text = [], english
    for key, pattern in _REFUSALS:
        parts += [v for m in pattern.finditer(text) for v in _parts(m, "sv").values() if v.strip()]
        text = pattern.sub(lambda m, k=key: translate("sv", f"refuse.{k}", **_parts(m, "sv")), text)
    return parts


def _left_in_english(english: str, swedish: str, file_name: str | None) -> list[str]:
    """English words left in `swedish` outside its quoted parts; asserts each part is kept."""
    rest = swedish
    if file_name:
        assert rest.startswith(f"{file_name}: "), swedish
        rest = rest[len(file_name) + 2 :]
    parts = sorted(_quoted(english), key=len, reverse=True)
    for part in parts:
        assert part in swedish, (part, swedish)
    # One pass, leftmost first: a part inside [values.channel] goes with its brackets.
    quoted = "|".join([*map(re.escape, parts), CODE.pattern])
    return ENGLISH.findall(re.sub(quoted, " ", rest))


@pytest.mark.parametrize("key", sorted(TRIGGERS))
def test_real_refusal_reads_as_swedish_and_keeps_its_parts(
    key: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = TRIGGERS[key](store, tmp_path, monkeypatch)
    assert PATTERNS[key].search(message), (key, message)
    assert message_text(message, "en") == message
    swedish = message_text(message, "sv")
    assert swedish != message
    named = re.match(r"^([\w.]+\.(?:csv|txt|xlsx|xls|parquet)): ", message)
    assert not _left_in_english(message, swedish, named and named.group(1)), (message, swedish)


# Values for the variable parts of en.toml's texts, where a pattern wants a shape.
SAMPLE = {"why": "Is a directory", "size": "2.0 MB", "limit": "1,000", "header": "'Call Id'",
          "n": "3", "width": "3", "delimiter": "runs of spaces", "row": "4", "sheet": "'Blad1'",
          "lines": '"<file column>" = "channel"', "column": "'Note'", "cell": "XFD1", "rows": "10",
          "cols": "5", "cells": "50", "sheets": "Blad1, Blad2", "fit": "surveys",
          "table": "contacts", "required": "nps or csat or ces", "other": "invoices",
          "theirs": "invoice_id, amount", "own_n": "1", "own": "customer_id",
          "heads": "'channel', 'via'", "found": "'contact_id'", "label": "Zendesk",
          "preset": "zendesk", "preset_table": "contacts", "tables": "customers, contacts",
          "presets": "zendesk, qualtrics", "target": "opened_at", "columns": "'Datum', 'Tid'",
          "format": "'dd/mm'", "tz": "'Mars/Olympus'", "value": "'12.5'", "rejected": "3",
          "share": "30.0%", "batch": "B1", "file": "a1.csv", "at": "2026-03-05 10:00:00",
          "by": "tester", "later": "B2, B3", "experiments": "E1 (running: 1 unit(s))"}  # fmt: skip
SAMPLE_OF = {
    "field": {"limit": "1.0 MB"},
    "blank_lines": {"lines": "60"},
    "unpacks": {"limit": "512.0 MB"},
    "row_group": {"limit": "512.0 MB"},
    "size": {"size": "559 bytes", "limit": "100 bytes"},
    "maps_to": {"header": "'Ticket'", "target": "'ticket_number'", "columns": "channel, team"},
    "unknown_table": {"table": "'orders'"},
    "unknown_preset": {"preset": "'freshdesk'"},
    "no_batch": {"batch": "'nope'"},
    "reject_share": {"limit": "1.0%"},
    "reject_examples": {"rows": "2, 3"},
    "reject_fix": {"share": "0.3"},
    "pii_env_short": {"env": "CX_PII_KEY", "n": "5", "min": "16", "how": "`python -c 'x'`"},
    "pii_create": {"path": "/x/pii.key", "file_env": "CX_PII_KEY_FILE", "env": "CX_PII_KEY"},
    "pii_mode": {"path": "/x/pii.key", "mode": "0644"},
    "pii_short": {"n": "8", "min": "16"},
    "pii_other_key": {
        "where": "environment (CX_PII_KEY)",
        "id": "ab12",
        "known": "cd34",
        "file_env": "CX_PII_KEY_FILE",
        "env": "CX_PII_KEY",
    },  # fmt: skip
    "m_table": {"table": "'orders'"},
    "m_values": {"raw": "'Växeln'", "value": "'switchboard'"},
    "m_ces": {"value": "'agree'"},
    "m_filter": {"header": "'Status'", "same": '"Status"'},
    "m_ids_with": {"other": "dedupe"},
    "m_regex": {"pattern": "'(kanal'", "why": "missing ), unterminated subpattern"},
    "m_aggregate_kind": {"how": "'sum'", "fn": "sum", "ok": "no column of contacts"},
    "m_aggregate_how": {"how": "'mean'", "hows": "sum, min, max"},
    "m_derived_kind": {"section": "multiply", "kinds": "money or seconds or count"},
    "m_derived_column": {"section": "constants"},
}
# Patterns whose column is a bare name, not a quoted one.
for _key in ("strptime", "decimal", "m_values_column", "m_values", "m_regex", "m_aggregate_key",
             "m_aggregate_kind", "m_aggregate_how", "m_ids_how", "m_derived_kind", "m_combine",
             "m_durations", "m_multiply"):  # fmt: skip
    SAMPLE_OF[_key] = {**SAMPLE_OF.get(_key, {}), "column": "team"}


@pytest.mark.parametrize("key", [k for k, _ in REFUSALS])
def test_each_pattern_matches_its_english_text_and_has_a_swedish_one(key: str) -> None:
    """en.toml's [refuse] text of each pattern is the message it matches (so the file
    documents what ingest writes); sv.toml says it with the same parts and no English."""
    pattern = PATTERNS[key]
    values = {g: SAMPLE_OF.get(key, {}).get(g, SAMPLE.get(g, "x")) for g in pattern.groupindex}
    en, sv = catalogue("en")[f"refuse.{key}"], catalogue("sv")[f"refuse.{key}"]
    assert placeholders(en) == placeholders(sv) <= set(pattern.groupindex), key
    # As ingest writes it: after the file's name, unless the message starts with the batch.
    named = not pattern.pattern.startswith(("^", "(?m)^"))
    english = ("x1.csv: " if named else "") + translate("en", f"refuse.{key}", **values)
    assert pattern.search(english), (key, english)
    swedish = message_text(english, "sv")
    assert swedish != english
    assert not _left_in_english(english, swedish, "x1.csv" if named else None), (key, swedish)


def test_words_inside_parts_are_swapped_only_there() -> None:
    message = (
        "s.csv: this looks like a surveys file, not contacts: required column(s) contact_id, "
        "nps or csat or ces for contacts are missing; expected --table surveys, or a contacts file"
    )
    assert message_text(message, "sv") == (
        "s.csv: det här ser ut som en fil för surveys, inte för contacts: de obligatoriska "
        "kolumnerna contact_id, nps eller csat eller ces för contacts saknas; förväntade "
        "--table surveys eller en fil för contacts"
    )
    # A file name that reads like words stays as written; an unknown message stays English.
    assert message_text("or bytes.csv: the file is 5 bytes, over the limit of 4 bytes; expected "
                        "a smaller file (split it, or raise the limit)", "sv").startswith(
        "or bytes.csv: filen är 5 byte, över gränsen på 4 byte; "
    )  # fmt: skip
    assert message_text("x.csv: something new", "sv") == "x.csv: something new"
    assert message_text(None, "sv") is None


def test_refused_share_lists_its_reasons_in_swedish(store: Store, tmp_path: Path, monkeypatch):
    message = _reject_share(store, tmp_path, monkeypatch)
    swedish = message_text(message, "sv").splitlines()
    share = "3 av 4 rader (75.0%) skulle avvisas, fler än de 1.0% som tillåts"
    assert swedish[0] == f"x1.csv: {share}; inget lästes in"
    assert swedish[1].startswith("  2 rader: channel '…' är okänt; förväntade ett av ")
    assert swedish[1].endswith(" (t.ex. rad 2, 4)")
    assert swedish[2].startswith("  1 rad: opened_at '…' är inte en tidpunkt; förväntade ")
    assert swedish[2].endswith(" (t.ex. rad 3)")
    fix = "  rätta filen eller mappningen, eller tillåt andelen med --max-reject-share 0.75"
    assert swedish[3:] == [fix]


@pytest.fixture
def swedish(monkeypatch: pytest.MonkeyPatch):
    # AppTest calls a widget's format_func (the table box's) in the test's thread, outside
    # the script run: there the language comes from use_language (as in test_i18n.py).
    with use_language("sv"):
        yield


def _swedish_page(store: Store, monkeypatch: pytest.MonkeyPatch):
    """The Data page in Swedish from its first run (?lang=sv), as start_page otherwise."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CX_DB", str(store.path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.query_params["lang"] = "sv"
    at.run()
    assert not at.exception and at.title[0].value == "Data"
    assert at.subheader[-1].value == "Inläsningshistorik"
    return at


def test_data_page_in_swedish_shows_a_hostile_upload_refused_in_swedish(
    sample_store: Store, monkeypatch: pytest.MonkeyPatch, swedish: None
) -> None:
    at = _swedish_page(sample_store, monkeypatch)
    data = _xlsx(_sheet_xml(None, [*CONTACT_CELLS, ("XFD1048576", "x")]))
    at.file_uploader[0].upload("evil.xlsx", data, "application/octet-stream").run()
    assert not at.exception
    assert at.error[0].value == "Filen kan inte läsas in. Inget har skrivits."
    assert at.code[0].value == (
        "evil.xlsx: bladet 'Kontakter' sträcker sig över 16,384 kolumner (till cell "
        "XFD1048576), över gränsen på 1,000; förväntade högst 1,000 kolumner"
    )
    assert at.subheader[-1].value == "Inläsningshistorik"


def test_data_page_in_swedish_shows_an_unreadable_load_in_swedish(
    sample_store: Store, monkeypatch: pytest.MonkeyPatch, swedish: None
) -> None:
    """A refusal met only when loading (a later chunk's decimal point) comes back in Swedish."""
    monkeypatch.setattr(readers, "CHUNK_BYTES", 4096)
    lines = ["contact_id;channel;opened_at;wait_s"]
    lines += [f"K{i};phone;2026-03-05 14:02;{i},5" for i in range(300)]
    lines.append("K300;phone;2026-03-05 14:02;12.5")
    at = _swedish_page(sample_store, monkeypatch)
    at.file_uploader[0].upload("mix.csv", _csv(*lines), "text/csv").run()
    at.button(key="data_ingest").click().run()
    assert not at.exception
    assert at.error[0].value == "Filen lästes inte in. Inget har skrivits."
    assert at.code[-1].value == (
        "mix.csv: rad 301: wait_s '12.5' har decimalpunkt, men filens första rader har "
        'decimalkomma; förväntade samma decimaltecken i hela filen (ange decimal = "," eller '
        '"." i en mappningsfil)'
    )


def test_data_page_in_swedish_shows_an_undo_refused_in_swedish(
    sample_store: Store, monkeypatch: pytest.MonkeyPatch, swedish: None
) -> None:
    first = _load(sample_store, "a1.csv", ROW)
    _load(sample_store, "a2.csv", "K1,chat,2026-03-05 14:02")
    at = _swedish_page(sample_store, monkeypatch)
    at.selectbox(key="data_undo_batch").select(first).run()
    at.checkbox(key="data_undo_confirm").check().run()
    at.button(key="data_undo").click().run()
    assert not at.exception
    (error,) = at.error
    assert error.value == "Inläsningen ångrades inte. Inget har ändrats."
    message = at.code[-1].value  # plain text: it quotes the file name
    assert message.startswith(f"inläsningen {first} (a1.csv) kan inte ångras: senare ")
    assert not ENGLISH.findall(CODE.sub(" ", message.replace("a1.csv", ""))), message
