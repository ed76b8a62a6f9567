"""Rejection reasons and the load report's notes in the UI language.

metrics/ingest writes each refused row's reason in English: it is stored in rejected_rows,
printed by `cx ingest` and counted in reports; so are its notes on how a file was read. The
Data page shows both in the page's language. Each reason's fixed phrases are swapped for the locale's (dashboard/locale,
[reject]). What the file said stays as written: quoted values, column and key names. A
phrase that no pattern here knows stays English. tests/test_reasons.py loads files with
every kind of bad value and checks that a Swedish page shows no English phrase.
"""

from __future__ import annotations

import re

from dashboard.i18n import current_language, translate
from metrics.ingest.validate import DATE_EXAMPLES, TIMESTAMP_EXAMPLES

_SEP = r"\(decimal separator '(?P<sep>[^']*)'\)"

# (locale key under [reject], the English phrase as metrics/ingest writes it). Named groups
# are the phrase's variable parts, passed to the locale's text by name.
PHRASES: tuple[tuple[str, str], ...] = (
    ("empty", r" is empty; expected a value \(required\)"),
    ("bool", r" is not yes/no; expected yes/no, ja/nej, true/false or 1/0"),
    (
        "unknown",
        r" is not known; expected one of (?P<vocab>.+?) "
        r"\(or map it in a mapping file's \[values\.(?P<name>\w+)\]\)",
    ),
    ("whole", r" is not a whole number (?P<lo>-?\d+)–(?P<hi>-?\d+); expected (?P=lo)–(?P=hi)"),
    (
        "seconds",
        r" is not a number of seconds ≥ 0 \(or h:mm:ss\); "
        r"expected a number of seconds ≥ 0 \(or h:mm:ss\) " + _SEP,
    ),
    ("count", r" is not a whole number ≥ 0; expected a whole number ≥ 0 " + _SEP),
    ("money", r" is not a number ≥ 0; expected a number ≥ 0 " + _SEP),
    ("amount", r" is not a number; expected a number " + _SEP),
    ("timestamp", r" is not a date and time; expected " + re.escape(TIMESTAMP_EXAMPLES)),
    ("date", r" is not a date; expected " + re.escape(DATE_EXAMPLES)),
    (
        "format",
        r" does not match the format (?P<fmt>.+?) given in \[formats\]; "
        r"expected that format throughout the column",
    ),
    (
        "clocks",
        r" does not exist in (?P<tz>\S+) \(clocks went forward\); expected a real local time",
    ),
    ("year", r" is outside (?P<lo>\d+)–(?P<hi>\d+); expected a year in that range"),
    (
        "order_dmy",
        r" contradicts the column's date order: it is read as day/month/year(?P<why>.*?); "
        r"expected one order throughout the column",
    ),
    (
        "order_mdy",
        r" contradicts the column's date order: it is read as month/day/year(?P<why>.*?); "
        r"expected one order throughout the column",
    ),
    ("over_12_first", r"' has a first part over 12"),  # why a column's date order was chosen
    ("over_12_second", r"' has a second part over 12"),
    ("dayfirst", r"\(dayfirst = (?P<value>true|false) in the preset or mapping\)"),
    ("duplicate", r"(?P<lead>^|; )duplicate (?P<label>[^']+?) '"),
    (
        "duplicate_row",
        r"': row (?P<row>\S+) with the same key is loaded; expected each key once per file",
    ),
    ("before", r"' is before (?P<start>\w+) '"),
    ("before_expected", r"'; expected (?P<end>\w+) ≥ (?P<start>\w+)"),
    (
        "reference",
        r" does not exist in (?P<target>\w+); "
        r"expected the id of a row already loaded \(load (?P=target) first\)",
    ),
    (
        "order_by",
        r" is not a time or a number; expected values that order the rows of a key "
        r"\(a time such as 2026-03-05 14:02, or a number\)",
    ),
    (
        "disagree",
        r"': its rows disagree on (?P<what>.+?); expected one value per (?P<label>.+?) in the "
        r"rows \[aggregate\] folds \(or an \[aggregate\] rule for the column\)",
    ),
    (
        "frozen_running",
        r"experiment (?P<experiment>.+?) is running: unit (?P<unit>.+?) is assigned to variant "
        r"(?P<stored>.+?), the file says (?P<new>.+?); "
        r"assignments of a running or decided experiment cannot change",
    ),
    (
        "frozen_decided",
        r"experiment (?P<experiment>.+?) is decided: unit (?P<unit>.+?) is assigned to variant "
        r"(?P<stored>.+?), the file says (?P<new>.+?); "
        r"assignments of a running or decided experiment cannot change",
    ),
    (
        "insert_only",
        r" is already stored with a different (?P<columns>.+?); --insert-only refuses updates",
    ),
)
# The report's notes on how a file was read (metrics/ingest: validate._warnings, filter_notes,
# load._reference_warnings, the [dedupe] and personal-data key notes), whole sentences.
_N = r"(?P<n>[\d,]+)"
NOTES: tuple[tuple[str, str], ...] = (
    (
        "slashed",
        r"(?P<name>\w+): every slashed date could be month/day or day/month; read as "
        r"month/day/year \(set dayfirst = true in a mapping file if they are day/month\)",
    ),
    ("excel", r" read as Excel durations \(fractions of a day, 0\.5 = 12 h\)"),
    (
        "swapped",
        r" read from (?P<src>.+?) with yes and no swapped \(answered = not (?P<name>\w+)\)",
    ),
    ("dedupe_latest_by", r"\[dedupe\] keeps the latest row of each key by "),
    ("dedupe_first_by", r"\[dedupe\] keeps the first row of each key by "),
    (
        "dedupe_latest_file",
        r"\[dedupe\] keeps the latest row of each key in file order "
        r"\(no order_by, no updated_at column\)",
    ),
    (
        "dedupe_first_file",
        r"\[dedupe\] keeps the first row of each key in file order "
        r"\(no order_by, no updated_at column\)",
    ),
    (
        "aggregate_missing",
        r"\[aggregate\] (?P<name>.+?): the file has no such column; the rule is not used",
    ),
    (
        "ces_agreement",
        r"ces read as CES 2\.0 agreement \(7 = easy\) and stored as effort 8 - x "
        r"\(1 = very easy\)",
    ),
    (
        "references",
        _N + r" row\(s\) have a (?P<column>\w+) not in (?P<target>\w+) "
        r"\(kept; load (?P=target) to link them\)",
    ),
    (
        "stale",
        _N + r" key\(s\) not loaded: the row \[dedupe\] keeps for each was rejected \(see the "
        r"rejected rows\), so an older row of the key was not loaded in its place; fix those "
        r"rows and load the file again",
    ),
    (
        "filtered",
        _N + r" rows? left out by \[filter\] on (?P<src>.+?) \(filtered, not rejected\)",
    ),
    ("filter_missing", r"\[filter\] (?P<src>.+?): the file has no such column$"),
    (
        "old_salt",
        r"personal data hashed before this version \(salted SHA-256\) will not join with the "
        r"new keyed hashes \(HMAC-SHA256\); the old salt is removed from the store",
    ),
)
_COMPILED = tuple((key, re.compile(pattern)) for key, pattern in PHRASES) + tuple(
    (f"note_{key}", re.compile(pattern)) for key, pattern in NOTES
)


def reason_text(reason: str | None, lang: str | None = None) -> str | None:
    """`reason` or a note (as metrics/ingest wrote it) in `lang` (default: the page's
    language). English is returned as written; en.toml's [reject] texts only document the
    phrases (tests/test_reasons.py checks each pattern matches its English text)."""
    lang = lang or current_language()
    if not reason or lang == "en":
        return reason
    for key, pattern in _COMPILED:
        reason = pattern.sub(
            lambda m, k=key: translate(lang, f"reject.{k}", **m.groupdict()), reason
        )
    return reason


def reasons_in(values: list[str | None], lang: str | None = None) -> list[str | None]:
    """reason_text of each value (a column of a table shown on the page), each distinct
    value once: a batch keeps up to 10,000 rejected rows, often with the same reason."""
    lang = lang or current_language()
    said = {v: reason_text(v, lang) for v in set(values)}
    return [said[v] for v in values]
