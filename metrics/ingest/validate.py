"""Vectorised parsing and validation: each column at once, never a Python loop over rows."""

from __future__ import annotations

import dataclasses
import os
import zoneinfo
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from metrics.ingest.errors import IngestError
from metrics.ingest.mapping import (
    BOOLS,
    FILTER_COLUMN,
    ID_PLACEHOLDER,
    ORDER_COLUMN,
    REJECTED_COLUMN,
    Plan,
)
from metrics.ingest.pii import mask_reason, mask_text, mask_values
from metrics.ingest.readers import RawFile
from metrics.ingest.spec import SCORE_RANGES, VOCABULARIES, Column, columns_of, keys_of

# (format, how its zone is known): "local" = no zone in the value, "utc" = literal Z/UTC,
# "offset" = %z. Slashed dates are read as US month/day/year; dotted ones as day.month.year.
# Plain formats come before their %.f twins: polars parses them on a much faster path.
TIMESTAMP_FORMATS: tuple[tuple[str, str], ...] = (
    ("%Y-%m-%d %H:%M:%S", "local"),
    ("%Y-%m-%dT%H:%M:%S", "local"),
    ("%Y-%m-%dT%H:%M:%SZ", "utc"),
    ("%Y-%m-%d %H:%M:%S%.f", "local"),
    ("%Y-%m-%d %H:%M", "local"),
    ("%Y-%m-%dT%H:%M:%S%.f", "local"),
    ("%Y-%m-%dT%H:%M", "local"),
    ("%Y-%m-%dT%H:%M:%S%.fZ", "utc"),
    ("%Y-%m-%d %H:%M:%S%.f UTC", "utc"),
    ("%Y-%m-%d %H:%M:%S%.fZ", "utc"),
    ("%Y-%m-%dT%H:%M:%S%.f%z", "offset"),
    ("%Y-%m-%d %H:%M:%S%.f %z", "offset"),
    ("%Y-%m-%d %H:%M:%S%.f%z", "offset"),
    ("%Y-%m-%d %H:%M %z", "offset"),
    ("%m/%d/%Y %I:%M %p", "local"),
    ("%m/%d/%Y %I:%M:%S %p", "local"),
    ("%m/%d/%Y %H:%M", "local"),
    ("%m/%d/%Y %H:%M:%S", "local"),
    ("%d.%m.%Y %H:%M", "local"),
    ("%d.%m.%Y %H:%M:%S", "local"),
    ("%Y-%m-%d", "local"),
    ("%m/%d/%Y", "local"),
    ("%d.%m.%Y", "local"),
    ("%Y/%m/%d", "local"),
)
TIMESTAMP_EXAMPLES = "e.g. 2026-03-05 14:02, 2026-03-05T14:02:00Z or 03/05/2026 2:02 PM"
DATE_EXAMPLES = "e.g. 2026-03-05, 05.03.2026 or 03/05/2026"
YEAR_RANGE = (1990, 2100)
MAX_DURATION_S = 10 * 366 * 86400  # longer is a typo or 1e300, not a handle time
_SLASHED = r"^\s*(\d{1,2})/(\d{1,2})/(\d{2,4})"
# Excel time/duration cells as some readers print them: day 0 is 1899-12-30 or -31.
_EXCEL_TIME = r"^(1899-12-3[01]|1900-01-(\d{2}))[ T](\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$"
_UNIX_MINUS_EXCEL_DAYS = (
    25569  # 1970-01-01 minus 1899-12-30  # catches Excel's 1900 zero dates and typos like 20026
)
_NUMERIC = {"seconds", "money", "count", "nps", "csat", "ces"}


@dataclass
class Validated:
    """Rows that load (canonical columns + extras sources) and rows that do not, with reasons."""

    good: pl.DataFrame
    rejected: pl.DataFrame  # __row, column_name, reason + the source columns (raw values)
    checked: pl.DataFrame  # every row: __row, canonical columns, reason, column_name
    rows_read: int  # data rows, blank rows not counted
    decimal: str
    timezone: str
    warnings: list[str] = field(default_factory=list)


def check_timezone(name: str, tz: str) -> str:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise IngestError(
            f"{name}: unknown time zone {tz!r}; expected an IANA name such as "
            "Europe/Stockholm or UTC"
        ) from None
    return tz


def choose_timezone(raw: RawFile, plan: Plan, declared: str | None) -> str:
    """Zone for times written without an offset: declared, file metadata, preset, else UTC."""
    if declared:
        return check_timezone(raw.file_name, declared)
    for canonical, src in plan.columns.items():
        kind = next(c.kind for c in columns_of(plan.table) if c.name == canonical)
        meta_tz = raw.import_meta.get(src, {}).get("timeZone")
        if kind == "timestamp" and meta_tz:
            return check_timezone(raw.file_name, str(meta_tz))
    return check_timezone(raw.file_name, plan.timezone or "UTC")


def detect_decimal(frame: pl.DataFrame, plan: Plan, sample: int = 50_000) -> str:
    """',' when numeric columns hold decimal commas (12,5) and no decimal points (12.5).

    A file uses one convention throughout, so the first `sample` rows decide.
    """
    if plan.decimal:
        return plan.decimal
    comma = point = False
    for col in columns_of(plan.table):
        if col.name not in frame.columns or col.kind not in _NUMERIC:
            continue
        s = frame[col.name].head(sample).str.strip_chars()
        comma = comma or bool(s.str.contains(r"^[-+]?\d[\d ]*,\d+$").any())
        point = point or bool(s.str.contains(r"^[-+]?\d+\.\d+$").any())
    return "," if comma and not point else "."


def verify_decimal(
    name: str, cleaned: pl.DataFrame, rows: pl.Series, plan: Plan, decimal: str
) -> None:
    """A later chunk must not contradict a decimal comma detected on the first rows.

    With ',' detected, a later '12.5' would silently load as 125 ('.' is then a thousands
    separator), so the file is refused. With '.' detected, a later '12,5' is rejected row by
    row (not a number), which the report shows; nothing loads wrong either way.
    """
    if plan.decimal or decimal != ",":
        return
    for col in columns_of(plan.table):
        if col.name not in cleaned.columns or col.kind not in _NUMERIC:
            continue
        s = cleaned[col.name].str.strip_chars()
        hit = s.str.contains(r"^[-+]?\d+\.\d+$").fill_null(False)
        if hit.any():
            i = int(hit.arg_true()[0])
            raise IngestError(
                f"{name}: row {rows[i]}: {col.name} {s[i]!r} has a decimal point, but the first "
                "rows of the file use a decimal comma; expected one convention throughout "
                '(set decimal = "," or "." in a mapping file)',
                file=name,
                column=col.name,
                row=int(rows[i]),
            )


# -- helpers --------------------------------------------------------------------------------
def _nulls(n: int, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    return pl.repeat(None, n, dtype=dtype, eager=True)


def _reason(mask: pl.Series, template: str, values: pl.Series | None = None) -> pl.Series | None:
    """Reason text where `mask` is true, else null; None when no row fails.

    Messages are built only for the failing rows, so a clean million-row column costs one
    `any()`. `{v}` in the template is replaced by the quoted raw value, or by a mask when
    the value has the shape of personal data (an e-mail typed into a channel column).
    """
    mask = mask.fill_null(False)
    if not mask.any():
        return None
    idx = mask.arg_true()
    if values is None or "{v}" not in template:
        msgs = pl.repeat(template, idx.len(), dtype=pl.String, eager=True)
    else:
        pre, post = template.split("{v}", 1)
        v = mask_values(values.gather(idx).cast(pl.String)).str.slice(0, 60)
        msgs = pl.select(
            pl.concat_str([pl.lit(pre + "'"), pl.lit(v), pl.lit("'" + post)])
        ).to_series()
    out = _nulls(mask.len(), pl.String)
    out.scatter(idx, msgs)
    return out


def _merge(errors: dict[str, pl.Series], column: str, reason: pl.Series | None) -> None:
    if reason is None:
        return
    prev = errors.get(column)
    errors[column] = reason if prev is None else prev.fill_null(reason)


def _mapping_of_uniques(s: pl.Series, table: Mapping[str, object]) -> dict[str, object]:
    """{distinct raw value: mapped value or None}; each distinct value is normalised once."""
    uniq = s.drop_nulls().unique()
    norm = (
        uniq.str.to_lowercase()
        .str.replace_all(r"[_\-]", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return dict(zip(uniq.to_list(), [table.get(k) for k in norm.to_list()], strict=True))


def _map_values(
    s: pl.Series, table: Mapping[str, object], dtype: pl.DataType | type[pl.DataType]
) -> pl.Series:
    """Map raw values through `table`; unknown values become null."""
    found = _mapping_of_uniques(s, table)
    if dtype == pl.Boolean:
        true_values = [k for k, v in found.items() if v is True]
        known = [k for k, v in found.items() if v is not None]
        return (
            pl.select(pl.when(pl.lit(s).is_in(known)).then(pl.lit(s).is_in(true_values)))
            .to_series()
            .alias(s.name)
        )
    changed = {k: v for k, v in found.items() if v != k}
    if not changed:
        return s
    return s.replace_strict(
        list(found), [found[k] for k in found], default=None, return_dtype=dtype
    )


def _number(s: pl.Series, decimal: str) -> pl.Series:
    """Floats; spaces as thousands separators allowed; ',' decimal mode drops '.' thousands."""
    if decimal == ",":
        t = s.str.replace_all(r"[\s\u00a0.]", "").str.replace_all(",", ".", literal=True)
        out = t.cast(pl.Float64, strict=False)
    else:
        out = s.cast(pl.Float64, strict=False)
        retry = s.is_not_null() & out.is_null()
        if retry.any():  # only values like "1 250.5" pay for the cleaning
            idx = retry.arg_true()
            fixed = s.gather(idx).str.replace_all(r"[\s\u00a0]", "").cast(pl.Float64, strict=False)
            out.scatter(idx, fixed)
    if not out.is_finite().fill_null(True).all():
        out = pl.select(pl.when(pl.lit(out).is_finite()).then(pl.lit(out))).to_series()
    return out


def _duration(s: pl.Series, decimal: str, day_fraction: bool = False) -> pl.Series:
    """Seconds from a number, h:mm:ss / mm:ss, or an Excel time cell (1899-12-31 00:05:30).

    Minutes and seconds past 59 after an hour (1:99:99) and values over ten years (1e300)
    are null, so the caller rejects them.
    """
    num = _number(s, decimal)
    if day_fraction:
        num = num * 86400  # Excel stores a duration as a fraction of a day
    retry = s.is_not_null() & num.is_null()
    if retry.any():
        idx = retry.arg_true()
        raw = s.gather(idx).str.strip_chars()
        parts = raw.str.extract_groups(r"^(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)$")
        h = parts.struct.field("1").cast(pl.Float64)
        m = parts.struct.field("2").cast(pl.Float64)
        sec = parts.struct.field("3").cast(pl.Float64)
        ok = (sec < 60) & (h.is_null() | (m < 60))
        clock = pl.select(
            pl.when(pl.lit(ok)).then(pl.lit(h).fill_null(0) * 3600 + pl.lit(m) * 60 + pl.lit(sec))
        ).to_series()
        xl = raw.str.extract_groups(_EXCEL_TIME)
        day = xl.struct.field("2").cast(pl.Float64).fill_null(0)
        xh = xl.struct.field("3").cast(pl.Float64)
        xm = xl.struct.field("4").cast(pl.Float64)
        xs = xl.struct.field("5").cast(pl.Float64)
        excel = day * 86400 + xh * 3600 + xm * 60 + xs
        num.scatter(idx, clock.fill_null(excel))
    too_big = (num.abs() > MAX_DURATION_S).fill_null(False)
    if too_big.any():
        num = pl.select(pl.when(~pl.lit(too_big)).then(pl.lit(num))).to_series()
    return num


def excel_day_fraction(s: pl.Series, decimal: str) -> bool:
    """True when a seconds column of a workbook holds Excel durations (fractions of a day).

    Every value a number in [0, 1) and some not whole: no handle time in seconds looks
    like that, while an Excel [h]:mm:ss cell read as a number always does.
    """
    num = _number(s.drop_nulls(), decimal)
    if num.len() == 0 or num.null_count() > 0:
        return False
    return bool(((num >= 0) & (num < 1)).all() and (num.round(0) != num).any())


def date_order(name: str, s: pl.Series, plan: Plan) -> str | None:
    """ "dmy" or "mdy" for a column's slashed dates, decided once per file and kept in `plan`.

    A `dayfirst` declared by the preset or mapping is followed. Otherwise day-first when
    some value's first part exceeds 12, month-first when its second part does, else
    month-first with a warning. The first
    chunk with slashed values decides; later values that contradict it are rejected.
    """
    if name in plan.date_order:
        return plan.date_order[name]
    if plan.dayfirst is not None:  # declared by the preset or mapping: values do not vote
        order = "dmy" if plan.dayfirst else "mdy"
        plan.date_notes[name] = f"dayfirst = {str(plan.dayfirst).lower()} in the preset or mapping"
        plan.date_order[name] = order
        return order
    if not s.str.contains("/", literal=True).any():
        return None  # no slashed date (the cheap test: most chunks of most files)
    parts = s.str.extract_groups(_SLASHED)
    a = parts.struct.field("1").cast(pl.Int32)
    b = parts.struct.field("2").cast(pl.Int32)
    if a.null_count() == a.len():
        return None
    day_first = (a > 12).fill_null(False)
    month_first = (b > 12).fill_null(False)
    n_day, n_month = int(day_first.cast(pl.Int64).sum()), int(month_first.cast(pl.Int64).sum())
    if n_day or n_month:
        # Both kinds in one column: the larger share decides and the others are rejected.
        order = "dmy" if n_day >= n_month else "mdy"
        hit = day_first if order == "dmy" else month_first
        example = s.filter(hit)[0]
        side = "first" if order == "dmy" else "second"
        plan.date_notes[name] = f"{example!r} has a {side} part over 12"
    else:
        order = "mdy"
        plan.date_notes[name] = (
            f"warning: {name}: every slashed date could be month/day or day/month; read as "
            "month/day/year (set dayfirst = true in a mapping file if they are day/month)"
        )
    plan.date_order[name] = order
    return order


def _formats_for(order: str | None, fmt: str | None) -> tuple[tuple[str, str], ...]:
    if fmt is not None:
        return ((fmt, "offset" if "%z" in fmt else "local"),)
    if order != "dmy":
        return TIMESTAMP_FORMATS
    return tuple((f.replace("%m/%d/", "%d/%m/"), how) for f, how in TIMESTAMP_FORMATS)


def _parse_datetime(
    s: pl.Series,
    order: str | None = None,
    fmt: str | None = None,
    ranked: list[tuple[str, str]] | None = None,
) -> tuple[pl.Series, pl.Series]:
    """(naive wall-clock times, naive UTC times for values carrying Z/UTC/an offset).

    `order` "dmy" reads slashed dates day first; `fmt` (from [formats]) is the only format
    tried. Without a format, YYYYMMDD and Excel serial day numbers are understood too.
    `ranked` carries a column's format order from chunk to chunk (Plan.date_formats): an
    empty list is filled from this chunk's sample, a filled one is used and then reordered
    by what this chunk's values fit. No value fits two formats with different results, so
    the order decides the cost only.
    """
    formats = _formats_for(order, fmt)
    if not ranked:
        # Formats in order of how many sampled values they fit; each later format only sees
        # the values still unparsed, so a clean column costs one pass and a messy one a few
        # small ones. Sampling all 24 formats costs more than parsing a 70k-row chunk thrice.
        sample = s.drop_nulls().head(2000)
        scored = []
        for i, (fmt_i, how) in enumerate(formats):
            parsed = sample.str.strptime(pl.Datetime("us"), fmt_i, strict=False, cache=False)
            scored.append((sample.len() - parsed.null_count(), -i, fmt_i, how))
        scored.sort(reverse=True)
        tried = [(fmt_i, how) for _, _, fmt_i, how in scored]
        if ranked is not None:
            ranked.extend(tried)
    else:
        tried = list(ranked)
    local = _nulls(s.len(), pl.Datetime("us")).alias(s.name)
    utc = local.clone()
    todo = s.is_not_null().arg_true()
    fits: dict[str, int] = {}
    for fmt_i, how in tried:
        if todo.len() == 0:
            break
        part = s if todo.len() == s.len() else s.gather(todo)
        dtype = pl.Datetime("us", "UTC" if how == "offset" else None)
        parsed = part.str.strptime(dtype, fmt_i, strict=False, cache=False)
        if how == "offset":
            parsed = parsed.dt.replace_time_zone(None)
        hit = parsed.is_not_null()
        fits[fmt_i] = int(hit.sum())  # UInt32 in polars
        if not fits[fmt_i]:
            continue
        target = local if how == "local" else utc
        target.scatter(todo.filter(hit), parsed.filter(hit))
        todo = todo.filter(~hit)
    if ranked is not None:
        ranked.sort(key=lambda f: -fits.get(f[0], 0))  # stable: unused formats keep their place
    if todo.len() and len(formats) > 1:
        _compact_dates(s, todo, local, utc)
    return local, utc


def _compact_dates(s: pl.Series, todo: pl.Series, local: pl.Series, utc: pl.Series) -> None:
    """YYYYMMDD, Excel serial dates (40179 = 2010-01-01, 40179.5 at noon) and Unix seconds
    or milliseconds into `local`."""
    part = s.gather(todo).str.strip_chars()
    ymd = pl.select(
        pl.when(pl.lit(part).str.contains(r"^\d{8}$")).then(
            pl.lit(part).str.strptime(pl.Datetime("us"), "%Y%m%d", strict=False)
        )
    ).to_series()
    days = pl.select(
        pl.when(pl.lit(part).str.contains(r"^\d{5}(\.\d+)?$")).then(
            pl.lit(part).cast(pl.Float64, strict=False)
        )
    ).to_series()
    us = ((days - _UNIX_MINUS_EXCEL_DAYS) * 86_400_000_000).round(0).cast(pl.Int64)
    serial = us.cast(pl.Datetime("us"))
    # Unix time as APIs write it (Intercom's created_at = 1772359200): 10 digits are seconds,
    # 13 milliseconds (2001-09-09 to 2286); always UTC.
    epoch = pl.select(
        pl.when(pl.lit(part).str.contains(r"^\d{10}$"))
        .then(pl.lit(part).cast(pl.Int64, strict=False) * 1_000_000)
        .when(pl.lit(part).str.contains(r"^\d{13}$"))
        .then(pl.lit(part).cast(pl.Int64, strict=False) * 1_000)
    ).to_series()
    got = ymd.fill_null(serial)
    hit = got.is_not_null()
    if hit.any():
        local.scatter(todo.filter(hit), got.filter(hit))
    at = epoch.cast(pl.Datetime("us"))
    hit = at.is_not_null() & ~hit
    if hit.any():
        utc.scatter(todo.filter(hit), at.filter(hit))


def _to_utc(local: pl.Series, utc: pl.Series, tz: str) -> pl.Series:
    if tz == "UTC":
        conv = local
    else:
        conv = (
            local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
    return utc.fill_null(conv)


# -- the validator --------------------------------------------------------------------------
def _filtered(raw: RawFile, plan: Plan) -> RawFile:
    """Rows matching [filter] left out before validation; counted per column in `plan`.

    Values compare trimmed and case-insensitively; "" matches an empty cell. The rows are
    not rejected and not counted as read.
    """
    out = pl.repeat(False, raw.frame.height, eager=True)
    for src, values in plan.filter.items():
        s = raw.frame[src].cast(pl.String).str.strip_chars().str.to_lowercase()
        hit = s.is_in(list(values)).fill_null(False)
        if "" in values:
            hit = hit | s.is_null()
        hit = hit & ~out
        plan.filtered[src] = plan.filtered.get(src, 0) + int(hit.cast(pl.Int64).sum())
        out = out | hit
    if not out.any():
        return raw
    return dataclasses.replace(raw, frame=raw.frame.filter(~out))


def _filter_marks(frame: pl.DataFrame, plan: Plan) -> pl.Series:
    """With [dedupe]: the [filter] header each row matches (or null), for the stage to drop
    the keys whose kept row matches."""
    mark = _nulls(frame.height, pl.String)
    for src, values in plan.filter.items():
        s = frame[src].cast(pl.String).str.strip_chars().str.to_lowercase()
        hit = s.is_in(list(values)).fill_null(False)
        if "" in values:
            hit = hit | s.is_null()
        mark = pl.select(pl.when(pl.lit(hit)).then(pl.lit(src)).otherwise(pl.lit(mark))).to_series()
    return mark.alias(FILTER_COLUMN)


def filter_notes(plan: Plan) -> list[str]:
    """Report lines for [filter]: rows left out per column, and headers the file lacks."""
    notes = [
        f"{n:,} row{'' if n == 1 else 's'} left out by [filter] on {src!r} (filtered, not rejected)"
        for src, n in plan.filtered.items()
        if n
    ]
    notes += [f"[filter] {h!r}: the file has no such column" for h in plan.filter_missing]
    return notes


def _derive(frame: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """Columns the mapping makes ([constants], [combine], [durations]) added as text.

    A duration is written as seconds; when either end does not parse, the two raw values
    are kept ("09:12 → x") so the row is rejected with both values in its reason.
    """
    if not plan.derived:
        return frame
    adds = []
    for col, how in plan.derived.items():
        name = plan.columns[col]
        if how[0] == "constant":
            adds.append(pl.lit(how[1], pl.String).alias(name))
        elif how[0] == "ids":
            adds.append(pl.lit(ID_PLACEHOLDER, pl.String).alias(name))  # filled on the stage
        elif how[0] == "product":
            adds.append(pl.lit(_product(frame[how[1]], frame[how[2]], plan)).alias(name))
        elif how[0] == "combine":
            adds.append(
                pl.concat_str(
                    [pl.col(how[1]).str.strip_chars(), pl.col(how[2]).str.strip_chars()],
                    separator=" ",
                ).alias(name)
            )
        else:
            adds.append(pl.lit(_seconds_between(frame[how[1]], frame[how[2]]).alias(name)))
    return frame.with_columns(adds)


def _product(a: pl.Series, b: pl.Series, plan: Plan) -> pl.Series:
    """[multiply]: a × b as text (quantity × unit price); when either is not a number the
    two raw values are kept ("2 × x") so the row is rejected with both in its reason."""
    decimal = plan.decimal or "."
    x, y = _number(a.cast(pl.String), decimal), _number(b.cast(pl.String), decimal)
    prod = x * y
    raw = pl.select(
        pl.concat_str(
            [pl.lit(a.cast(pl.String)), pl.lit(" × "), pl.lit(b.cast(pl.String))],
            ignore_nulls=True,
        )
    ).to_series()
    either = a.is_not_null() | b.is_not_null()
    return pl.select(
        pl.when(pl.lit(prod).is_not_null())
        .then(pl.lit(prod).cast(pl.String))
        .when(pl.lit(either))
        .then(pl.lit(raw))
    ).to_series()


def _order_values(s: pl.Series, plan: Plan, tz: str) -> tuple[pl.Series, pl.Series | None]:
    """A [dedupe] order_by column that maps to nothing: numbers as they are, else times (as
    seconds since 1970, UTC); (values, reasons for those that are neither)."""
    text = s.cast(pl.String).str.strip_chars()
    text = pl.select(pl.when(pl.lit(text).str.len_bytes() > 0).then(pl.lit(text))).to_series()
    num = _number(text, plan.decimal or ".")
    if num.is_not_null().sum() < text.is_not_null().sum():
        local, utc = _parse_datetime(text, date_order(str(plan.order_source), text, plan))
        at = _to_utc(local, utc, tz).dt.epoch("us").cast(pl.Float64) / 1e6
        num = num.fill_null(at)
    src = plan.order_source
    bad = _reason(
        text.is_not_null() & num.is_null(),
        f"[dedupe] order_by {src!r} {{v}} is not a time or a number; expected values that "
        "order the rows of a key (a time such as 2026-03-05 14:02, or a number)",
        text,
    )
    return num.alias(ORDER_COLUMN), bad


def _clock_seconds(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(instants in seconds, or null; seconds since midnight for time-only values, or null)."""
    local, utc = _parse_datetime(s.cast(pl.String).str.strip_chars())
    instant = utc.fill_null(local).dt.epoch("us").cast(pl.Float64) / 1e6
    parts = (
        s.cast(pl.String)
        .str.strip_chars()
        .str.extract_groups(r"^(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$")
    )
    h = parts.struct.field("1").cast(pl.Float64)
    m = parts.struct.field("2").cast(pl.Float64)
    sec = parts.struct.field("3").cast(pl.Float64).fill_null(0)
    ok = (h < 24) & (m < 60) & (sec < 60)
    clock = pl.select(pl.when(pl.lit(ok)).then(pl.lit(h) * 3600 + pl.lit(m) * 60 + pl.lit(sec)))
    return instant, clock.to_series()


def _seconds_between(start: pl.Series, end: pl.Series) -> pl.Series:
    a_at, a_clock = _clock_seconds(start)
    b_at, b_clock = _clock_seconds(end)
    both_at = b_at - a_at
    # Times of day only: an end before the start is past midnight.
    diff = b_clock - a_clock
    clock = pl.select(
        pl.when(pl.lit(diff) < 0).then(pl.lit(diff) + 86400).otherwise(pl.lit(diff))
    ).to_series()
    secs = both_at.fill_null(clock)
    raw = pl.select(
        pl.concat_str(
            [pl.lit(start.cast(pl.String)), pl.lit(" → "), pl.lit(end.cast(pl.String))],
            ignore_nulls=True,
        )
    ).to_series()
    text = secs.cast(pl.String)
    either = start.is_not_null() | end.is_not_null()
    return pl.select(
        pl.when(pl.lit(secs).is_not_null())
        .then(pl.lit(text))
        .when(pl.lit(either))
        .then(pl.lit(raw))
    ).to_series()


def _clean(frame: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """Mapped columns under canonical names; ids and text trimmed, blank values null.

    Other columns are left as read (the readers give null for empty fields): trimming a
    million values costs a copy, so their converters retry only the values that failed.
    """
    kinds = {c.name: c.kind for c in columns_of(plan.table)}
    texts = [c for c in plan.columns if kinds[c] in ("id", "text", "category")]
    exprs = []
    for canonical, src in plan.columns.items():
        x = pl.col(src).cast(pl.String)
        if canonical in texts:
            x = x.str.strip_chars()
        exprs.append(x.alias(canonical))
    # Two selects, not one: in a single expression polars strips each value twice (for the
    # test and for the result), which doubles the cost on a million rows.
    trimmed = frame.select(exprs)
    return trimmed.with_columns(
        pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)) for c in texts
    )


def _convert(
    col_name: str, kind: str, s: pl.Series, plan: Plan, decimal: str, tz: str
) -> tuple[pl.Series, pl.Series | None]:
    """(typed values, reasons or None) for one column; padded values get a second try."""
    value, bad = _convert_once(col_name, kind, s, plan, decimal, tz)
    if kind in ("id", "text", "category"):
        return value, bad
    failed = s.is_not_null() & value.is_null()
    if not failed.any():
        return value, bad
    idx = failed.arg_true()
    raw = s.gather(idx)
    trimmed = raw.str.strip_chars()
    padded = (trimmed != raw).fill_null(False)
    if not padded.any():
        return value, bad
    # Only the failed values that had surrounding spaces are converted again.
    sub_idx = idx.filter(padded)
    sub = trimmed.filter(padded)
    sub = pl.select(pl.when(pl.lit(sub).str.len_bytes() > 0).then(pl.lit(sub))).to_series()
    value2, bad2 = _convert_once(col_name, kind, sub, plan, decimal, tz)
    value = value.clone()
    value.scatter(sub_idx, value2.cast(value.dtype))
    if bad is not None:
        bad = bad.clone()
        bad.scatter(sub_idx, bad2 if bad2 is not None else _nulls(sub_idx.len(), pl.String))
    return value, bad


def _convert_once(
    col_name: str, kind: str, s: pl.Series, plan: Plan, decimal: str, tz: str
) -> tuple[pl.Series, pl.Series | None]:
    name = col_name
    vmap = plan.values.get(name) or {}
    if vmap and kind not in VOCABULARIES:
        # Preset value words (Zendesk "Solved" -> true) replace matching values only.
        s = _map_values(s, vmap, pl.String).fill_null(s)
    present = s.is_not_null()
    if kind in ("id", "text", "category"):
        return s, None
    if kind in VOCABULARIES:
        value = _map_values(s, vmap, pl.String)
        vocab = ", ".join(VOCABULARIES[kind])
        return value, _reason(
            present & value.is_null(),
            f"{name} {{v}} is not known; expected one of {vocab} "
            f"(or map it in a mapping file's [values.{name}])",
            s,
        )
    if kind == "bool":
        value = _map_values(s, BOOLS, pl.Boolean)
        return value, _reason(
            present & value.is_null(),
            f"{name} {{v}} is not yes/no; expected yes/no, ja/nej, true/false or 1/0",
            s,
        )
    if kind in SCORE_RANGES:
        lo, hi = SCORE_RANGES[kind]
        num = _number(s, decimal)
        wrong = present & (num.is_null() | (num < lo) | (num > hi) | (num.round(0) != num))
        bad = _reason(wrong, f"{name} {{v}} is not a whole number {lo}–{hi}; expected {lo}–{hi}", s)
        value = num.cast(pl.Int16, strict=False)
        if kind == "ces" and plan.ces_scale == "agreement":
            value = (8 - value).cast(pl.Int16)  # CES 2.0 (7 = easy) -> effort (1 = very easy)
        return value, bad
    if kind in ("seconds", "money", "count"):
        value = (
            _duration(s, decimal, plan.day_fraction.get(name, False))
            if kind == "seconds"
            else _number(s, decimal)
        )
        if name in plan.scale:
            value = value * plan.scale[name]
        wrong = present & value.is_null()
        if name != "amount":  # an amount may be a credit (negative); the rest may not
            wrong = wrong | (value < 0).fill_null(False)
        if kind == "count":
            wrong = wrong | (value.round(0) != value).fill_null(False)
        what = {
            "seconds": "a number of seconds ≥ 0 (or h:mm:ss)",  # and under ten years
            "money": "a number" + ("" if name == "amount" else " ≥ 0"),
            "count": "a whole number ≥ 0",
        }[kind]
        bad = _reason(
            wrong, f"{name} {{v}} is not {what}; expected {what} (decimal separator '{decimal}')", s
        )
        if kind == "count":
            value = value.cast(pl.Int32, strict=False)
        return value, bad
    if kind in ("timestamp", "date"):
        fmt = plan.formats.get(name)
        order = None if fmt else date_order(name, s, plan)
        local, utc = _parse_datetime(s, order, fmt, plan.date_formats.setdefault((name, order), []))
        lo_year, hi_year = YEAR_RANGE
        if kind == "timestamp":
            value = _to_utc(local, utc, tz)
            gap = local.is_not_null() & value.is_null()
            examples, word = TIMESTAMP_EXAMPLES, "a date and time"
        else:
            value = utc.fill_null(local).dt.date()
            gap = None
            examples, word = DATE_EXAMPLES, "a date"
        bad = _reason(
            present & value.is_null() & (~gap if gap is not None else True),
            f"{name} {{v}} is not {word}; expected {examples}",
            s,
        )
        if fmt is not None:
            bad = _reason(
                present & value.is_null(),
                f"{name} {{v}} does not match the format {fmt} given in [formats]; expected "
                "that format throughout the column",
                s,
            )
        elif order is not None:
            bad = _combine(_contradicts(name, s, order, plan), bad)
        if gap is not None:
            tail = f"does not exist in {tz} (clocks went forward); expected a real local time"
            bad = _combine(bad, _reason(gap, f"{name} {{v}} {tail}", s))
        year = value.dt.year()
        bad = _combine(
            bad,
            _reason(
                (year < lo_year) | (year > hi_year),
                f"{name} {{v}} is outside {lo_year}–{hi_year}; expected a year in that range",
                s,
            ),
        )
        return value, bad
    raise AssertionError(kind)  # pragma: no cover - every kind is handled above


def _contradicts(name: str, s: pl.Series, order: str, plan: Plan) -> pl.Series | None:
    """Reasons for slashed dates that contradict the order decided for the column."""
    parts = s.str.extract_groups(_SLASHED)
    other = parts.struct.field("2" if order == "dmy" else "1").cast(pl.Int32)
    evidence = plan.date_notes.get(name, "")
    why = f" ({evidence})" if evidence and not evidence.startswith("warning") else ""
    read = "day/month/year" if order == "dmy" else "month/day/year"
    return _reason(
        (other > 12).fill_null(False),
        f"{name} {{v}} contradicts the column's date order: it is read as {read}{why}; "
        "expected one order throughout the column",
        s,
    )


def _combine(a: pl.Series | None, b: pl.Series | None) -> pl.Series | None:
    if a is None:
        return b
    return a if b is None else a.fill_null(b)


def validate(
    raw: RawFile,
    plan: Plan,
    tz: str,
    lookup: Callable[[str, pl.Series], pl.Series | None] | None = None,
    *,
    decimal: str | None = None,
) -> Validated:
    """Parse every mapped column and collect a reason per bad value, all column-wise.

    `lookup(column, values)` returns the values that do not exist where they should (a
    survey's contact_id not in contacts) or None when the column is not checked.

    `raw` may be one chunk of a file: the first chunk decides the decimal separator and
    later chunks pass it as `decimal`, which is then verified (`verify_decimal`). Duplicate
    keys are resolved within the chunk; across chunks the caller does it on the stage.
    A chunk of only blank rows gives empty frames (the whole-file check is the caller's).
    """
    if plan.filter and plan.dedupe is None:
        raw = _filtered(raw, plan)
    frame, cleaned = _drop_blank_rows(raw, _clean(_derive(raw.frame, plan), plan), plan)
    if raw.format == "parquet":
        decimal = "."
    elif decimal is None:
        decimal = detect_decimal(cleaned, plan)
    else:
        verify_decimal(raw.file_name, cleaned, frame["__row"], plan, decimal)
    out: dict[str, pl.Series] = {}
    errors: dict[str, pl.Series] = {}
    cols = [c for c in columns_of(plan.table) if c.name in plan.columns]
    if raw.format == "xlsx":
        for col in cols:
            seen = col.kind == "seconds" and col.name not in plan.day_fraction
            if seen and cleaned[col.name].drop_nulls().len():  # the first rows with values decide
                plan.day_fraction[col.name] = excel_day_fraction(cleaned[col.name], decimal)

    def convert(col: Column) -> tuple[pl.Series, pl.Series | None]:
        s = cleaned[col.name]
        value, bad = _convert(col.name, col.kind, s, plan, decimal, tz)
        if col.required:
            empty = value.is_null() if bad is None else value.is_null() & bad.is_null()
            bad = _combine(_reason(empty, f"{col.name} is empty; expected a value (required)"), bad)
        return value.alias(col.name), bad

    # Columns are independent and polars releases the GIL: convert them side by side.
    workers = min(len(cols), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for col, (value, bad) in zip(cols, pool.map(convert, cols), strict=True):
            out[col.name] = value
            _merge(errors, col.name, bad)

    if plan.filter and plan.dedupe is not None:
        out[FILTER_COLUMN] = _filter_marks(frame, plan)
    if plan.order_source is not None:
        out[ORDER_COLUMN], bad = _order_values(frame[plan.order_source], plan, tz)
        _merge(errors, ORDER_COLUMN, bad)
    _cross_checks(out, errors)
    if lookup is not None:
        for column in list(out):
            missing_ids = lookup(column, out[column])
            if missing_ids is None or missing_ids.len() == 0:
                continue
            target = _ref_table(column)
            _merge(
                errors,
                column,
                _reason(
                    out[column].is_in(missing_ids.implode()),
                    f"{column} {{v}} does not exist in {target}; expected the id of a row already "
                    f"loaded (load {target} first)",
                    out[column],
                ),
            )

    work = pl.DataFrame(list(out.values())).with_columns(frame["__row"])
    err_cols = list(errors)
    if err_cols:
        reason = pl.DataFrame([errors[c].alias(c) for c in err_cols]).select(
            pl.concat_str(pl.all(), separator="; ", ignore_nulls=True).alias("reason"),
            pl.concat_str(
                [pl.when(pl.col(c).is_not_null()).then(pl.lit(c)) for c in err_cols],
                separator=", ",
                ignore_nulls=True,
            ).alias("column_name"),
        )
        reason = reason.select(
            pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in ("reason", "column_name")
        )
        work = pl.concat([work, reason], how="horizontal")
    else:
        work = work.with_columns(
            pl.lit(None, pl.String).alias("reason"), pl.lit(None, pl.String).alias("column_name")
        )
    if FILTER_COLUMN in work.columns and err_cols:
        # A row [filter] marks (a deleted ticket's last version, "status = deleted" is no
        # yes/no) is left out if its key keeps it, or superseded: its values do not matter,
        # only its key and order do.
        keys = [k for k in keys_of(plan.table) if k in work.columns]
        spared = pl.col(FILTER_COLUMN).is_not_null() & pl.all_horizontal(
            pl.col(k).is_not_null() for k in keys
        )
        work = work.with_columns(
            pl.when(spared).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("reason", "column_name")
        )
    if not plan.keys_on_stage:  # [dedupe], [aggregate] and [ids] settle keys on the stage
        work = _reject_duplicates(work, list(keys_of(plan.table)))

    is_bad = work["reason"].is_not_null()
    any_bad = bool(is_bad.any())
    src_cols = [c for c in frame.columns if c != "__row" and c not in plan.dropped]
    staged = ~is_bad
    if plan.dedupe is not None:
        # A rejected row with its key still chooses what its key keeps (REJECTED_COLUMN).
        keys = [k for k in keys_of(plan.table) if k in work.columns]
        marked = (
            is_bad & work.select(pl.all_horizontal(pl.col(k).is_not_null() for k in keys))[:, 0]
        )
        work = work.with_columns(marked.alias(REJECTED_COLUMN))
        staged = staged | marked
    good = work.filter(staged) if any_bad else work
    good = good.drop("reason", "column_name")
    extras_src = plan.extras + [h for h in plan.hashed if h not in plan.columns.values()]
    if extras_src:
        extra_frame = frame.select(extras_src)
        good = pl.concat(
            [good, extra_frame.filter(staged) if any_bad else extra_frame], how="horizontal"
        )
    rejected = pl.concat(
        [
            work.filter(is_bad).select("__row", "column_name", "reason"),
            # Raw values of a rejected row are kept for the user to fix the file; a stray
            # address or number in them (an e-mail typed as the channel) is masked.
            frame.filter(is_bad)
            .select(src_cols)
            .with_columns(pl.col(pl.String).map_batches(mask_text, return_dtype=pl.String)),
        ],
        how="horizontal",
    )
    return Validated(
        good=good,
        rejected=rejected,
        checked=work.drop(ORDER_COLUMN, FILTER_COLUMN, REJECTED_COLUMN, strict=False),
        decimal=decimal,
        timezone=tz,
        rows_read=frame.height,
        warnings=_warnings(plan),
    )


def _drop_blank_rows(
    raw: RawFile, cleaned: pl.DataFrame, plan: Plan
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop rows whose every cell is blank (spaces only); the readers already dropped empty ones."""
    # Cheap first cut: rows whose trimmed id/text columns are all empty; then every cell of
    # those few rows is checked.
    kinds = {c.name: c.kind for c in columns_of(plan.table)}
    texts = [c for c in cleaned.columns if kinds[c] in ("id", "text", "category")]
    candidate = cleaned.select(
        pl.all_horizontal(pl.col(texts or cleaned.columns).is_null())
    ).to_series()
    if not candidate.any():
        return raw.frame, cleaned
    idx = candidate.arg_true()
    cells = [c for c in raw.frame.columns if c != "__row"]
    blank_rows = (
        raw.frame[idx]
        .select(
            pl.all_horizontal(
                pl.col(c).is_null() | (pl.col(c).cast(pl.String).str.strip_chars() == "")
                for c in cells
            )
        )
        .to_series()
    )
    blank = pl.repeat(False, raw.frame.height, eager=True)
    blank.scatter(idx.filter(blank_rows), True)
    return raw.frame.filter(~blank), cleaned.filter(~blank)


def _reject_duplicates(work: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Among rows otherwise valid, the first with a key loads and later ones are rejected."""
    if not all(k in work.columns for k in keys):
        return work
    valid = work["reason"].is_null()
    key = work[keys[0]] if len(keys) == 1 else work.select(pl.struct(keys)).to_series()
    # Distinct 64-bit hashes prove distinct keys; only a tie needs the exact check.
    valid_keys = key if bool(valid.all()) else key.filter(valid)
    if valid_keys.hash().n_unique() == valid_keys.len():
        return work
    dup = (
        valid & ~pl.select(pl.when(pl.lit(valid)).then(pl.lit(key))).to_series().is_first_distinct()
    )
    if not dup.any():
        return work
    idx = dup.arg_true()
    keyed = work.select(keys + ["__row"]).filter(valid)
    first = keyed.group_by(keys, maintain_order=True).agg(pl.col("__row").first().alias("__first"))
    dups = work[idx].select(keys + ["__row"]).join(first, on=keys, how="left")
    label = ", ".join(keys)
    msgs = dups.select(
        pl.col("__row"),
        pl.concat_str(
            [
                pl.lit(f"duplicate {label} '"),
                pl.concat_str([pl.col(k) for k in keys], separator="/"),
                pl.lit("': row "),
                pl.col("__first").cast(pl.String),
                pl.lit(" with the same key is loaded; expected each key once per file"),
            ]
        ).alias("__dup"),
    )
    reason = work["reason"].clone()
    reason.scatter(idx, mask_reason(msgs["__dup"]))
    column = work["column_name"].clone()
    column.scatter(idx, pl.repeat(label, idx.len(), dtype=pl.String, eager=True))
    return work.with_columns(reason.alias("reason"), column.alias("column_name"))


def _cross_checks(out: dict[str, pl.Series], errors: dict[str, pl.Series]) -> None:
    """Order checks between two columns of the same row."""
    pairs = (("opened_at", "resolved_at"), ("signup_date", "churned_at"))
    for start, end in pairs:
        if start in out and end in out:
            before = (out[end] < out[start]).fill_null(False)
            if not before.any():
                continue
            # Both values, so the row can be fixed from the message (issue 10 item 4).
            reason = pl.DataFrame({"e": out[end], "s": out[start], "b": before}).select(
                pl.when(pl.col("b")).then(
                    pl.format(
                        f"{end} '{{}}' is before {start} '{{}}'; expected {end} ≥ {start}",
                        _when_text(pl.col("e")),
                        _when_text(pl.col("s")),
                    )
                )
            )
            _merge(errors, end, reason.to_series())


def _when_text(col: pl.Expr) -> pl.Expr:
    """A stored date or time as a person reads it: 2024-03-01, or 2024-03-01 10:00[:30]."""
    text = col.cast(pl.String).str.replace(r"\.\d+$", "").str.replace("T", " ")
    return text.str.replace(r"^(\d{4}-\d\d-\d\d \d\d:\d\d):00$", "$1")


def _warnings(plan: Plan) -> list[str]:
    notes = [
        n.removeprefix("warning: ") for n in plan.date_notes.values() if n.startswith("warning")
    ]
    notes += [
        f"{c} read as Excel durations (fractions of a day, 0.5 = 12 h)"
        for c, yes in plan.day_fraction.items()
        if yes
    ]
    notes += [
        f"{c} read from {plan.columns[c]!r} with yes and no swapped (answered = not {c})"
        for c in plan.inverted
    ]
    if plan.dedupe is not None:
        keep, order = plan.dedupe
        by = plan.order_source if order == ORDER_COLUMN else order
        notes.append(
            f"[dedupe] keeps the {keep} row of each key "
            + (f"by {by!r}" if by else "in file order (no order_by, no updated_at column)")
        )
    notes += [
        f"[aggregate] {c}: the file has no such column; the rule is not used"
        for c in plan.aggregate
        if c not in plan.columns
    ]
    if plan.ces_scale == "agreement" and "ces" in plan.columns:
        notes.append(
            "ces read as CES 2.0 agreement (7 = easy) and stored as effort 8 - x (1 = very easy)"
        )
    return notes


def _ref_table(column: str) -> str:
    return {"contact_id": "contacts", "customer_id": "customers"}.get(column, column)
