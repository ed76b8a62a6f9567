"""Format, encoding, delimiter and header detection; every source becomes a frame of strings."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from metrics.ingest.errors import IngestError

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: far above any export a person uploads by hand
DELIMITERS = (",", ";", "\t", "|")
_SAMPLE = 64 * 1024
_FORMATS_EXPECTED = "a CSV/TSV text file, an .xlsx workbook or a .parquet file"


@dataclass
class RawFile:
    """A file read into strings, plus what was detected about it."""

    file_name: str
    frame: pl.DataFrame  # source column names, String values, plus "__row" (1 = first data row)
    format: str  # csv | xlsx | parquet
    checksum: str
    size: int
    encoding: str | None = None
    delimiter: str | None = None
    header_rows: int = 1
    questions: dict[str, str] = field(default_factory=dict)  # Qualtrics row 2
    import_meta: dict[str, dict] = field(default_factory=dict)  # Qualtrics row 3 (ImportId JSON)


def source_bytes(
    source: Path | str | bytes, file_name: str | None, max_bytes: int
) -> tuple[bytes, str]:
    """Read the bytes (refusing files over `max_bytes` before reading them) and name the file."""
    if isinstance(source, bytes | bytearray | memoryview):
        name = file_name or "uploaded file"
        data = bytes(source)
        _check_size(name, len(data), max_bytes)
        return data, name
    path = Path(source)
    name = file_name or path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"{name}: cannot open the file ({exc.strerror or exc})") from None
    _check_size(name, size, max_bytes)
    try:
        return path.read_bytes(), name
    except OSError as exc:
        raise IngestError(f"{name}: cannot read the file ({exc.strerror or exc})") from None


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise IngestError(
            f"{name}: the file is {_human(size)}, over the limit of {_human(max_bytes)}; "
            "expected a smaller file (split it, or raise the limit)"
        )


def _human(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def read_source(
    source: Path | str | bytes,
    *,
    file_name: str | None = None,
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    header_rows: int | None = None,
) -> RawFile:
    """Detect the format and read the file into a frame of strings, or raise IngestError."""
    data, name = source_bytes(source, file_name, max_bytes)
    if not data[:_SAMPLE].strip() and not data.strip():
        raise IngestError(
            f"{name}: the file is empty; expected a header row with column names "
            "and at least one data row"
        )
    # hashlib releases the GIL: the checksum is computed while the file is parsed.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())
        raw = _read_any(name, data, sheet, header_rows)
        checksum = digest.result()
    raw.checksum = checksum
    raw.size = len(data)
    frame = raw.frame
    if frame.width == 0 or frame.height == 0:
        raise IngestError(
            f"{name}: the file has a header but no data rows; "
            "expected at least one row under the header"
        )
    # Row numbers before blank rows are dropped, so they match the file the person opens.
    frame = frame.with_row_index("__row", offset=1).with_columns(pl.col("__row").cast(pl.Int64))
    data_cols = [c for c in frame.columns if c != "__row"]
    blank = frame.select(pl.all_horizontal(pl.col(data_cols).is_null())).to_series()
    if blank.any():
        frame = frame.filter(~blank)
    if frame.height == 0:
        raise IngestError(
            f"{name}: the file has a header but no data rows; "
            "expected at least one row under the header"
        )
    raw.frame = frame
    return raw


def _read_any(name: str, data: bytes, sheet: str | None, header_rows: int | None) -> RawFile:
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(name, data, sheet)
    if data[:4] == b"PAR1":
        return _read_parquet(name, data)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise IngestError(
            f"{name}: this is an old Excel .xls workbook; expected {_FORMATS_EXPECTED} "
            "(save it as .xlsx or CSV)"
        )
    return _read_text(name, data, header_rows)


# -- text -----------------------------------------------------------------------------------
def decode(name: str, data: bytes) -> tuple[str | None, str, str]:
    """(full text or None, encoding, sample text) for a text file.

    UTF-8 files (the common, large case) are not decoded here: polars reads their bytes and
    checks them, and only the sample is decoded for sniffing. UTF-16 (Excel's "Unicode
    text") and cp1252 (Swedish Excel's CSV) are decoded in full.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
        return text, "utf-16", text[:_SAMPLE]
    bom = data.startswith(codecs.BOM_UTF8)
    head = data[3 : _SAMPLE + 3] if bom else data[:_SAMPLE]
    if b"\x00" in head or _control_share(head) > 0.05:
        raise IngestError(
            f"{name}: cannot read the file: it looks binary, not text; expected {_FORMATS_EXPECTED}"
        )
    try:
        # final=False tolerates a character cut in two by the sample boundary.
        sample = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return None, ("utf-8-sig" if bom else "utf-8"), sample
    except UnicodeDecodeError:
        text = decode_legacy(data)
        return text, "cp1252", text[:_SAMPLE]


def decode_legacy(data: bytes) -> str:
    """Swedish Excel saves CSV in Windows-1252; latin-1 covers the five bytes cp1252 lacks."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _control_share(head: bytes) -> float:
    if not head:
        return 0.0
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls / len(head)


def detect_delimiter(sample: str) -> str:
    """The candidate giving the most fields, consistently, over the first complete records."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last record
    text = "".join(lines[:50])
    best, best_score = ",", (-1, -1)
    for delim in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if r]
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(1 for r in rows if len(r) == width)
        score = (1 if width > 1 else 0, consistent * width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_text(name: str, data: bytes, header_rows: int | None) -> RawFile:
    text, encoding, sample = decode(name, data)
    delimiter = detect_delimiter(sample)
    head = []
    for i, row in enumerate(csv.reader(io.StringIO(sample), delimiter=delimiter)):
        head.append(row)
        if i >= 2:
            break
    questions: dict[str, str] = {}
    import_meta: dict[str, dict] = {}
    if header_rows is None:
        header_rows = 3 if _is_qualtrics(head) else 1
    if header_rows == 3 and len(head) >= 3:
        cols = [c.strip() for c in head[0]]
        questions = {c: q for c, q in zip(cols, head[1], strict=False)}
        for c, meta in zip(cols, head[2], strict=False):
            try:
                parsed = json.loads(meta)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                import_meta[c] = parsed

    def read(buf: bytes) -> pl.DataFrame:
        # Bytes, not a BytesIO: polars then parses the buffer without copying it first.
        return pl.read_csv(
            buf,
            separator=delimiter,
            infer_schema=False,
            has_header=True,
            skip_rows_after_header=max(header_rows - 1, 0),
            quote_char='"',
        )

    try:
        try:
            frame = read(data if text is None else text.encode("utf-8"))
        except pl.exceptions.ComputeError as exc:
            if text is not None or "utf-8" not in str(exc).lower():
                raise
            # Valid UTF-8 at the start, not further on: a legacy file after all.
            text, encoding = decode_legacy(data), "cp1252"
            frame = read(text.encode("utf-8"))
    except pl.exceptions.NoDataError:
        raise IngestError(
            f"{name}: the file is empty; expected a header row with column names "
            "and at least one data row"
        ) from None
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):
            raise IngestError(
                f"{name}: a row has more fields than the header's {len(head[0]) if head else 0}"
                f" columns (delimiter {_show(delimiter)}); expected every row to have as many "
                "fields as the header (quote values that contain the delimiter)"
            ) from None
        raise IngestError(
            f"{name}: cannot read the file as CSV: {str(exc).splitlines()[0]}"
        ) from None
    frame = _clean_names(frame)
    return RawFile(
        file_name=name,
        frame=frame,
        format="csv",
        checksum="",
        size=0,
        encoding=encoding,
        delimiter=delimiter,
        header_rows=header_rows,
        questions=questions,
        import_meta=import_meta,
    )


def _show(delim: str) -> str:
    return {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}.get(delim, repr(delim))


def _is_qualtrics(head: list[list[str]]) -> bool:
    return len(head) >= 3 and any(c.lstrip().startswith('{"ImportId"') for c in head[2])


def _clean_names(frame: pl.DataFrame) -> pl.DataFrame:
    renames = {}
    for i, col in enumerate(frame.columns):
        clean = col.strip() or f"column_{i + 1}"
        if clean != col:
            renames[col] = clean
    return frame.rename(renames) if renames else frame


# -- binary formats -------------------------------------------------------------------------
def _read_xlsx(name: str, data: bytes, sheet: str | None) -> RawFile:
    try:
        import fastexcel

        sheets = fastexcel.read_excel(data).sheet_names
    except Exception as exc:  # noqa: BLE001 - any parser failure means "not a workbook"
        # The parser's own words change between versions; the person needs the what, not them.
        raise IngestError(
            f"{name}: cannot read the workbook: it is not a valid .xlsx file; "
            f"expected {_FORMATS_EXPECTED}"
        ) from exc
    if sheet is not None and sheet not in sheets:
        raise IngestError(
            f"{name}: sheet {sheet!r} not found; expected one of: {', '.join(sheets)}"
        )
    try:
        # infer_schema_length=0 reads every cell as text, like the CSV path.
        frame = pl.read_excel(
            io.BytesIO(data), sheet_name=sheet or sheets[0], infer_schema_length=0
        )
    except Exception as exc:  # noqa: BLE001
        raise IngestError(
            f"{name}: cannot read sheet {sheet or sheets[0]!r} ({str(exc).splitlines()[0]})"
        ) from None
    frame = _clean_names(frame.select(pl.all().cast(pl.String)))
    return RawFile(file_name=name, frame=frame, format="xlsx", checksum="", size=0)


def _read_parquet(name: str, data: bytes) -> RawFile:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise IngestError(
            f"{name}: cannot read the Parquet file: it is not a valid .parquet file; "
            f"expected {_FORMATS_EXPECTED}"
        ) from exc
    casts = []
    for col, dtype in frame.schema.items():
        expr = pl.col(col)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            # Keep the instant: write it as UTC with an explicit offset the parser reads.
            expr = expr.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
        casts.append(expr.cast(pl.String).alias(col))
    frame = _clean_names(frame.select(casts))
    return RawFile(file_name=name, frame=frame, format="parquet", checksum="", size=0)
