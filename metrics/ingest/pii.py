"""Personal data: detection by header and value shape, keyed hashing (HMAC-SHA256), masking."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from metrics.ingest.errors import IngestError
from metrics.ingest.spec import normalise_name
from metrics.ingest.vocab import PII_HEADER_MARKERS, PII_HEADERS, PII_NAME_NOT_PERSON

# -- the key --------------------------------------------------------------------------------
KEY_ENV = "CX_PII_KEY"  # the key itself (any text of at least MIN_KEY_CHARS characters)
KEY_FILE_ENV = "CX_PII_KEY_FILE"  # where the key file is (created on first use)
MIN_KEY_CHARS = 16
KEY_ID_SETTING = "ingest_pii_key_id"  # a fingerprint of the key, never the key
OLD_SALT_SETTING = "ingest_pii_salt"  # the salted-SHA-256 scheme before HMAC; removed on use
KEY_ID_LABEL = b"cx-console pii key id"


class PiiKeyError(IngestError):
    """The personal-data key cannot be read or created, or is not the one the store used."""


@dataclass(frozen=True)
class PiiKey:
    """The HMAC key and where it came from. `secret` is never written to the store or a log."""

    secret: bytes = field(repr=False)
    source: str  # "environment (CX_PII_KEY)" or "file"
    path: Path | None

    @property
    def key_id(self) -> str:
        """A fingerprint that tells keys apart without revealing them (HMAC of a constant)."""
        return hmac.new(self.secret, KEY_ID_LABEL, hashlib.sha256).hexdigest()[:12]


def key_file_path() -> Path:
    """`$CX_PII_KEY_FILE`, else `$XDG_CONFIG_HOME/cx-console/pii.key` (~/.config by default).

    A per-user config directory, never beside the store: a copied or shared store file must
    not carry the key that reverses its hashes.
    """
    explicit = os.environ.get(KEY_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if os.name == "nt" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "cx-console" / "pii.key"


def load_key(*, create: bool = True) -> PiiKey | None:
    """The key from `CX_PII_KEY`, else from the key file (created with mode 0600 if absent).

    Returns None only when `create` is False and there is no key yet.
    """
    env = os.environ.get(KEY_ENV)
    if env is not None and env.strip():
        text = env.strip()
        if len(text) < MIN_KEY_CHARS:
            raise PiiKeyError(
                f"{KEY_ENV} is {len(text)} characters long; expected at least {MIN_KEY_CHARS} "
                "(e.g. 64 hex digits from `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return PiiKey(text.encode("utf-8"), f"environment ({KEY_ENV})", None)
    path = key_file_path()
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    return PiiKey(_read_key_file(path), "file", path)


def _create_key_file(path: Path) -> None:
    """Write a new random key atomically: the first of two racing processes wins, both agree."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: use its key
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise PiiKeyError(
            f"cannot create the personal-data key file {path} ({exc.strerror or exc}); "
            f"expected a writable directory, or set {KEY_FILE_ENV} or {KEY_ENV}"
        ) from None


def _read_key_file(path: Path) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise PiiKeyError(f"personal-data key {path} is not a file; expected a key file")
        if os.name != "nt" and info.st_mode & 0o077:
            raise PiiKeyError(
                f"personal-data key file {path} is readable by others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); expected 0600: run chmod 600 {path}"
            )
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PiiKeyError(
            f"cannot read the personal-data key file {path} ({exc.strerror or exc})"
        ) from None
    if len(text) < MIN_KEY_CHARS:
        raise PiiKeyError(
            f"personal-data key file {path} holds {len(text)} characters; expected at least "
            f"{MIN_KEY_CHARS} (delete it to have a new key created, which breaks joins with "
            "data hashed before)"
        )
    return text.encode("utf-8")


def key_location() -> str:
    """Where the key is read from, for a page or `cx settings`: never the key itself."""
    if os.environ.get(KEY_ENV, "").strip():
        return f"the environment variable {KEY_ENV}"
    return str(key_file_path())


def store_key_id(cur: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the key the store's hashes were made with, if any."""
    rows = cur.execute("SELECT value FROM settings WHERE key = ?", [KEY_ID_SETTING]).fetchall()
    return json.loads(rows[0][0]) if rows else None


def check_store_key(cur: duckdb.DuckDBPyConnection, key: PiiKey) -> list[str]:
    """Refuse a key other than the store's (its hashes would never join); notes for the report."""
    known = store_key_id(cur)
    if known is not None and known != key.key_id:
        where = str(key.path) if key.path else key.source
        raise PiiKeyError(
            f"the personal-data key ({where}, id {key.key_id}) is not the one this store's "
            f"hashes were made with (id {known}); expected the same key: set {KEY_FILE_ENV} "
            f"or {KEY_ENV} to it (`cx settings show` prints both ids)"
        )
    old = cur.execute("SELECT count(*) FROM settings WHERE key = ?", [OLD_SALT_SETTING])
    if old.fetchall()[0][0]:
        return [
            "personal data hashed before this version (salted SHA-256) will not join with the "
            "new keyed hashes (HMAC-SHA256); the old salt is removed from the store"
        ]
    return []


def record_store_key(cur: duckdb.DuckDBPyConnection, key: PiiKey) -> None:
    """Inside the write transaction: remember the key's fingerprint, forget the old salt."""
    if store_key_id(cur) is None:
        cur.execute("INSERT INTO settings VALUES (?, ?)", [KEY_ID_SETTING, json.dumps(key.key_id)])
    # Without the salt the old hashes cannot be brute-forced from the store alone either.
    cur.execute("DELETE FROM settings WHERE key = ?", [OLD_SALT_SETTING])


# -- detection ------------------------------------------------------------------------------
# What each class of personal data becomes: contact details are hashed (repeat contacts still
# join), the rest is dropped (no use in aggregates, and a name or personnummer is too easy to
# guess from a hash). A class found in a mapped id column is hashed in place instead.
ACTIONS: dict[str, str] = {
    "email": "hashed",
    "phone": "hashed",
    "personnummer": "dropped",
    "name": "dropped",
    "address": "dropped",
    "ip": "dropped",
    "location": "dropped",
}
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
# YYMMDD or YYYYMMDD, '-' or '+' (100 years or older) or nothing, then NNNC. Day 61-91 is a
# samordningsnummer (day + 60). The check digit is tested separately (Luhn).
PNR_RE = r"^(?:\d{2})?\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])[-+]?\d{4}$"
IPV4_RE = r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
IPV6_RE = r"^(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|[0-9A-Fa-f:]*::[0-9A-Fa-f:.]*)$"
# Loose: national (0 + area code) or international (+ / 00) with spaces, hyphens, brackets.
PHONE_RE = r"^(?:\+\s?[1-9]|00[1-9]|0[1-9])[\d\s\-()]{5,20}$"
# Strict, for mapped id columns and single values: international, or a Swedish mobile.
PHONE_STRICT_RE = (
    r"^(?:(?:\+|00)[1-9][\d\s\-()]{6,18}\d|07[02369][\s-]?\d{3}[\s-]?\d{2}[\s-]?\d{2})$"
)
DATE_LIKE_RE = r"^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}"
SAMPLE = 1000
SHARE = 0.5  # a column is personal data when at least half its sampled values have the shape
MASK = "(personal data hidden)"


def classify_header(header: str) -> str | None:
    """The personal-data class a header names, or None.

    Classes are checked in the order email, phone, personnummer, ip, location, address,
    name, so "Requester email" is an e-mail and "IP address" an IP. Any header ending in
    name/namn ("Kundens namn", "Agent name") names a person unless the word before it is
    one of PII_NAME_NOT_PERSON ("Product name", "Filnamn").
    """
    key = normalise_name(header)
    for cls in ("email", "phone", "personnummer", "ip", "location", "address", "name"):
        whole = key in PII_HEADERS.get(cls, ())
        if whole or any(m in key for m in PII_HEADER_MARKERS.get(cls, ())):
            return cls
    for suffix in ("name", "namn"):
        if key.endswith(suffix) and len(key) > len(suffix):
            stem = key[: -len(suffix)]
            if stem not in PII_NAME_NOT_PERSON and stem.rstrip("s") not in PII_NAME_NOT_PERSON:
                return "name"
    return None


def _luhn_ok(digits: pl.Expr) -> pl.Expr:
    """Luhn check of the last ten digits (Skatteverket: weights 2,1,2,... over YYMMDDNNNC)."""
    last10 = digits.str.slice(-10)
    terms = []
    for i in range(10):
        d = last10.str.slice(i, 1).cast(pl.Int32, strict=False)
        terms.append((d * 2) // 10 + (d * 2) % 10 if i % 2 == 0 else d)
    # One flat sum, nulls kept (a value under ten digits has no check): a chain of 30
    # additions cost polars ~2.5 ms to plan on every call, whatever the number of values.
    return (pl.sum_horizontal(terms, ignore_nulls=False) % 10) == 0


def shape_flags(values: pl.Series, *, strict: bool = False) -> pl.DataFrame:
    """Per value: is it an e-mail, a personnummer (valid check digit), an IP, a phone number."""
    phone_re = PHONE_STRICT_RE if strict else PHONE_RE
    v = pl.col("v")
    digits = pl.col("d")
    return (
        pl.DataFrame({"v": values.cast(pl.String).str.strip_chars()})
        .with_columns(v.str.replace_all(r"\D", "").alias("d"))
        .select(
            v.str.contains(EMAIL_RE).alias("email"),
            (v.str.contains(PNR_RE) & _luhn_ok(digits)).alias("personnummer"),
            (v.str.contains(IPV4_RE) | v.str.contains(IPV6_RE)).alias("ip"),
            (
                v.str.contains(phone_re)
                & ~v.str.contains(DATE_LIKE_RE)
                & digits.str.len_chars().is_between(8, 15)
            ).alias("phone"),
        )
    )


def classify_values(values: pl.Series, *, strict: bool = False) -> str | None:
    """The class most of the first SAMPLE non-empty values have, or None.

    A personnummer wins over a phone number: "0701234567" fits both shapes, but only one
    phone number in ten passes the Luhn check, so a column that mostly does is personnummer.
    """
    if values.dtype != pl.String:
        return None
    sample = values.head(SAMPLE * 5).drop_nulls().str.strip_chars()  # head first: no big copy
    sample = sample.filter(sample.str.len_bytes() > 0).head(SAMPLE)
    if sample.len() == 0:
        return None
    share = shape_flags(sample, strict=strict).mean()
    for cls in ("personnummer", "email", "ip", "phone"):
        if (share[cls][0] or 0) >= SHARE:
            return cls
    return None


def looks_like_email(values: pl.Series) -> bool:
    """True when most of the first thousand non-empty values are e-mail addresses."""
    return classify_values(values, strict=True) == "email"


# -- hashing --------------------------------------------------------------------------------
def normalise_for_hash(values: pl.Series, kind: str) -> pl.Series:
    """The text that is hashed, so that one person gives one hash however it was written.

    e-mail: trimmed, lower-cased. phone: digits with a leading +; 00 -> +, a national 0 ->
    +46 (so "070-123 45 67" and "+46701234567" agree). personnummer: twelve digits (the
    century of a ten-digit one inferred as Skatteverket does: '+' means 100 years or older).
    Anything else, or a value without the class's shape: trimmed and lower-cased.
    """
    s = values.cast(pl.String).str.strip_chars()
    generic = s.str.to_lowercase()
    if kind == "phone":
        core = s.str.replace_all(r"\(0\)", "")
        digits = core.str.replace_all(r"\D", "")
        plus = core.str.starts_with("+")
        out = pl.select(
            pl.when(pl.lit(digits).str.len_chars() < 6)
            .then(pl.lit(generic))
            .when(pl.lit(plus))
            .then(pl.lit("+") + pl.lit(digits))
            .when(pl.lit(digits).str.starts_with("00"))
            .then(pl.lit("+") + pl.lit(digits).str.slice(2))
            .when(pl.lit(digits).str.starts_with("0"))
            .then(pl.lit("+46") + pl.lit(digits).str.slice(1))
            .otherwise(pl.lit(digits))
        ).to_series()
        return out.alias(values.name)
    if kind == "personnummer":
        digits = s.str.replace_all(r"\D", "")
        from datetime import date

        yy_now = date.today().year % 100
        century_now = date.today().year - yy_now
        yy = digits.str.slice(0, 2).cast(pl.Int32, strict=False)
        old = s.str.contains(r"\+\d{4}$")
        century = pl.select(
            pl.when(pl.lit(yy) > yy_now).then(century_now - 100).otherwise(century_now)
            - pl.when(pl.lit(old)).then(100).otherwise(0)
        ).to_series()
        out = pl.select(
            pl.when(~pl.lit(s).str.contains(PNR_RE))
            .then(pl.lit(generic))
            .when(pl.lit(digits).str.len_chars() == 12)
            .then(pl.lit(digits))
            .otherwise(pl.lit(century).cast(pl.String).str.slice(0, 2) + pl.lit(digits))
        ).to_series()
        return out.alias(values.name)
    return generic.alias(values.name)


def _pads(secret: bytes) -> tuple[str, str]:
    """RFC 2104: K0 = key (hashed first if longer than the 64-byte block), zero-padded."""
    k0 = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    k0 = k0.ljust(64, b"\0")
    return bytes(b ^ 0x5C for b in k0).hex(), bytes(b ^ 0x36 for b in k0).hex()


def hmac_sql(values: pl.Series, secret: bytes) -> pl.Series:
    """Hex HMAC-SHA256 of each (already normalised) value, in DuckDB; nulls stay null.

    DuckDB has no hmac(), so RFC 2104 is written out: sha256(K0^opad || sha256(K0^ipad || m)),
    run on DuckDB's threads. It equals Python's hmac.new(key, m, sha256).hexdigest().
    """
    opad, ipad = _pads(secret)
    con = duckdb.connect()
    try:
        con.register("__pii", pl.DataFrame({"v": values.cast(pl.String)}).to_arrow())
        out = con.sql(
            "SELECT sha256(unhex($opad) || unhex(sha256(unhex($ipad) || encode(v)))) AS h "
            "FROM __pii",
            params={"opad": opad, "ipad": ipad},
        ).pl()
    finally:
        con.close()
    return out["h"].alias(values.name)


def hash_columns(
    frame: pl.DataFrame, columns: Mapping[str, str] | list[str], key: PiiKey | bytes
) -> pl.DataFrame:
    """Replace each column by hex HMAC-SHA256(key, normalised value); nulls stay null.

    `columns` maps column -> class (email, phone, personnummer; anything else: trimmed and
    lower-cased; a plain list means that). Each distinct value is normalised and hashed once,
    across all the columns, and joined back; benchmarks/pii.py measures this against
    hashing every row.
    """
    kinds = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns, "generic")
    kinds = {c: k for c, k in kinds.items() if c in frame.columns}
    if not kinds:
        return frame
    secret = key.secret if isinstance(key, PiiKey) else key
    # Distinct raw values are normalised, distinct normalised values hashed, then both joined
    # back: an export repeats the same customer's address and number many times.
    raws = {c: frame[c].cast(pl.String).drop_nulls().unique().alias("raw") for c in kinds}
    norms = {c: normalise_for_hash(raws[c], kinds[c]).alias("v") for c in kinds}
    uniq = pl.concat(list(norms.values())).unique()
    lookup = pl.DataFrame({"v": uniq, "h": hmac_sql(uniq, secret)})
    out = []
    for c in kinds:
        table = pl.DataFrame([raws[c], norms[c]]).join(lookup, on="v", how="left")
        col = pl.DataFrame({"raw": frame[c].cast(pl.String)})
        joined = col.join(table.select("raw", "h"), on="raw", how="left", maintain_order="left")
        out.append(joined["h"].alias(c))
    return frame.with_columns(out)


# -- masking --------------------------------------------------------------------------------
def mask_values(values: pl.Series) -> pl.Series:
    """Values that are wholly an e-mail, a personnummer, an IP or a phone number -> MASK.

    For text that is shown or kept where a clear value must never be: the quoted value in a
    rejection reason, a stray address in a column that is not personal data as a whole.
    """
    s = values.cast(pl.String)
    flags = shape_flags(s, strict=True)
    hit = flags.select(pl.any_horizontal(pl.all()).fill_null(False)).to_series()
    if not hit.any():
        return s
    return (
        pl.select(pl.when(pl.lit(hit)).then(pl.lit(MASK)).otherwise(pl.lit(s)))
        .to_series()
        .alias(values.name)
    )


# Personal data inside free text ("ring 121212-1212 tillbaka"): e-mail addresses, date-shaped
# personnummer (with or without century and separator) and phone numbers written the usual
# ways. Over-masking a note is cheaper than a leaked number.
_B = r"(?-u:\b)"  # ASCII word boundary: the Unicode one makes these scans ~30x slower
TEXT_PATTERNS = (
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}",
    _B
    + r"(?:19|20)?[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]|6[1-9]|[78][0-9]|9[01])"
    + r"[-+]?[0-9]{4}"
    + _B,
    r"(?:\+|" + _B + r"00)[1-9][0-9]{0,2}[ \t-]?(?:\(0\))?[0-9 \t-]{6,14}[0-9]" + _B,
    _B + r"0[0-9]{1,3}[ \t-]?[0-9]{2,4}[ \t-]?[0-9]{2}[ \t-]?[0-9]{2}" + _B,
)


def mask_text(values: pl.Series) -> pl.Series:
    """Free text with every e-mail, personnummer and phone number in it replaced by MASK."""
    s = values.cast(pl.String)
    any_hit = s.str.contains("|".join(f"(?:{p})" for p in TEXT_PATTERNS)).fill_null(False)
    if not any_hit.any():  # the usual case: one scan, no copy
        return s
    idx = any_hit.arg_true()
    part = s.gather(idx)
    for pattern in TEXT_PATTERNS:
        part = part.str.replace_all(pattern, MASK)
    out = s.clone()
    out.scatter(idx, part)
    return out.alias(values.name)


def mask_reason(reasons: pl.Series) -> pl.Series:
    """Reasons with any quoted e-mail, personnummer or phone-like value replaced by MASK."""
    out = reasons.cast(pl.String)
    out = out.str.replace_all(r"'[^'\s@]+@[^'\s@]+'", f"'{MASK}'")
    out = out.str.replace_all(r"'(?:\d{2})?\d{6}[-+]?\d{4}'", f"'{MASK}'")
    out = out.str.replace_all(r"'(?:\+|00|0[1-9])[\d\s\-()]{6,20}'", f"'{MASK}'")
    return out.str.replace_all(r"'(?:\d{1,3}\.){3}\d{1,3}'", f"'{MASK}'")


__all__ = [
    "ACTIONS",
    "EMAIL_RE",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "MASK",
    "PiiKey",
    "PiiKeyError",
    "check_store_key",
    "classify_header",
    "classify_values",
    "hash_columns",
    "hmac_sql",
    "key_file_path",
    "key_location",
    "load_key",
    "looks_like_email",
    "mask_reason",
    "mask_text",
    "mask_values",
    "normalise_for_hash",
    "record_store_key",
    "store_key_id",
]
