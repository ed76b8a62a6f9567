"""Personal data: which columns hold names, e-mail addresses or phone numbers, and salted hashing."""

from __future__ import annotations

import json
import secrets

import duckdb
import polars as pl

from metrics.ingest.spec import normalise_name

# Columns whose header says they hold a person's name (dropped: no use in aggregates) and
# those holding contact details (hashed: the salted hash still joins repeat contacts).
_NAME_HEADERS = (
    "name",
    "fullname",
    "firstname",
    "lastname",
    "givenname",
    "surname",
    "familyname",
    "requester",
    "requestername",
    "submitter",
    "assignee",
    "assigneename",
    "agentname",
    "customername",
    "contactname",
    "username",
    "recipientfirstname",
    "recipientlastname",
    "namn",
    "förnamn",
    "efternamn",
    "kundnamn",
    "handläggare",
    "handläggarnamn",
    "customername",
    "contactname",
    "fullnamn",
    "recipientname",
    "ipaddress",
    "locationlatitude",
    "locationlongitude",
)
_EMAIL_MARKERS = ("email", "mail", "epost")
_PHONE_MARKERS = ("phone", "telefonnummer", "mobilnummer", "mobile", "telnr", "mobil")

EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
SALT_KEY = "ingest_pii_salt"


def classify_header(header: str) -> str | None:
    """'dropped' for names (and IP/location), 'hashed' for e-mail and phone, else None."""
    key = normalise_name(header)
    if any(m in key for m in _EMAIL_MARKERS) or any(m in key for m in _PHONE_MARKERS):
        return "hashed"
    if key in _NAME_HEADERS:
        return "dropped"
    return None


def looks_like_email(values: pl.Series) -> bool:
    """True when most of the first thousand non-empty values are e-mail addresses."""
    sample = values.head(5000).drop_nulls().head(1000)  # head first: no copy of a big column
    if sample.len() == 0 or sample.dtype != pl.String:
        return False
    return bool(sample.str.strip_chars().str.contains(EMAIL_RE).mean() > 0.5)


def get_or_create_salt(cur: duckdb.DuckDBPyConnection) -> str:
    """The store's secret salt, created inside the caller's write transaction on first use."""
    rows = cur.execute("SELECT value FROM settings WHERE key = ?", [SALT_KEY]).fetchall()
    if rows:
        return json.loads(rows[0][0])
    salt = secrets.token_hex(16)
    cur.execute("INSERT INTO settings VALUES (?, ?)", [SALT_KEY, json.dumps(salt)])
    return salt


def hash_columns(
    cur: duckdb.DuckDBPyConnection, frame: pl.DataFrame, columns: list[str], salt: str
) -> pl.DataFrame:
    """Replace `columns` by salted SHA-256 of their trimmed, lower-cased text, in the engine."""
    if not columns:
        return frame
    part = frame.select(columns)
    cur.register("__pii", part)
    try:
        exprs = ", ".join(
            f'CASE WHEN "{c}" IS NULL THEN NULL ELSE sha256(? || lower(trim("{c}"))) END AS "{c}"'
            for c in (col.replace('"', '""') for col in columns)
        )
        hashed = cur.sql(f"SELECT {exprs} FROM __pii", params=[salt] * len(columns)).pl()
    finally:
        cur.unregister("__pii")
    return frame.with_columns([hashed[c].alias(c) for c in columns])


def strip_pii_from_raw(frame: pl.DataFrame, drop: list[str]) -> pl.DataFrame:
    """Frame of raw values safe to keep in rejected_rows: personal-data columns removed."""
    return frame.drop([c for c in drop if c in frame.columns])


__all__ = [
    "EMAIL_RE",
    "classify_header",
    "get_or_create_salt",
    "hash_columns",
    "looks_like_email",
    "strip_pii_from_raw",
]
