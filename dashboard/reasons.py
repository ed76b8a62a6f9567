"""Rejection reasons, the load report's notes and whole-file refusals in the UI language.

metrics/ingest writes each refused row's reason in English: it is stored in rejected_rows,
printed by `cx ingest` and counted in reports; so are its notes on how a file was read, and
the one-line message when a whole file (or an undo) is refused. The Data page shows them in
the page's language. Each text's fixed phrases are swapped for the locale's
(dashboard/locale, [reject] for reasons and notes, [refuse] for refusals). What the file
said stays as written: quoted values, column and key names, numbers. A phrase that no
pattern here knows stays English. tests/test_reasons.py and tests/test_file_messages.py
make every kind of reason and refusal for real and check that Swedish keeps no English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

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
    return _swap(reason, _COMPILED, "reject", lang, lambda m: m.groupdict())


def _swap(
    text: str,
    patterns: Iterable[tuple[str, re.Pattern[str]]],
    section: str,
    lang: str,
    parts: Callable[[re.Match[str]], dict[str, Any]],
) -> str:
    """`text` with each pattern's match replaced by the locale's `section.key` text, filled
    with `parts(match)` (the match's variable parts)."""
    for key, pattern in patterns:
        text = pattern.sub(lambda m, k=key: translate(lang, f"{section}.{k}", **parts(m)), text)
    return text


def reasons_in(values: list[str | None], lang: str | None = None) -> list[str | None]:
    """reason_text of each value (a column of a table shown on the page), each distinct
    value once: a batch keeps up to 10,000 rejected rows, often with the same reason."""
    lang = lang or current_language()
    said = {v: reason_text(v, lang) for v in set(values)}
    return [said[v] for v in values]


# -- whole-file refusals ----------------------------------------------------------------------
# The one-line messages of a file refused whole (IngestError from metrics/ingest: readers,
# load, validate, and mapping.py's checks of a preset, a mapping file or the editor's
# mapping, pii.py's key checks) and of an undo refused (BatchError, batches.py). Each pattern is
# the message after "<file>: "; the file name before it stays as written, like every named
# group (numbers keep ingest's "1,000" and "2.0 MB": they are part of the text, not
# formatted by the page).
_Q = r"(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"  # a Python repr of a str: a quoted name
_NUM = r"\d[\d,]*"
_SIZE = r"\d+(?:\.\d)? (?:bytes|KB|MB|GB)"
_FORMATS = re.escape("a CSV/TSV text file, an .xlsx workbook or a .parquet file")
_QUOTE_OPEN = re.escape("(a quote left open makes the rest of the file one value)")
REFUSALS: tuple[tuple[str, str], ...] = (
    # metrics/ingest/readers.py: size, format, encoding, limits
    ("open", r"cannot open the file \((?P<why>.+)\)$"),
    ("read", r"cannot read the file \((?P<why>.+)\)$"),
    (
        "size",
        rf"the file is (?P<size>{_SIZE}), over the limit of (?P<limit>{_SIZE}); "
        r"expected a smaller file \(split it, or raise the limit\)",
    ),
    (
        "empty",
        r"the file is empty; expected a header row with column names and at least one data row",
    ),
    (
        "no_rows",
        r"the file has a header but no data rows; expected at least one row under the header",
    ),
    (
        "xls",
        rf"this is an old Excel \.xls workbook; expected {_FORMATS} \(save it as \.xlsx or CSV\)",
    ),
    ("binary", rf"cannot read the file: it looks binary, not text; expected {_FORMATS}"),
    (
        "delimiter",
        rf"the delimiter was not found: the header (?P<header>{_Q}) looks like (?P<n>{_NUM}) "
        r"names separated by spaces, but the rows do not split into as many values; expected "
        r"fields separated by , ; tab or \|, or columns aligned by spaces with a value in every "
        r"column \(save the file as CSV\)",
    ),
    (
        "ragged",
        rf"a row has more fields than the header's (?P<width>{_NUM}) columns \(delimiter "
        r"(?P<delimiter>.+?)\); expected every row to have as many fields as the header "
        r"\(quote values that contain the delimiter\)",
    ),
    ("csv", r"cannot read the file as CSV: (?P<why>.+)$"),
    (
        "record",
        rf"a row is longer than (?P<size>{_SIZE}); expected rows of ordinary length {_QUOTE_OPEN}",
    ),
    (
        "blank_lines",
        rf"from data row (?P<row>{_NUM}) on, (?P<lines>{_NUM}) lines in (?P<size>{_SIZE}) for "
        rf"(?P<width>{_NUM}) columns \(blank or short lines\); expected rows with a field per "
        r"column",
    ),
    (
        "field",
        rf"row (?P<row>\d+), column (?P<column>{_Q}): a value of (?P<size>{_SIZE}) is over the "
        rf"field limit of (?P<limit>{_SIZE}); expected shorter values {_QUOTE_OPEN}",
    ),
    (
        "columns_header",
        rf"the header has (?P<n>{_NUM}) columns, over the limit of (?P<limit>{_NUM}); "
        r"expected at most (?P=limit) columns",
    ),
    (
        "columns_file",
        rf"the file has (?P<n>{_NUM}) columns, over the limit of (?P<limit>{_NUM}); "
        r"expected at most (?P=limit) columns",
    ),
    (
        "columns_sheet",
        rf"sheet (?P<sheet>{_Q}) spans (?P<n>{_NUM}) columns \(to cell (?P<cell>\w+)\), over "
        rf"the limit of (?P<limit>{_NUM}); expected at most (?P=limit) columns",
    ),
    (
        "columns",
        rf"(?P<n>{_NUM}) columns, over the limit of (?P<limit>{_NUM}); "
        r"expected at most (?P=limit) columns",
    ),
    (
        "rows_sheet",
        rf"sheet (?P<sheet>{_Q}) spans (?P<n>{_NUM}) rows \(to cell (?P<cell>\w+)\), over the "
        rf"limit of (?P<limit>{_NUM}); expected at most (?P=limit) rows",
    ),
    (
        "cells_sheet",
        rf"sheet (?P<sheet>{_Q}) spans (?P<rows>{_NUM}) rows x (?P<cols>{_NUM}) columns = "
        rf"(?P<cells>{_NUM}) cells \(to cell (?P<cell>\w+)\), over the limit of "
        rf"(?P<limit>{_NUM}) cells; expected a smaller sheet \(save it as CSV, or delete the "
        r"empty rows and columns\)",
    ),
    (
        "rows",
        rf"more than (?P<limit>{_NUM}) data rows, over the row limit; expected at most "
        r"(?P=limit) rows \(split the file\)",
    ),
    (
        "rows_file",
        rf"the file has (?P<n>{_NUM}) rows, over the limit of (?P<limit>{_NUM}); expected at "
        r"most (?P=limit) rows \(split the file\)",
    ),
    (
        "not_workbook",
        rf"cannot read the workbook: it is not a valid \.xlsx file; expected {_FORMATS}",
    ),
    (
        "parts",
        rf"the workbook has (?P<n>{_NUM}) parts; expected an \.xlsx saved by a spreadsheet "
        r"program \(tens of parts\)",
    ),
    (
        "unpacks",
        rf"the workbook unpacks to (?P<size>{_SIZE}), over the limit of (?P<limit>{_SIZE}); "
        r"expected a smaller workbook \(save the sheet as CSV, or split it\)",
    ),
    (
        "damaged",
        r"the workbook is damaged \((?P<why>.+?)\); expected an \.xlsx saved by a spreadsheet "
        r"program",
    ),
    ("sheet_missing", rf"sheet (?P<sheet>{_Q}) not found; expected one of: (?P<sheets>.*)$"),
    ("sheet_read", rf"cannot read sheet (?P<sheet>{_Q}) \((?P<why>.+)\)$"),
    (
        "not_parquet",
        rf"cannot read the Parquet file: it is not a valid \.parquet file; expected {_FORMATS}",
    ),
    ("parquet_read", r"cannot read the Parquet file \((?P<why>.+)\)$"),
    (
        "row_group",
        rf"row group (?P<n>{_NUM}) unpacks to (?P<size>{_SIZE}), over the limit of "
        rf"(?P<limit>{_SIZE}); expected smaller row groups \(write the file with a row group "
        r"size of 100,000 rows or so\)",
    ),
    # metrics/ingest/load.py and mapping.py: the file and the table (or preset) do not fit
    (
        "missing_fit",
        r"this looks like an? (?P<fit>\w+) file, not (?P<table>\w+): required column\(s\) "
        r"(?P<required>.+?) for (?P=table) are missing; expected --table (?P=fit), or an? "
        r"(?P=table) file",
    ),
    (
        "wrong_table_none",
        rf"this looks like an? (?P<other>\w+) file, not (?P<table>\w+): its columns fill "
        rf"(?P<n>{_NUM}) columns of (?P=other) \((?P<theirs>.*?)\) but only 0 of (?P=table) "
        r"\(none\); nothing was written; expected --table (?P=other)",
    ),
    (
        "wrong_table",
        rf"this looks like an? (?P<other>\w+) file, not (?P<table>\w+): its columns fill "
        rf"(?P<n>{_NUM}) columns of (?P=other) \((?P<theirs>.*?)\) but only (?P<own_n>{_NUM}) "
        r"of (?P=table) \((?!none\))(?P<own>.*?)\); nothing was written; "
        r"expected --table (?P=other)",
    ),
    ("lacks", r" \(it lacks (?P<required>.+?) for (?P<table>\w+)\)$"),
    ("missing_one", r"missing required column for table (?P<table>\w+): "),
    ("missing_many", r"missing required columns for table (?P<table>\w+): "),
    (
        "header_such_as",
        rf" \(expected a header such as (?P<heads>{_Q}(?:, {_Q})*)\)",
    ),
    ("one_of", r"(?<=: |; )one of (?P<required>\w+(?: or \w+)+)(?=; |\. |$)"),
    ("found", r"\. Columns found: (?P<found>.*?)\. (?=To load |$)"),
    (
        "mapping_hint",
        r"To load the file as it is, map (?:it|them) in a mapping file \(cx ingest --mapping "
        r"FILE\.toml, or the Data page's editor\): \[columns\] (?P<lines>.+?)\.(?= \(|; |$)",
    ),
    (
        "no_header",
        r" \(the file has no header row: map its columns by these names in a mapping file's "
        r"\[columns\], e\.g\. column_1 = \"customer_id\"\)",
    ),
    ("preset_hint", r"; looks like an? (?P<label>.+?) export: try --preset (?P<preset>\w+)$"),
    (
        "preset_table",
        r"the (?P<preset>\w+) preset is for table (?P<preset_table>\w+), not (?P<table>\w+); "
        r"expected --table (?P=preset_table)",
    ),
    ("unknown_table", rf"unknown table (?P<table>{_Q}); expected one of (?P<tables>.+)$"),
    ("unknown_preset", rf"unknown preset (?P<preset>{_Q}); expected one of (?P<presets>.+)$"),
    (
        "maps_to",
        rf"column (?P<header>{_Q}) maps to (?P<target>{_Q}), which is not a column of "
        r"(?P<table>.+?); expected one of (?P<columns>.+), extras, drop or hash$",
    ),
    (
        "made_from",
        rf"(?P<target>\w+) is made from the file column (?P<column>{_Q}), which the file does "
        r"not have; expected one of (?P<columns>.+)$",
    ),
    (
        "order_by_missing",
        rf"\[dedupe\] order_by (?P<column>{_Q}): the file has no such column; expected one of "
        r"(?P<columns>.+)$",
    ),
    (
        "strptime",
        rf"\[formats\] (?P<column>\w+) = (?P<format>{_Q}); expected a strptime format like "
        r"\"%d/%m/%Y\"",
    ),
    # metrics/ingest/mapping.py: a mapping file (or dict) or a preset the checks refuse
    ("m_read", r"cannot read the mapping file \((?P<why>.+)\)$"),
    ("m_toml", r"not a valid TOML mapping file \((?P<why>.+)\)$"),
    ("m_table", rf"(?<=: )table (?P<table>{_Q}); expected one of (?P<tables>.+)$"),
    (
        "m_section",
        r"\[(?P<section>\w+)\] must be a table; expected \[(?P=section)\] (?P<example>.+)$",
    ),
    (
        "m_keys_dedupe",
        r"unknown key\(s\) in \[dedupe\]: (?P<keys>.+?); expected keep and order_by$",
    ),
    ("m_keys_pii", r"unknown key\(s\) in \[pii\]: (?P<keys>.+?); expected keep$"),
    ("m_keys", r"unknown key\(s\) (?P<keys>.+?); expected (?P<known>[\w, ]+)$"),
    ("m_values_column", r"\[values\.(?P<column>\w+)\] is not a column of (?P<table>.+)$"),
    (
        "m_values",
        rf"\[values\.(?P<column>\w+)\] maps (?P<raw>{_Q}) to (?P<value>{_Q}); expected one of "
        r"(?P<vocab>.+)$",
    ),
    ("m_ces", rf"ces_scale (?P<value>{_Q}); expected effort or agreement$"),
    ("m_decimal", r"decimal (?P<value>.+?); expected ',' or '\.'$"),
    ("m_dayfirst", r"dayfirst (?P<value>.+?); expected true or false$"),
    (
        "m_header_rows",
        r"header_rows (?P<value>.+?); expected 0 \(no header row: columns are column_1, "
        r"column_2, …\), 1, 2 or 3$",
    ),
    (
        "m_filter",
        rf"\[filter\] (?P<header>{_Q}); expected a list of values, e\.g\. (?P<same>\".*\") = "
        r"\[\"deleted\", \"spam\"\] \(\"\" = an empty cell\)$",
    ),
    (
        "m_ids_with",
        r"\[ids\] with \[(?P<other>aggregate|dedupe)\]: a generated id is different for every "
        r"row, so no rows share a key; expected one or the other$",
    ),
    (
        "m_dedupe_aggregate",
        r"\[dedupe\] and \[aggregate\] together; expected one: \[dedupe\] keeps one row of a "
        r"key, \[aggregate\] folds them into one$",
    ),
    (
        "m_questions",
        rf"\[questions\] (?P<column>{_Q}); expected a column of (?P<table>.+?) = a regular "
        r"expression matched against the question text, e\.g\. nps = \"recommend\"$",
    ),
    (
        "m_regex",
        rf"\[questions\] (?P<column>\w+) = (?P<pattern>{_Q}) is not a regular expression "
        r"\((?P<why>.+)\); expected e\.g\. nps = \"recommend\|rekommendera\"$",
    ),
    (
        "m_signature",
        r"signature (?P<value>.+); expected a list of headers, e\.g\. \[\"Via\", \"Group\"\]$",
    ),
    (
        "m_dedupe_keep",
        r"\[dedupe\] keep = (?P<value>.+?); expected \"first\" or \"latest\" \(the row with "
        r"the largest order_by value\)$",
    ),
    (
        "m_dedupe_order_by",
        r"\[dedupe\] order_by = (?P<value>.+?); expected a file column, e\.g\. \"Updated at\"$",
    ),
    (
        "m_aggregate_column",
        rf"\[aggregate\] (?P<column>{_Q}) is not a column of (?P<table>.+?); expected one of "
        r"(?P<columns>.+)$",
    ),
    (
        "m_aggregate_key",
        r"\[aggregate\] (?P<column>\w+) is the key of (?P<table>\w+): rows are grouped by it; "
        r"expected a column that is not the key$",
    ),
    (
        "m_aggregate_kind",
        rf"\[aggregate\] (?P<column>\w+) = (?P<how>{_Q}): (?P=column) is not a column "
        r"(?P<fn>\w+) applies to; expected (?P=fn) on one of (?P<ok>.+), or first / last$",
    ),
    (
        "m_aggregate_how",
        rf"\[aggregate\] (?P<column>\w+) = (?P<how>{_Q}); expected one of (?P<hows>.+)$",
    ),
    (
        "m_ids_column",
        rf"\[ids\] (?P<column>{_Q}) is not an id column of (?P<table>.+?); expected one of "
        r"(?P<columns>.*)$",
    ),
    (
        "m_ids_how",
        r"\[ids\] (?P<column>\w+) = (?P<how>.+?); expected (?P=column) = \"row\" \(an id "
        r"generated from the row's content, the same on every load of the same file\)$",
    ),
    (
        "m_derived_column",
        rf"\[(?P<section>constants|combine|durations|multiply)\] (?P<column>{_Q}) is not a "
        r"column of (?P<table>.+?); expected one of (?P<columns>.+)$",
    ),
    (
        "m_derived_kind",
        r"\[(?P<section>combine|durations|multiply)\] (?P<column>\w+) is not an? "
        r"(?P<kinds>\w+(?: or \w+)*) column; expected one of (?P<columns>.+)$",
    ),
    (
        "m_combine",
        r"\[combine\] (?P<column>\w+); expected (?P=column) = \[\"Date column\", "
        r"\"Time column\"\]$",
    ),
    (
        "m_durations",
        r"\[durations\] (?P<column>\w+); expected (?P=column) = \{ from = \"Start column\", "
        r"to = \"End column\" \}$",
    ),
    (
        "m_multiply",
        r"\[multiply\] (?P<column>\w+); expected (?P=column) = \[\"Quantity column\", "
        r"\"Price column\"\]$",
    ),
    ("m_formats", r"\[formats\] must be a table; expected issued_at = \"%d/%m/%Y\"$"),
    (
        "m_formats_column",
        rf"\[formats\] (?P<column>{_Q}) is not a date or time column of (?P<table>.+?); "
        r"expected one of (?P<columns>.+)$",
    ),
    (
        "m_pii_keep",
        r"\[pii\] keep must be a list of headers; expected keep = \[\"PhoneService\"\]$",
    ),
    # metrics/ingest/validate.py
    (
        "timezone",
        rf"unknown time zone (?P<tz>{_Q}); expected an IANA name such as Europe/Stockholm or "
        r"UTC",
    ),
    (
        "decimal",
        rf"row (?P<row>\d+): (?P<column>\w+) (?P<value>{_Q}) has a decimal point, but the first "
        r"rows of the file use a decimal comma; expected one convention throughout \(set "
        r"decimal = \",\" or \"\.\" in a mapping file\)",
    ),
    # metrics/ingest/errors.py: RejectShareExceeded (the page asks with its own words; the
    # text is what `cx ingest` prints), one line per group of reasons
    (
        "reject_share",
        rf"(?P<rejected>{_NUM}) of (?P<rows>{_NUM}) rows \((?P<share>[\d.]+%)\) would be "
        r"rejected, more than the accepted (?P<limit>[\d.]+%); nothing was loaded",
    ),
    ("reject_group_one", r"(?m)^  1 row: "),
    ("reject_group", rf"(?m)^  (?P<n>{_NUM}) rows: "),
    ("reject_examples", r"(?m) \(e\.g\. rows? (?P<rows>\d[\d, ]*)\)$"),
    ("reject_other", r"(?m)(?<=: )\(other reasons\)(?= \(e\.g\.|$)"),
    (
        "reject_fix",
        r"(?m)^  fix the file or the mapping, or accept the share with --max-reject-share "
        r"(?P<share>[\d.e-]+)$",
    ),
    # metrics/ingest/pii.py: the personal-data key a file with e-mails or phones needs
    (
        "pii_env_short",
        r"(?P<env>\w+) is (?P<n>\d+) characters long; expected at least (?P<min>\d+) \(e\.g\. "
        r"64 hex digits from (?P<how>`[^`]+`)\)$",
    ),
    (
        "pii_create",
        r"cannot create the personal-data key file (?P<path>.+?) \((?P<why>.+?)\); expected a "
        r"writable directory, or set (?P<file_env>\w+) or (?P<env>\w+)$",
    ),
    ("pii_not_file", r"personal-data key (?P<path>.+) is not a file; expected a key file$"),
    (
        "pii_mode",
        r"personal-data key file (?P<path>.+?) is readable by others \(mode (?P<mode>\d+)\); "
        r"expected 0600: run chmod 600 (?P=path)$",
    ),
    ("pii_read", r"cannot read the personal-data key file (?P<path>.+) \((?P<why>.+)\)$"),
    (
        "pii_short",
        r"personal-data key file (?P<path>.+?) holds (?P<n>\d+) characters; expected at least "
        r"(?P<min>\d+) \(delete it to have a new key created, which breaks joins with data "
        r"hashed before\)$",
    ),
    (
        "pii_other_key",
        r"the personal-data key \((?P<where>.+?), id (?P<id>\w+)\) is not the one this store's "
        r"hashes were made with \(id (?P<known>\w+)\); expected the same key: set "
        r"(?P<file_env>\w+) or (?P<env>\w+) to it \(`cx settings show` prints both ids\)$",
    ),
    # metrics/ingest/batches.py: undo refused
    ("no_batch", rf"^no batch (?P<batch>{_Q}); expected an id from `cx batches list`$"),
    (
        "undone",
        r"^batch (?P<batch>\S+) \((?P<file>.*)\) was already undone at (?P<at>[\d-]+ [\d:]+) "
        r"UTC by (?P<by>.*); nothing to do$",
    ),
    (
        "no_history",
        r"^batch (?P<batch>\S+) \((?P<file>.*)\) was loaded before undo history was kept; it "
        r"cannot be undone$",
    ),
    (
        "later",
        r"^batch (?P<batch>\S+) \((?P<file>.*)\) cannot be undone: later batch\(es\) "
        r"(?P<later>.+) changed rows it loaded; undo those first, newest first$",
    ),
    (
        "drifted",
        rf"^batch (?P<batch>\S+) cannot be undone exactly: (?P<n>{_NUM}) row\(s\) it updated "
        r"were changed or removed outside ingest since$",
    ),
    (
        "frozen",
        r"^batch (?P<batch>\S+) cannot be undone: it would change the variant of units in "
        r"(?P<experiments>.+); assignments of a running or decided experiment cannot change$",
    ),
)
# Fixed English words inside a variable part (a size's unit, "or" between column names, a
# placeholder), swapped for [refuse_word] in that group only: the rest of it stays as written.
_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "size": ((r"(?<= )bytes$", "bytes"),),
    "limit": ((r"(?<= )bytes$", "bytes"),),
    "required": ((r"(?<=\w )or(?= \w)", "or"),),
    "kinds": ((r"(?<=\w )or(?= \w)", "or"),),
    "table": ((r"^any table$", "any_table"),),
    "ok": ((r"^no column of ", "no_column_of"),),
    "where": ((r"^environment(?= \()", "environment"),),
    "example": ((r"(?<=\")File header(?=\")", "file_header"),),
    "lines": ((r"<file column>", "file_column"),),
    "delimiter": (
        (r"^tab$", "tab"),
        (r"^runs of spaces$", "spaces"),
        (r"^runs of 2\+ spaces$", "spaces_wide"),
    ),  # fmt: skip
    "experiments": (
        (r"(?<=\()running(?=: )", "running"),
        (r"(?<=\()decided(?=: )", "decided"),
        (r"(?<=\d )unit\(s\)(?=\))", "units"),
    ),  # fmt: skip
}
_REFUSALS = tuple((key, re.compile(pattern)) for key, pattern in REFUSALS)


def _parts(match: re.Match, lang: str) -> dict[str, str]:
    parts = {k: v or "" for k, v in match.groupdict().items()}
    for group, words in _WORDS.items():
        for english, key in words if parts.get(group) else ():
            said = translate(lang, f"refuse_word.{key}")
            parts[group] = re.sub(english, lambda _, w=said: w, parts[group])
    return parts


def message_text(text: str | None, lang: str | None = None) -> str | None:
    """A whole-file refusal or an undo refused (as metrics/ingest wrote it) in `lang`
    (default: the page's language). The fixed words are the locale's ([refuse]); what came
    from the file or the store (names, numbers, a parser's own words in parentheses) stays
    as written, and row reasons inside (a refused share's groups) go through reason_text.
    English is returned as written; en.toml's [refuse] documents the messages."""
    lang = lang or current_language()
    if not text or lang == "en":
        return text
    return reason_text(_swap(text, _REFUSALS, "refuse", lang, lambda m: _parts(m, lang)), lang)
