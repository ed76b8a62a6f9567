"""Vectorised parsing and validation: each column at once, never a Python loop over rows."""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from metrics.ingest.errors import IngestError
from metrics.ingest.mapping import BOOLS, Plan
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
YEAR_RANGE = (1990, 2100)  # catches Excel's 1900 zero dates and typos like 20026
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
                '(set decimal = "," or "." in a mapping file)'
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


def _duration(s: pl.Series, decimal: str) -> pl.Series:
    """Seconds from a number or from h:mm:ss / mm:ss."""
    num = _number(s, decimal)
    retry = s.is_not_null() & num.is_null()
    if not retry.any():
        return num
    idx = retry.arg_true()
    parts = s.gather(idx).str.extract_groups(r"^(?:(\d+):)?(\d{1,2}):(\d{2})$")
    h = parts.struct.field("1").cast(pl.Float64).fill_null(0)
    m = parts.struct.field("2").cast(pl.Float64)
    sec = parts.struct.field("3").cast(pl.Float64)
    num.scatter(idx, h * 3600 + m * 60 + sec)
    return num


def _parse_datetime(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(naive wall-clock times, naive UTC times for values carrying Z/UTC/an offset)."""
    sample = s.drop_nulls().head(2000)
    # Formats in order of how many sampled values they fit; each later format only sees the
    # values still unparsed, so a clean column costs one pass and a messy one a few small ones.
    scored = []
    for i, (fmt, how) in enumerate(TIMESTAMP_FORMATS):
        parsed = sample.str.strptime(pl.Datetime("us"), fmt, strict=False, cache=False)
        hits = sample.len() - parsed.null_count()
        scored.append((hits, -i, fmt, how))
    scored.sort(reverse=True)
    local = _nulls(s.len(), pl.Datetime("us")).alias(s.name)
    utc = local.clone()
    todo = s.is_not_null().arg_true()
    for _, _, fmt, how in scored:
        if todo.len() == 0:
            break
        part = s if todo.len() == s.len() else s.gather(todo)
        dtype = pl.Datetime("us", "UTC" if how == "offset" else None)
        parsed = part.str.strptime(dtype, fmt, strict=False, cache=False)
        if how == "offset":
            parsed = parsed.dt.replace_time_zone(None)
        hit = parsed.is_not_null()
        if not hit.any():
            continue
        target = local if how == "local" else utc
        target.scatter(todo.filter(hit), parsed.filter(hit))
        todo = todo.filter(~hit)
    return local, utc


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
        value = _duration(s, decimal) if kind == "seconds" else _number(s, decimal)
        if name in plan.scale:
            value = value * plan.scale[name]
        wrong = present & value.is_null()
        if name != "amount":  # an amount may be a credit (negative); the rest may not
            wrong = wrong | (value < 0).fill_null(False)
        if kind == "count":
            wrong = wrong | (value.round(0) != value).fill_null(False)
        what = {
            "seconds": "a number of seconds ≥ 0 (or h:mm:ss)",
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
        local, utc = _parse_datetime(s)
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
    frame, cleaned = _drop_blank_rows(raw, _clean(raw.frame, plan), plan)
    if raw.format == "parquet":
        decimal = "."
    elif decimal is None:
        decimal = detect_decimal(cleaned, plan)
    else:
        verify_decimal(raw.file_name, cleaned, frame["__row"], plan, decimal)
    out: dict[str, pl.Series] = {}
    errors: dict[str, pl.Series] = {}
    cols = [c for c in columns_of(plan.table) if c.name in plan.columns]

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
    work = _reject_duplicates(work, list(keys_of(plan.table)))

    is_bad = work["reason"].is_not_null()
    any_bad = bool(is_bad.any())
    src_cols = [c for c in frame.columns if c != "__row" and c not in plan.dropped]
    good = work.filter(~is_bad) if any_bad else work
    good = good.drop("reason", "column_name")
    extras_src = plan.extras + [h for h in plan.hashed if h not in plan.columns.values()]
    if extras_src:
        extra_frame = frame.select(extras_src)
        good = pl.concat(
            [good, extra_frame.filter(~is_bad) if any_bad else extra_frame], how="horizontal"
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
        checked=work,
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
            _merge(
                errors, end, _reason(before, f"{end} is before {start}; expected {end} ≥ {start}")
            )


def _warnings(plan: Plan) -> list[str]:
    notes = []
    if plan.ces_scale == "agreement" and "ces" in plan.columns:
        notes.append(
            "ces read as CES 2.0 agreement (7 = easy) and stored as effort 8 - x (1 = very easy)"
        )
    return notes


def _ref_table(column: str) -> str:
    return {"contact_id": "contacts", "customer_id": "customers"}.get(column, column)
