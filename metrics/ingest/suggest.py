"""Mapping suggestions for the Data page's editor: which file column fits each canonical column.

Pure functions over headers and a sample of each column's values (strings, as read); nothing
here reads a file or the store. A suggestion is scored by name (the canonical name and the
built-in aliases, compared as mapping.py compares headers) and by value shape (dates,
durations, ids, e-mail addresses, numbers, yes/no, channel and issue words, score ranges).
The sampled values are only measured, never returned, so personal data is not shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from metrics.ingest.mapping import load_mapping
from metrics.ingest.spec import SCORE_RANGES, columns_of, normalise_name, normalise_value
from metrics.ingest.vocab import (
    BOOL_VALUES,
    CHANNEL_VALUES,
    COLUMN_ALIASES,
    INVERTED_ALIASES,
    ISSUE_VALUES,
)
from metrics.schema import CHANNELS

# Value shapes, most specific first; `value_shape` returns one of these.
SHAPES = (
    "empty",
    "datetime",
    "date",
    "time",
    "duration",
    "email",
    "bool",
    "channel",
    "issue_type",
    "integer",
    "number",
    "id",
    "category",
    "text",
)
# A shape holds when at least this share of the non-empty sample has it (exports carry the
# odd "n/a" or "-" in a column of dates).
SHAPE_SHARE = 0.8

_DATE = r"(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|(19|20)\d{2}(0[1-9]|1[0-2])\d{2})"
_TIME = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(\s*[AaPp][Mm])?"
_ZONE = r"(Z|UTC|[+-]\d{2}:?\d{2})?"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "datetime": re.compile(rf"{_DATE}[T ]\s*{_TIME}\s*{_ZONE}"),
    "date": re.compile(_DATE),
    # a time of day or a duration written h:mm:ss; told apart below by the hour
    "time": re.compile(_TIME),
    "email": re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"),
    "integer": re.compile(r"[+-]?\d{1,15}"),
    "number": re.compile(r"[+-]?(\d{1,3}([ ,.]\d{3})*|\d+)([.,]\d+)?([eE][+-]?\d+)?"),
    "id": re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-:#/.]*\d[A-Za-z0-9_\-:#/.]*|[A-Za-z]{1,4}\d+"),
}
_BOOLS = {normalise_value(k) for k in BOOL_VALUES} - {"x"}  # "x" alone is too common
_CHANNELS = set(CHANNEL_VALUES) | set(CHANNELS)
_ISSUES = set(ISSUE_VALUES)

# How well a value shape fits a canonical column's kind (spec.Column.kind); 0 when it does
# not fit. Score columns (nps, csat, ces) fit integers inside their range, see _shape_fit.
KIND_FIT: dict[str, dict[str, float]] = {
    "id": {"id": 0.4, "integer": 0.2, "email": 0.4},
    "timestamp": {"datetime": 0.6, "date": 0.4},
    "date": {"date": 0.6, "datetime": 0.4},
    "seconds": {"duration": 0.6, "time": 0.3, "number": 0.3, "integer": 0.3},
    "bool": {"bool": 0.6},
    "channel": {"channel": 0.7, "category": 0.1},
    "issue_type": {"issue_type": 0.7, "category": 0.1},
    "category": {"category": 0.3, "channel": 0.1, "issue_type": 0.1},
    "text": {"text": 0.3, "category": 0.1},
    "money": {"number": 0.5, "integer": 0.3},
    "count": {"integer": 0.4},
}
NAME_WEIGHT = 1.0
SUGGEST_AT = 0.4  # a combined score from here on is suggested (a telling shape alone reaches it)


@dataclass(frozen=True)
class Shape:
    """What a column's sample looks like: its shape and, for integers, their range."""

    kind: str
    low: float | None = None
    high: float | None = None
    distinct_share: float = 0.0  # distinct values / non-empty values in the sample


@dataclass(frozen=True)
class Suggestion:
    """The file column suggested for one canonical column, with its score and why."""

    column: str
    source: str
    score: float
    why: str  # "name", "shape" or "name and shape"


def _share(values: Sequence[str], test) -> float:
    return sum(1 for v in values if test(v)) / len(values)


def _full(name: str):
    pattern = _PATTERNS[name]
    return lambda v: pattern.fullmatch(v) is not None


def _is_duration(v: str) -> bool:
    """h:mm:ss / mm:ss with minutes and seconds under 60, or an Excel time cell."""
    if v.startswith(("1899-12-30 ", "1899-12-31 ")):
        return True
    parts = v.split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        return False
    return all(int(p) < 60 for p in parts[1:])


def value_shape(values: Sequence[str | None]) -> Shape:
    """The shape of a column from a sample of its values (strings as read, None = empty)."""
    vals = [v.strip() for v in values if v is not None and v.strip()]
    if not vals:
        return Shape("empty")
    distinct = len(set(vals)) / len(vals)
    norm = [normalise_value(v) for v in vals]

    def holds(test, sample: Sequence[str] = vals) -> bool:
        return _share(sample, test) >= SHAPE_SHARE

    if all(v.startswith(("1899-12-30 ", "1899-12-31 ")) for v in vals):
        return Shape("duration", distinct_share=distinct)  # Excel time cells, as read
    for kind in ("datetime", "date"):
        if holds(_full(kind)):
            return Shape(kind, distinct_share=distinct)
    if holds(_full("time")):
        # An hour past 23, or a leading 0:, reads as a duration; otherwise a time of day.
        hours = [int(v.split(":")[0]) for v in vals if _PATTERNS["time"].fullmatch(v)]
        long = any(h > 23 for h in hours) or all(h == 0 for h in hours)
        return Shape(
            "duration" if long and holds(_is_duration) else "time", distinct_share=distinct
        )
    if holds(_full("email")):
        return Shape("email", distinct_share=distinct)
    if holds(lambda v: normalise_value(v) in _BOOLS) and len(set(norm)) <= 4:
        return Shape("bool", distinct_share=distinct)
    if holds(_full("integer")):
        # Integers stay integers (seconds, amounts and ticket numbers look alike); their
        # range tells a score (0-10, 1-5, 1-7) from the rest.
        ints = [int(v) for v in vals if _PATTERNS["integer"].fullmatch(v)]
        return Shape("integer", float(min(ints)), float(max(ints)), distinct)
    if holds(_full("number")):
        return Shape("number", distinct_share=distinct)
    if holds(lambda v: normalise_value(v) in _CHANNELS, norm):
        return Shape("channel", distinct_share=distinct)
    if holds(lambda v: normalise_value(v) in _ISSUES, norm):
        return Shape("issue_type", distinct_share=distinct)
    if holds(_full("id")):  # letters and digits, no spaces: ids repeat (a customer's contacts)
        return Shape("id", distinct_share=distinct)
    if len(set(norm)) <= max(12, len(vals) // 5) and distinct < 0.5:
        return Shape("category", distinct_share=distinct)
    return Shape("text", distinct_share=distinct)


def _shape_fit(kind: str, shape: Shape) -> float:
    if kind in SCORE_RANGES:
        low, high = SCORE_RANGES[kind]
        if shape.kind != "integer" or shape.low is None or shape.high is None:
            return 0.0
        if not (low <= shape.low and shape.high <= high):
            return 0.0
        # 1-5 fits csat, ces and nps: the scale whose span the values fill most fits best.
        return 0.3 + 0.2 * (shape.high - shape.low) / (high - low)
    return KIND_FIT.get(kind, {}).get(shape.kind, 0.0)


@lru_cache(maxsize=8192)  # the page asks for every header x column on every rerun
def name_score(header: str, column: str) -> float:
    """How much a header's name says it is `column`: 1 for the canonical name or a built-in
    alias, less for one containing the other or a close spelling, 0 for none."""
    h = normalise_name(header)
    if not h:
        return 0.0
    names = [column, *COLUMN_ALIASES.get(column, ()), *INVERTED_ALIASES.get(column, ())]
    best = 0.0
    for name in names:
        n = normalise_name(name)
        if h == n:
            return 1.0
        if (len(n) >= 4 and n in h) or (len(h) >= 4 and h in n):  # "Väg" is no "kontaktväg"
            best = max(best, 0.7)
        else:
            ratio = SequenceMatcher(None, h, n).ratio()
            if ratio >= 0.8:
                best = max(best, 0.6 * ratio)
    # The canonical name's own words ("wait" in wait_s, "handle" in handle_s).
    words = [w for w in column.split("_") if len(w) >= 4]
    if any(w in h for w in words):
        best = max(best, 0.5)
    return best


def score(column: str, kind: str, header: str, shape: Shape) -> tuple[float, str]:
    """Combined score of `header` (with its value shape) for a canonical column, and why."""
    by_name = NAME_WEIGHT * name_score(header, column)
    by_shape = _shape_fit(kind, shape)
    if shape.kind not in ("empty",) and by_shape == 0.0:
        by_name *= 0.5  # a name that fits over values that do not is doubtful
    why = " and ".join(w for w, s in (("name", by_name), ("shape", by_shape)) if s > 0)
    return by_name + by_shape, why


def shapes_of(samples: Mapping[str, Sequence[str | None]]) -> dict[str, Shape]:
    """{header: value shape} of a file's sample ({header: first values})."""
    return {h: value_shape(v) for h, v in samples.items()}


def suggest_columns(table: str, shapes: Mapping[str, Shape]) -> dict[str, Suggestion]:
    """For each canonical column of `table`, the best file column (header -> its shape,
    from shapes_of), each file column used once: pairs are taken best score first, ties in
    table order then file order. Columns scoring under SUGGEST_AT get no suggestion."""
    pairs = []
    for ci, col in enumerate(columns_of(table)):
        for hi, (header, shape) in enumerate(shapes.items()):
            s, why = score(col.name, col.kind, header, shape)
            if s >= SUGGEST_AT:
                pairs.append((-s, ci, hi, col.name, header, why))
    out: dict[str, Suggestion] = {}
    used: set[str] = set()
    for neg, _, _, col_name, header, why in sorted(pairs):
        if col_name in out or header in used:
            continue
        out[col_name] = Suggestion(col_name, header, round(-neg, 3), why)
        used.add(header)
    return out


def ranked_sources(table: str, column: str, shapes: Mapping[str, Shape]) -> list[str]:
    """File columns ordered for `column`'s choice list: best score first, then file order."""
    kind = next(c.kind for c in columns_of(table) if c.name == column)
    scored = [
        (-score(column, kind, h, shape)[0], i, h) for i, (h, shape) in enumerate(shapes.items())
    ]
    return [h for _, _, h in sorted(scored)]


def suggest_constant(table: str, column: str, file_name: str) -> str | None:
    """A constant for a column no file column holds: the channel named in the file name
    ("phone_calls.csv" -> phone), else None."""
    kind = next((c.kind for c in columns_of(table) if c.name == column), None)
    if kind != "channel":
        return None
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", file_name)
    words = [normalise_value(w) for w in re.split(r"[^0-9A-Za-zÅÄÖåäö]+", stem) if w]
    for w in words:
        if w in _CHANNELS:
            return CHANNEL_VALUES.get(w, w)
    return None


def build_mapping(
    table: str,
    sources: Mapping[str, str],
    constants: Mapping[str, str] | None = None,
    *,
    formats: Mapping[str, str] | None = None,
    dayfirst: bool | None = None,
    description: str | None = None,
) -> dict:
    """The mapping-file structure (load_mapping's) for the editor's choices: canonical column
    -> file header, canonical column -> constant, canonical column -> strptime format, and
    how slashed dates read. A header chosen for several columns becomes a list
    ([columns] "Call Id" = ["response_id", "contact_id"]).

    Raises IngestError (load_mapping's one line) for a choice the mapping language refuses,
    e.g. a format without a % directive.
    """
    columns: dict[str, str | list[str]] = {}
    for col, header in sources.items():
        prev = columns.get(header)
        columns[header] = (
            col if prev is None else [*(prev if isinstance(prev, list) else [prev]), col]
        )
    spec: dict[str, object] = {"table": table}
    if description:
        spec["description"] = description
    if dayfirst is not None:
        spec["dayfirst"] = dayfirst
    sections = {"columns": columns, "constants": constants, "formats": formats}
    spec.update({k: dict(v) for k, v in sections.items() if v})
    load_mapping(spec, table)  # the same checks as a mapping file
    return spec
