"""Personal data: keyed hashing with a key outside the store, detection, nothing in clear."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from metrics.ingest import IngestError, ingest_file, preview_file
from metrics.ingest.pii import (
    MASK,
    PiiKeyError,
    _luhn_ok,
    classify_header,
    classify_values,
    hash_columns,
    load_key,
    mask_reason,
    mask_text,
    normalise_for_hash,
)
from metrics.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]

# Skatteverket's published examples: 811218-9876 and the test number 121212-1212 are valid.
PNR_A = "811218-9876"
PNR_A_12 = "198112189876"
PNR_B = "121212-1212"


def luhn_digit(nine: str) -> int:
    """Check digit of YYMMDDNNN by the Luhn rule, written out (the reference)."""
    total = 0
    for i, ch in enumerate(nine):
        p = int(ch) * (2 if i % 2 == 0 else 1)
        total += p // 10 + p % 10
    return (10 - total % 10) % 10


def ref_hmac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


# A Swedish contacts export: every kind of personal data under Swedish headers, and a column
# of personnummer under an innocent header ("Referens"). Row 3 is rejected (unknown channel)
# and row 4 has an e-mail address typed into the channel column (rejected, reason masked).
SWEDISH = (
    "Ärende-ID;Kanal;Skapad;Telefon;Personnummer;Kundens namn;Kontaktperson;Adress;"
    "Referens;E-post;Anteckning\n"
    f"S1;Telefon;2026-03-05 10:00;070-123 45 67;{PNR_A};Anna Svensson;Per Olsson;"
    f"Storgatan 1, 111 22 Stockholm;{PNR_A};Anna.Svensson@Example.se ;ok\n"
    f"S2;Chatt;2026-03-05 11:00;+46701234567;19121212-1212;Bo Ek;Lena Lind;"
    f"Lillgatan 2;{PNR_B};bo.ek@example.se;ring {PNR_B} tillbaka\n"
    "S3;Brevduva;2026-03-05 12:00;08-555 123 45;640823-3234;Gun Rask;Kim Berg;"
    "Ringvägen 3;640823-3234;gun@example.com;x\n"
    "S4;gun@example.com;2026-03-05 13:00;0046 8 555 999 00;900101-1239;Eva Holm;Ola Nord;"
    "Backen 4;900101-1239;eva@example.com;y\n"
)
CLEAR = (
    "070-123 45 67",
    "0701234567",
    "+46701234567",
    "46701234567",
    "08-555 123 45",
    "0855512345",
    PNR_A,
    PNR_A_12,
    "8112189876",
    "121212-1212",
    "1212121212",
    "640823-3234",
    "6408233234",
    "900101-1239",
    "Anna Svensson",
    "Per Olsson",
    "Storgatan",
    "Lillgatan",
    "Gun Rask",
    "Kim Berg",
    "Eva Holm",
    "Ola Nord",
    "Ringvägen",
    "Backen 4",
    "anna.svensson@example.se",
    "Anna.Svensson@Example.se",
    "bo.ek@example.se",
    "gun@example.com",
    "eva@example.com",
)


def _text_columns(store: Store) -> list[tuple[str, str]]:
    return (
        store.cursor()
        .execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND (data_type = 'VARCHAR' OR data_type = 'JSON')"
        )
        .fetchall()
    )


def _all_text(store: Store) -> str:
    """Every VARCHAR and JSON value of every table, one big string."""
    parts = []
    cur = store.cursor()
    for table, column in _text_columns(store):
        rows = cur.execute(f'SELECT CAST("{column}" AS VARCHAR) FROM "{table}"').fetchall()
        parts += [r[0] for r in rows if r[0] is not None]
    return "\n".join(parts)


def _key(pii_key_file: Path) -> bytes:
    return pii_key_file.read_text().strip().encode()


def test_luhn_reference_agrees_with_published_examples():
    assert luhn_digit("811218987") == 6 and luhn_digit("121212121") == 2


def test_luhn_check_agrees_with_the_reference_and_has_none_under_ten_digits():
    """shape_flags' check digit test (pii._luhn_ok) against luhn_digit, on the last ten digits;
    a value of fewer digits has no check (null), which classify_values leaves out of its share."""
    nines = [f"{(i * 7_919_113) % 10**9:09d}" for i in range(400)]
    values = [n + str(luhn_digit(n)) for n in nines]  # valid
    values += [n + str((luhn_digit(n) + 1 + i % 9) % 10) for i, n in enumerate(nines)]  # not
    values += ["19" + values[0], "", "7", "12345678", "123456789", None]
    got = pl.DataFrame({"d": values}).select(_luhn_ok(pl.col("d")))[:, 0].to_list()
    assert got == [True] * 400 + [False] * 400 + [True, None, None, None, None, None]


def test_swedish_file_stores_no_clear_value_anywhere(store, pii_key_file, caplog):
    caplog.set_level("DEBUG")
    report = ingest_file(
        store, SWEDISH.encode(), table="contacts", file_name="kunder.csv", max_reject_share=1.0
    )
    for clear in CLEAR:  # nothing logged quotes a value either
        assert clear not in caplog.text, clear
    assert report.pii == {
        "Telefon": "hashed",
        "Personnummer": "dropped",
        "Kundens namn": "dropped",
        "Kontaktperson": "dropped",
        "Adress": "dropped",
        "Referens": "dropped",  # personnummer found by value shape under an innocent header
        "E-post": "hashed",
    }
    assert (report.inserted, report.rejected) == (2, 2)
    # Every VARCHAR/JSON column of every table (contacts.extras, rejected_rows.raw and
    # reason, ingest_batches.report, settings, ...) is free of every clear value.
    assert len(_text_columns(store)) > 10
    dump = _all_text(store)
    for clear in CLEAR:
        assert clear not in dump, clear
    # ... and so are the report and its text form.
    shown = json.dumps(report.to_dict(), ensure_ascii=False) + report.to_text()
    for clear in CLEAR:
        assert clear not in shown, clear
    # The rejection reason names the problem without quoting the e-mail typed as a channel.
    reasons = {r["row_number"]: r["reason"] for r in report.reasons}
    assert reasons[3].startswith("channel 'Brevduva' is not known")
    assert reasons[4].startswith(f"channel '{MASK}' is not known")
    # A personnummer inside a free-text note is masked; the rest of the note stays.
    extras = dict(store.cursor().execute("SELECT contact_id, extras FROM contacts").fetchall())
    assert json.loads(extras["S1"])["Anteckning"] == "ok"
    assert json.loads(extras["S2"])["Anteckning"] == f"ring {MASK} tillbaka"


def test_hmac_equals_standard_library_on_a_hand_case(store, pii_key_file):
    ingest_file(
        store, SWEDISH.encode(), table="contacts", file_name="kunder.csv", max_reject_share=1.0
    )
    key = _key(pii_key_file)
    rows = dict(store.cursor().execute("SELECT contact_id, extras FROM contacts").fetchall())
    s1, s2 = json.loads(rows["S1"]), json.loads(rows["S2"])
    # "070-123 45 67" and "+46701234567" are the same number: one hash, Python's own HMAC.
    assert s1["Telefon"] == s2["Telefon"] == ref_hmac(key, "+46701234567")
    assert s1["E-post"] == ref_hmac(key, "anna.svensson@example.se")  # trimmed, lower-cased
    # Rejected rows keep the hash, not the number: row 4's "0046 8 555 999 00".
    raw = store.cursor().execute("SELECT raw FROM rejected_rows WHERE row_number = 4").fetchall()
    assert json.loads(raw[0][0])["Telefon"] == ref_hmac(key, "+46855599900")
    assert "Kundens namn" not in json.loads(raw[0][0])  # dropped columns are not kept at all


def test_hash_columns_matches_hmac_for_long_keys_and_unicode():
    # A key longer than SHA-256's 64-byte block is hashed first (RFC 2104); UTF-8 values.
    for key in (b"k" * 16, b"x" * 64, b"y" * 100):
        frame = pl.DataFrame({"a": ["Åsa@Exempel.se", None, "b@c.se"]})
        got = hash_columns(frame, {"a": "email"}, key)["a"].to_list()
        assert got == [ref_hmac(key, "åsa@exempel.se"), None, ref_hmac(key, "b@c.se")]


def test_same_key_joins_across_files_and_env_key_is_used(store, monkeypatch):
    monkeypatch.setenv("CX_PII_KEY", "team-secret-0123456789abcdef")
    a = b"contact_id,channel,opened_at,Phone\nJ1,phone,2026-03-05 10:00,+46 70 123 45 67\n"
    b = b"contact_id,channel,opened_at,Mobilnummer\nJ2,phone,2026-03-06 10:00,0701234567\n"
    ingest_file(store, a, table="contacts", file_name="a.csv")
    ingest_file(store, b, table="contacts", file_name="b.csv")
    rows = dict(store.cursor().execute("SELECT contact_id, extras FROM contacts").fetchall())
    expected = ref_hmac(b"team-secret-0123456789abcdef", "+46701234567")
    assert json.loads(rows["J1"])["Phone"] == json.loads(rows["J2"])["Mobilnummer"] == expected


def test_personnummer_as_customer_id_is_hashed_in_place_and_joins(store, pii_key_file):
    body = (
        f"customer_id,signup_date\n{PNR_A},2025-01-01\n{PNR_B},2025-02-01\n".encode()
        + b"19640823-3234,2025-03-01\n"
    )
    report = ingest_file(store, body, table="customers", file_name="kunder.csv")
    assert report.pii == {"customer_id": "hashed"}
    key = _key(pii_key_file)
    ids = {r[0] for r in store.cursor().execute("SELECT customer_id FROM customers").fetchall()}
    # Ten and twelve digits, with or without the hyphen, give one id.
    assert ids == {
        ref_hmac(key, PNR_A_12),
        ref_hmac(key, "201212121212"),
        ref_hmac(key, "196408233234"),
    }
    # An invoice for the same person written with the century links to the same customer.
    inv = b"invoice_id,customer_id,issued_at,amount\nI1,19811218-9876,2026-01-01,10\n"
    ingest_file(store, inv, table="invoices", file_name="inv.csv")
    (cust,) = store.cursor().execute("SELECT customer_id FROM invoices").fetchall()[0]
    assert cust == ref_hmac(key, PNR_A_12)


def test_key_file_created_on_first_use_with_mode_0600_and_not_in_store(store, pii_key_file):
    plain = b"contact_id,channel,opened_at\nK1,phone,2026-03-05 10:00\n"
    ingest_file(store, plain, table="contacts", file_name="plain.csv")
    assert not pii_key_file.exists()  # no personal data, no key needed
    ingest_file(
        store, SWEDISH.encode(), table="contacts", file_name="kunder.csv", max_reject_share=1.0
    )
    assert stat.S_IMODE(pii_key_file.stat().st_mode) == 0o600
    key = pii_key_file.read_text().strip()
    assert len(key) == 64
    assert key not in _all_text(store)
    path = store.path
    store.close()
    data = path.read_bytes()
    assert key.encode() not in data and bytes.fromhex(key) not in data


def test_other_key_is_refused_before_anything_is_written(store, pii_key_file, monkeypatch):
    ingest_file(
        store, SWEDISH.encode(), table="contacts", file_name="kunder.csv", max_reject_share=1.0
    )
    batches = store.cursor().execute("SELECT count(*) FROM ingest_batches").fetchall()
    monkeypatch.setenv("CX_PII_KEY", "another-key-0123456789")
    body = b"contact_id,channel,opened_at,E-mail\nZ1,phone,2026-03-05 10:00,z@z.se\n"
    with pytest.raises(PiiKeyError, match=r"is not the one this store's hashes were made with"):
        ingest_file(store, body, table="contacts", file_name="z.csv")
    assert store.cursor().execute("SELECT count(*) FROM ingest_batches").fetchall() == batches


def test_readable_key_file_and_short_env_key_are_refused(pii_key_file, monkeypatch):
    pii_key_file.write_text("0123456789abcdef0123456789abcdef\n")
    os.chmod(pii_key_file, 0o644)
    with pytest.raises(PiiKeyError, match=r"readable by others \(mode 0644\); expected 0600"):
        load_key()
    os.chmod(pii_key_file, 0o600)
    assert load_key().secret == b"0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("CX_PII_KEY", "short")
    with pytest.raises(IngestError, match="CX_PII_KEY is 5 characters long; expected at least 16"):
        load_key()


def test_old_salted_store_loses_its_salt_and_says_hashes_will_not_join(store):
    with store.write() as cur:
        cur.execute("INSERT INTO settings VALUES ('ingest_pii_salt', '\"abcd\"')")
    report = ingest_file(
        store, SWEDISH.encode(), table="contacts", file_name="kunder.csv", max_reject_share=1.0
    )
    assert any("will not join" in w for w in report.warnings)
    keys = {r[0] for r in store.cursor().execute("SELECT key FROM settings").fetchall()}
    assert "ingest_pii_salt" not in keys and "ingest_pii_key_id" in keys


def test_preview_shows_no_clear_value(store):
    preview = preview_file(SWEDISH.encode(), file_name="kunder.csv", table="contacts")
    text = str(preview.rows.to_dicts()) + str(preview.mapping)
    for clear in CLEAR:
        assert clear not in text, clear


def test_mapping_keep_overrides_a_false_positive(store, tmp_path):
    body = b"contact_id,channel,opened_at,PhoneService\nP1,phone,2026-03-05 10:00,Yes\n"
    report = ingest_file(store, body, table="contacts", file_name="telco.csv")
    assert report.pii == {"PhoneService": "hashed"}  # the header says phone
    mapping = tmp_path / "m.toml"
    mapping.write_text('[pii]\nkeep = ["PhoneService"]\n')
    report = ingest_file(store, body, table="contacts", file_name="telco.csv", mapping=mapping)
    assert report.pii == {} and "PhoneService" in report.extras_columns
    (extras,) = store.cursor().execute("SELECT extras FROM contacts").fetchall()[0]
    assert json.loads(extras)["PhoneService"] == "Yes"


def test_mapping_pii_section_errors_are_one_line(store, tmp_path):
    body = b"contact_id,channel,opened_at\nP1,phone,2026-03-05 10:00\n"
    for text, message in (
        ('[pii]\nkeep = "PhoneService"\n', "m.toml: [pii] keep must be a list of headers"),
        ('[pii]\nallow = ["x"]\n', "m.toml: unknown key(s) in [pii]: allow; expected keep"),
    ):
        mapping = tmp_path / "m.toml"
        mapping.write_text(text)
        with pytest.raises(IngestError) as err:
            ingest_file(store, body, table="contacts", file_name="x.csv", mapping=mapping)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("header", "cls"),
    [
        ("Telefon", "phone"),
        ("Tel", "phone"),
        ("Mobil", "phone"),
        ("Telefonnummer", "phone"),
        ("Phone number", "phone"),
        ("Personnummer", "personnummer"),
        ("Pers.nr", "personnummer"),
        ("Adress", "address"),
        ("Street address", "address"),
        ("Namn", "name"),
        ("Kundens namn", "name"),
        ("Kontaktperson", "name"),
        ("Caller", "name"),
        ("Requester", "name"),
        ("Respondent", "name"),
        ("Agent name", "name"),
        ("First Name", "name"),
        ("IP address", "ip"),
        ("IPAddress", "ip"),
        ("E-post", "email"),
        ("Requester email", "email"),
        ("LocationLatitude", "location"),
        ("Product name", None),
        ("Filnamn", None),
        ("Team name", None),
        ("Kanal", None),
        ("Anteckning", None),
    ],
)
def test_classify_header_swedish_and_english(header, cls):
    assert classify_header(header) == cls


@pytest.mark.parametrize(
    ("values", "cls"),
    [
        ([PNR_A, PNR_B, "6408233234"], "personnummer"),
        (["19811218-9876", "191212121212"], "personnummer"),
        (["a@b.se", "c.d@e.com"], "email"),
        (["192.168.1.10", "10.0.0.1"], "ip"),
        (["2001:db8::1", "fe80::1ff:fe23:4567:890a"], "ip"),
        (["070-123 45 67", "+46 8 555 123 45", "0046701234567"], "phone"),
        (["811218-9875", "121212-1213"], None),  # wrong check digits
        (["05-03-2026", "14:02:00", "2026-03-05"], None),  # dates and times are not phones
        (["12345678", "C1001", "5003"], None),  # plain ids
    ],
)
def test_classify_values_by_shape(values, cls):
    assert classify_values(pl.Series(values)) == cls


def test_phone_and_personnummer_normalisation():
    phones = ["070-123 45 67", "+46 70 123 45 67", "0046701234567", "+46 (0)70-123 45 67"]
    assert normalise_for_hash(pl.Series(phones), "phone").to_list() == ["+46701234567"] * 4
    pnrs = [PNR_A, "8112189876", "19811218-9876", PNR_A_12]
    assert normalise_for_hash(pl.Series(pnrs), "personnummer").to_list() == [PNR_A_12] * 4
    # '+' marks a person of 100 years or more: 121212+1212 was born in 1912.
    assert normalise_for_hash(pl.Series(["121212+1212"]), "personnummer")[0] == "191212121212"


def test_mask_reason_hides_quoted_personal_data_only():
    reasons = pl.Series(
        [
            "duplicate customer_id 'a@b.se': row 1",
            f"customer_id '{PNR_A}' does not exist",
            "wait_s '12,5x' is not a number",
            "channel '+46 70 123 45 67' is not known",
        ]
    )
    got = mask_reason(reasons).to_list()
    assert got[0] == f"duplicate customer_id '{MASK}': row 1"
    assert got[1] == f"customer_id '{MASK}' does not exist"
    assert got[2] == "wait_s '12,5x' is not a number"
    assert got[3] == f"channel '{MASK}' is not known"


def test_cx_settings_show_prints_key_path_and_ids(tmp_path, pii_key_file):
    db = tmp_path / "cx.duckdb"
    with open_store(db) as s:
        ingest_file(
            s, SWEDISH.encode(), table="contacts", file_name="kunder.csv", max_reject_share=1.0
        )
    out = subprocess.run(
        [sys.executable, "-m", "dashboard.cli.main", "settings", "show", "--json", "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    info = json.loads(out.stdout)
    key = load_key(create=False)
    assert info["pii_key_file"] == str(pii_key_file) and info["pii_key_file_mode"] == "0600"
    assert info["pii_key_id"] == key.key_id == info["store_pii_key_id"]
    assert pii_key_file.read_text().strip() not in out.stdout  # the key itself is never shown


def test_mask_text_hides_contact_details_in_notes_but_not_hashes_or_times():
    notes = pl.Series(
        [
            "ring 070-123 45 67 efter lunch",
            "svar till Anna.S@exempel.se idag",
            "pnr 19811218-9876.",
            "+46 8 555 123 45",
            "001234567890abcdef" * 2,  # a hash that happens to start with 00 and digits
            "2026-03-05 14:02:11",
            "order 12345, 3 st",
            None,
        ]
    )
    assert mask_text(notes).to_list() == [
        f"ring {MASK} efter lunch",
        f"svar till {MASK} idag",
        f"pnr {MASK}.",
        MASK,
        "001234567890abcdef" * 2,
        "2026-03-05 14:02:11",
        "order 12345, 3 st",
        None,
    ]


def test_row_with_only_a_name_is_still_a_row(store):
    body = b"contact_id,channel,opened_at,Namn\nA1,phone,2026-03-05 10:00,Anna\n,,,Bo Ek\n"
    report = ingest_file(store, body, table="contacts", file_name="n.csv", max_reject_share=1.0)
    # The second row is rejected (no id), not skipped as blank; its name is not kept.
    assert (report.rows_read, report.inserted, report.rejected) == (2, 1, 1)
    assert "Bo Ek" not in _all_text(store)


def test_racing_first_use_creates_one_key(pii_key_file):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: load_key().secret, range(16)))
    assert len(set(keys)) == 1 and keys[0] == pii_key_file.read_text().strip().encode()
    assert not [p for p in pii_key_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_key_directory_is_created_private(tmp_path, monkeypatch):
    path = tmp_path / "config" / "cx-console" / "pii.key"
    monkeypatch.setenv("CX_PII_KEY_FILE", str(path))
    key = load_key()
    assert key.path == path and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_key_path_is_in_the_user_config_dir(monkeypatch, tmp_path):
    from metrics.ingest.pii import key_file_path

    monkeypatch.delenv("CX_PII_KEY_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert key_file_path() == tmp_path / "cx-console" / "pii.key"
