"""Format, encoding and delimiter detection, limits checked before reading, chunks of strings."""

from __future__ import annotations

import ast
import codecs
import csv
import hashlib
import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import polars as pl

from metrics.ingest.errors import IngestError
from metrics.ingest.spec import normalise_name

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: far above any export a person uploads by hand
DELIMITERS = (",", ";", "\t", "|")
# Whitespace-aligned text (CDNOW's cdnow_master.txt): columns separated by runs of two or
# more spaces (values may hold single spaces), else by runs of any spaces. Such a file is
# rewritten block by block with tabs between its fields before polars parses it.
ALIGNED_WIDE = "  "
ALIGNED = " "
_RUNS = {ALIGNED_WIDE: re.compile(r"[ \t]{2,}"), ALIGNED: re.compile(r"[ \t]+")}
_WIDE_BYTES = re.compile(rb"[ \t]{2,}")
# A first row of numbers and dates only is data, not a header (cdnow_master.txt has none):
# its columns are named column_1, column_2, ... (header_rows = 0).
_DATA_CELL = re.compile(r"[-+]?\d[\d.,:/ -]*")
_SAMPLE = 64 * 1024
_FORMATS_EXPECTED = "a CSV/TSV text file, an .xlsx workbook or a .parquet file"
# Text read per chunk: ~140k rows of a contacts export. Validation holds ~25x a chunk's text
# at its peak (measured: 8 MB chunks peak at ~430 MB RSS, 16 MB at ~590 MB), so the chunk
# size, not the file size, sets the memory of reading. 16 MB rather than 8: half the
# per-chunk costs (validation and staging of 2M contacts ~20 % less CPU) for a 1 GB load's
# peak still well under 1.5 GiB (benchmarks/ingest.py).
CHUNK_BYTES = 16 << 20
MAX_RECORD_BYTES = 64 << 20  # one row (all its fields); past this a quote was left open
MAX_CHUNK_CELLS = 16_000_000  # lines x header columns of one text chunk (~256 MB of cells)
CHUNK_ROWS = 250_000  # XLSX and Parquet rows per chunk
_XLSX_MEMBERS = 10_000  # a workbook has tens of parts; thousands means something else


@dataclass(frozen=True)
class Limits:
    """What a file may be. Each is checked as early as its format allows, before rows are read.

    The XLSX ones exist because the spreadsheet reader allocates the sheet's whole declared
    range at once: a 1.7 KB sheet declaring cell XFD1048576 asks for 17 billion cells.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_columns: int = 1_000  # Zendesk with every custom field is ~200
    max_rows: int = 20_000_000
    max_field_bytes: int = 1 << 20  # 1 MB: a long e-mail body fits; Excel stops at 32,767 chars
    max_unpacked_bytes: int = 512 << 20  # XLSX members uncompressed; Parquet per row group
    max_cells: int = 25_000_000  # XLSX rows x columns spanned (Excel's own max is 1,048,576 rows)


DEFAULT_LIMITS = Limits()


@dataclass
class RawFile:
    """A file (or one chunk of it) read into strings, plus what was detected about it."""

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


class EncodingChanged(Exception):  # noqa: N818 - a signal to start over, not an error
    """A later chunk of a file that started as UTF-8 is not UTF-8: read it again as cp1252.

    Raised only after earlier chunks were handed out; the caller discards what it did with
    them and iterates `chunks()` again, which now decodes the whole file as cp1252.
    """


@dataclass
class SourceStream:
    """An opened source: what was detected from its first bytes, and its rows in chunks.

    Opening checks every limit that can be checked without reading the rows (size, XLSX
    spans and unpacked size, Parquet metadata, header width); the rest (field size, row
    count, ragged rows) are checked per chunk, so no chunk ever holds more than a slice.
    """

    file_name: str
    format: str
    size: int
    limits: Limits
    read: Callable[[SourceStream], Iterator[pl.DataFrame]]
    data: Path | bytes  # what the checksum is computed over
    encoding: str | None = None
    delimiter: str | None = None
    header_rows: int = 1
    questions: dict[str, str] = field(default_factory=dict)
    import_meta: dict[str, dict] = field(default_factory=dict)
    chunk_rows: int = 0  # XLSX and Parquet: rows per chunk; 0 = CHUNK_ROWS when read
    header_width: int = 0  # fields in the header row as sniffed (text files)
    renames: dict[str, str] = field(default_factory=dict)  # legacy V1…Vn -> row-2 names

    _checksum: Future[str] | None = None

    def start_checksum(self) -> None:
        """Start hashing the file in a thread (hashlib releases the GIL: it overlaps the
        parse). A preview never asks, so it never pays for it."""
        if self._checksum is None:
            self._checksum = _hash_in_thread(self.data)

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's bytes."""
        self.start_checksum()
        assert self._checksum is not None
        return self._checksum.result()

    def chunks(self) -> Iterator[pl.DataFrame]:
        """Frames of strings with "__row", in file order; blank rows dropped (numbers kept).

        Raises IngestError for a file with no data rows or a chunk over a limit, and
        EncodingChanged (once) when a later chunk shows the file is not UTF-8 after all.
        """
        rows = 0
        for frame in self.read(self):
            frame = _drop_empty_rows(frame)
            if frame.height == 0:
                continue
            _check_chunk(self.file_name, frame, self.limits)
            rows += frame.height
            yield frame
        if rows == 0:
            raise IngestError(
                f"{self.file_name}: the file has a header but no data rows; "
                "expected at least one row under the header"
            )

    def raw(self, frame: pl.DataFrame) -> RawFile:
        """One chunk with the file's detected properties, in the shape the validator takes."""
        return RawFile(
            file_name=self.file_name,
            frame=frame,
            format=self.format,
            checksum="",
            size=self.size,
            encoding=self.encoding,
            delimiter=self.delimiter,
            header_rows=self.header_rows,
            questions=self.questions,
            import_meta=self.import_meta,
        )


def _drop_empty_rows(frame: pl.DataFrame) -> pl.DataFrame:
    data_cols = [c for c in frame.columns if c != "__row"]
    if not data_cols:
        return frame.clear()
    blank = frame.select(pl.all_horizontal(pl.col(data_cols).is_null())).to_series()
    return frame.filter(~blank) if blank.any() else frame


def _check_chunk(name: str, frame: pl.DataFrame, limits: Limits) -> None:
    """Limits that need the values: width, row count, field size (one pass over lengths)."""
    width = frame.width - 1
    if width > limits.max_columns:
        raise _too_many_columns(name, width, limits.max_columns)
    last = int(frame["__row"][-1])
    if last > limits.max_rows:
        raise IngestError(
            f"{name}: more than {limits.max_rows:,} data rows, over the row limit; "
            f"expected at most {limits.max_rows:,} rows (split the file)"
        )
    data_cols = [c for c in frame.columns if c != "__row"]
    longest = frame.select(pl.col(data_cols).str.len_bytes().max()).row(0)
    for col, n in zip(data_cols, longest, strict=True):
        if n is not None and n > limits.max_field_bytes:
            row = frame.filter(pl.col(col).str.len_bytes() > limits.max_field_bytes)["__row"][0]
            raise IngestError(
                f"{name}: row {row}, column {col!r}: a value of {_human(n)} is over the field "
                f"limit of {_human(limits.max_field_bytes)}; expected shorter values (a quote "
                "left open makes the rest of the file one value)",
                file=name,
                column=str(col),
                row=int(row),
            )


def _too_many_columns(
    name: str, n: int, limit: int, where: str = "", after: str = ""
) -> IngestError:
    return IngestError(
        f"{name}: {where}{n:,} columns{after}, over the limit of {limit:,}; expected at most "
        f"{limit:,} columns"
    )


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise IngestError(
            f"{name}: the file is {_human(size)}, over the limit of {_human(max_bytes)}; "
            "expected a smaller file (split it, or raise the limit)"
        )


def _human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{int(n)} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def _hash_in_thread(source: Path | bytes) -> Future[str]:
    """SHA-256 of the file in a thread: hashlib releases the GIL, so it overlaps the parse."""
    pool = ThreadPoolExecutor(max_workers=1)

    def digest() -> str:
        h = hashlib.sha256()
        if isinstance(source, bytes):
            h.update(source)
        else:
            with source.open("rb") as fh:
                while block := fh.read(8 << 20):
                    h.update(block)
        return h.hexdigest()

    future = pool.submit(digest)
    pool.shutdown(wait=False)
    return future


def open_source(
    source: Path | str | bytes,
    *,
    file_name: str | None = None,
    sheet: str | None = None,
    header_rows: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> SourceStream:
    """Detect the format from the first bytes and check the limits; no rows are read yet."""
    if isinstance(source, bytes | bytearray | memoryview):
        name = file_name or "uploaded file"
        content = bytes(source)
        data: Path | bytes = content
        size = len(content)
        _check_size(name, size, limits.max_bytes)
        head = content[: _SAMPLE + 3]
    else:
        path = Path(source)
        name = file_name or path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise IngestError(f"{name}: cannot open the file ({exc.strerror or exc})") from None
        _check_size(name, size, limits.max_bytes)
        try:
            with path.open("rb") as fh:
                head = fh.read(_SAMPLE + 3)
        except OSError as exc:
            raise IngestError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
        data = path
    if not head.strip() and size <= len(head):
        raise IngestError(
            f"{name}: the file is empty; expected a header row with column names "
            "and at least one data row"
        )
    if head[:4] == b"PK\x03\x04":
        return _open_xlsx(name, data, size, sheet, limits)
    if head[:4] == b"PAR1":
        return _open_parquet(name, data, size, limits)
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise IngestError(
            f"{name}: this is an old Excel .xls workbook; expected {_FORMATS_EXPECTED} "
            "(save it as .xlsx or CSV)"
        )
    return _open_text(name, data, size, head, header_rows, limits)


def read_source(
    source: Path | str | bytes,
    *,
    file_name: str | None = None,
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    header_rows: int | None = None,
) -> RawFile:
    """The whole file as one frame of strings (small files, tests); ingest reads in chunks."""
    limits = Limits(max_bytes=max_bytes)
    stream = open_source(
        source, file_name=file_name, sheet=sheet, header_rows=header_rows, limits=limits
    )
    try:
        frames = list(stream.chunks())
    except EncodingChanged:
        frames = list(stream.chunks())
    raw = stream.raw(pl.concat(frames))
    raw.checksum = stream.checksum
    return raw


# -- text -----------------------------------------------------------------------------------
def sniff_encoding(name: str, head: bytes) -> tuple[str, str]:
    """(encoding, sample text) from the first bytes of a text file.

    UTF-8 files (the common, large case) are never decoded here: polars reads their bytes
    and checks them, and only the sample is decoded for sniffing. UTF-16 (Excel's "Unicode
    text") and cp1252 (Swedish Excel's CSV) are transcoded to UTF-8 chunk by chunk.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", codecs.getincrementaldecoder("utf-16")().decode(head, final=False)
    bom = head.startswith(codecs.BOM_UTF8)
    head = head[3:] if bom else head[:_SAMPLE]
    if b"\x00" in head or _control_share(head) > 0.05:
        raise IngestError(
            f"{name}: cannot read the file: it looks binary, not text; expected {_FORMATS_EXPECTED}"
        )
    try:
        # final=False tolerates a character cut in two by the sample boundary.
        sample = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return ("utf-8-sig" if bom else "utf-8"), sample
    except UnicodeDecodeError:
        return "cp1252", decode_legacy(head)


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


def split_aligned(line: str, runs: str) -> list[str]:
    """One line of a whitespace-aligned file as its fields."""
    return _RUNS[runs].split(line.strip(" \t\r\n"))


def detect_aligned(name: str, sample: str) -> str | None:
    """ALIGNED_WIDE or ALIGNED when no delimiter was found but the first records split into
    the same number (> 1) of fields at runs of spaces; None for a one-column file.

    Raises IngestError when the header holds several space-separated names and the rows do
    not split like it: the delimiter was not found.
    """
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]
    if not lines:
        return None
    fits = []
    for runs in (ALIGNED_WIDE, ALIGNED):
        widths = {len(split_aligned(ln, runs)) for ln in lines}
        if len(widths) == 1 and widths != {1} and len(lines) > 1:
            fits.append(runs)
    if len(fits) == 2:
        # Both split evenly: single spaces separate fields (cdnow_master.txt's id and date)
        # unless the header's names themselves hold spaces ("Call Id  Opened at").
        head = split_aligned(lines[0], ALIGNED_WIDE)
        return ALIGNED_WIDE if not _headerless(head) and any(" " in c for c in head) else ALIGNED
    if fits:
        return fits[0]
    names = split_aligned(lines[0], ALIGNED)
    if len(names) > 1 and any(len(split_aligned(ln, ALIGNED)) > 1 for ln in lines[1:]):
        shown = " ".join(names[:8]) + (" …" if len(names) > 8 else "")
        raise IngestError(
            f"{name}: the delimiter was not found: the header {shown!r} looks like "
            f"{len(names)} names separated by spaces, but the rows do not split into as many "
            "values; expected fields separated by , ; tab or |, or columns aligned by spaces "
            "with a value in every column (save the file as CSV)"
        )
    return None


def _aligned_to_tabs(block: bytes, runs: str) -> bytes:
    """A block of whole lines of an aligned file with one tab between fields. Line by line
    with bytes.split (C speed): on 14 MB, 0.33 s (any run of spaces) and 0.97 s (runs of
    two or more) against 2.4 s for two regular-expression passes over the whole block."""
    lines = block.split(b"\n")
    if runs == ALIGNED:
        return b"\n".join(b"\t".join(line.split()) for line in lines)
    return b"\n".join(_WIDE_BYTES.sub(b"\t", line.strip(b" \t\r")) for line in lines)


def _headerless(row: list[str]) -> bool:
    return bool(row) and all(_DATA_CELL.fullmatch(c.strip() or "x") for c in row)


def _open_text(
    name: str,
    data: Path | bytes,
    size: int,
    head: bytes,
    header_rows: int | None,
    limits: Limits,
) -> SourceStream:
    encoding, sample = sniff_encoding(name, head)
    delimiter = detect_delimiter(sample)
    first = []
    for i, row in enumerate(csv.reader(io.StringIO(sample), delimiter=delimiter)):
        first.append(row)
        if i >= 2:
            break
    if first and len(first[0]) == 1:
        aligned = detect_aligned(name, sample)
        if aligned is not None:
            delimiter = aligned
            first = [split_aligned(ln, aligned) for ln in sample.splitlines() if ln.strip()][:3]
    if header_rows is None and first and _headerless(first[0]):
        header_rows = 0
    if first and len(first[0]) > limits.max_columns:
        # A header wider than the sample only counts higher; the chunks check the rest.
        raise _too_many_columns(name, len(first[0]), limits.max_columns, "the header has ")
    questions: dict[str, str] = {}
    import_meta: dict[str, dict] = {}
    if header_rows is None:
        header_rows = survey_header_rows(first)
    renames = _legacy_renames(first) if header_rows >= 2 else {}
    cols = [renames.get(c.strip(), c.strip()) for c in first[0]] if first else []
    if header_rows == 0:
        cols = [f"column_{i + 1}" for i in range(len(first[0]) if first else 0)]
    for row in first[1:header_rows]:
        if _import_id_row(row):
            for c, meta in zip(cols, row, strict=False):
                parsed = _import_meta(meta)
                if parsed is not None:
                    import_meta[c] = parsed
        else:
            questions = {c: q for c, q in zip(cols, row, strict=False)}
    return SourceStream(
        file_name=name,
        format="csv",
        size=size,
        limits=limits,
        read=lambda stream: _text_chunks(stream, data),
        data=data,
        encoding=encoding,
        delimiter=delimiter,
        header_rows=header_rows,
        questions=questions,
        import_meta=import_meta,
        header_width=len(first[0]) if first else 0,
        renames=renames,
    )


def _text_chunks(stream: SourceStream, data: Path | bytes) -> Iterator[pl.DataFrame]:
    """Blocks of whole records parsed by polars, each under the file's own header row.

    The file is read CHUNK_BYTES at a time (a path is never read whole; polars' and
    pyarrow's streaming readers were measured to read far ahead of their consumer, holding
    most of a large file). A block is cut after the last newline preceded by an even
    number of quote characters, which is how polars itself splits lines: a quoted newline
    never ends a block, and a file with a stray quote fails in polars either way.
    """
    name = stream.file_name
    given = 0
    offset = 1
    header: bytes | None = None
    try:
        for block in _record_blocks(name, _utf8_blocks(data, stream.encoding or "utf-8")):
            if stream.delimiter in _RUNS:  # whitespace-aligned: tabs between fields
                block = _aligned_to_tabs(block, stream.delimiter)
            if header is None and stream.header_rows == 0:
                # No header row: every block is parsed under made-up names.
                sep = _separator(stream)
                names = (f"column_{i + 1}" for i in range(stream.header_width))
                header = (sep.join(names) + "\n").encode()
            if header is None:
                header = _header_bytes(block)
                buf, skip = block, max(stream.header_rows - 1, 0)
            else:
                buf, skip = b"".join((header, block)), 0
            # polars gives every line a cell per column (short and blank lines padded with
            # nulls), 16 bytes each: 8 MB of empty lines under 1,000 columns would ask for
            # 128 GB. Lines are counted first (memchr speed) and such a block refused.
            lines = block.count(b"\n") + 1
            if lines * max(stream.header_width, 1) > MAX_CHUNK_CELLS:
                raise IngestError(
                    f"{name}: from data row {offset} on, {lines:,} lines in "
                    f"{_human(len(block))} for {stream.header_width:,} columns (blank or "
                    "short lines); expected rows with a field per column"
                )
            frame = _parse_block(stream, buf, skip)
            if stream.renames:
                frame = frame.rename(
                    {k: v for k, v in stream.renames.items() if k in frame.columns}
                )
            frame = frame.with_row_index("__row", offset=offset).with_columns(
                pl.col("__row").cast(pl.Int64)
            )
            offset += frame.height
            given += 1
            yield frame
    except _NotUtf8:
        # Valid UTF-8 at the start, not further on: a legacy file after all.
        stream.encoding = "cp1252"
        if given:
            raise EncodingChanged(name) from None
        yield from _text_chunks(stream, data)
        return
    if header is None:
        raise IngestError(
            f"{name}: the file is empty; expected a header row with column names "
            "and at least one data row"
        )


class _NotUtf8(Exception):
    pass


def _parse_block(stream: SourceStream, buf: bytes, skip: int) -> pl.DataFrame:
    name = stream.file_name
    try:
        # Bytes, not a BytesIO: polars then parses the buffer without copying it first.
        frame = pl.read_csv(
            buf,
            separator=_separator(stream),
            infer_schema=False,
            has_header=True,
            skip_rows_after_header=skip,
            quote_char='"',
        )
    except pl.exceptions.NoDataError:
        raise IngestError(
            f"{name}: the file is empty; expected a header row with column names "
            "and at least one data row"
        ) from None
    except pl.exceptions.ComputeError as exc:
        text = str(exc)
        if "utf-8" in text.lower() and stream.encoding in ("utf-8", "utf-8-sig"):
            raise _NotUtf8 from None
        if "more fields" in text:
            raise IngestError(
                f"{name}: a row has more fields than the header's {stream.header_width} "
                f"columns (delimiter {_show(stream.delimiter or ',')}); expected every row to "
                "have as many fields as the header (quote values that contain the delimiter)"
            ) from None
        raise IngestError(f"{name}: cannot read the file as CSV: {text.splitlines()[0]}") from None
    return _clean_names(frame)


def _utf8_blocks(data: Path | bytes, encoding: str) -> Iterator[bytes]:
    """The file as UTF-8 bytes, CHUNK_BYTES of input at a time; legacy encodings decoded."""
    blocks = (
        (data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES))
        if isinstance(data, bytes)
        else _file_blocks(data)
    )
    if encoding in ("utf-8", "utf-8-sig"):
        first = True
        for block in blocks:
            if first and block.startswith(codecs.BOM_UTF8):
                block = block[3:]  # the header is repeated over later blocks: no BOM in it
            first = False
            yield block
        return
    legacy = encoding == "cp1252"
    decoder = codecs.getincrementaldecoder(encoding)()
    for block in blocks:
        # cp1252 leaves five bytes undefined; latin-1 reads them (one byte, one char).
        text = decode_legacy(block) if legacy else decoder.decode(block)
        yield text.encode("utf-8")
    if not legacy:
        yield decoder.decode(b"", final=True).encode("utf-8")


def _record_blocks(name: str, blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut blocks so each ends after a whole record (see _text_chunks)."""
    pending = b""
    for block in blocks:
        buf = pending + block if pending else block
        cut = _last_record_end(buf)
        if cut == 0:
            if len(buf) > MAX_RECORD_BYTES:
                raise IngestError(
                    f"{name}: a row is longer than {_human(MAX_RECORD_BYTES)}; expected rows "
                    "of ordinary length (a quote left open makes the rest of the file one value)"
                )
            pending = buf
            continue
        pending = buf[cut:]
        yield buf[:cut] if cut < len(buf) else buf
    if pending:
        yield pending


def _last_record_end(buf: bytes) -> int:
    """Offset just after the last newline outside quotes (buf starts at a record), or 0."""
    p = buf.rfind(b"\n")
    if p < 0:
        return 0
    quotes = buf.count(b'"', 0, p)
    while quotes % 2:
        q = buf.rfind(b"\n", 0, p)
        if q < 0:
            return 0
        quotes -= buf.count(b'"', q, p)
        p = q
    return p + 1


def _header_bytes(block: bytes) -> bytes:
    """The first record of the file (the header row), newline included."""
    p = block.find(b"\n")
    while p >= 0 and block.count(b'"', 0, p) % 2:
        p = block.find(b"\n", p + 1)
    return block if p < 0 else block[: p + 1]


def _file_blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            yield block


def _separator(stream: SourceStream) -> str:
    return "\t" if stream.delimiter in _RUNS else (stream.delimiter or ",")


def _show(delim: str) -> str:
    names = {"\t": "tab", ",": "','", ";": "';'", "|": "'|'", ALIGNED: "runs of spaces"}
    return names.get(delim, "runs of 2+ spaces" if delim == ALIGNED_WIDE else repr(delim))


_SURVEY_META = {
    "startdate",
    "enddate",
    "status",
    "ipaddress",
    "progress",
    "finished",
    "recordeddate",
    "responseid",
    "distributionchannel",
}
_LEGACY_NAME = re.compile(r"V\d+")


def _import_id_row(row: list[str]) -> bool:
    """Qualtrics' third header row: {"ImportId": ...} (or single quotes, older exports)."""
    return any(c.lstrip().startswith(('{"ImportId"', "{'ImportId'")) for c in row)


def _import_meta(cell: str) -> dict | None:
    try:
        parsed = json.loads(cell)
    except ValueError:
        try:  # {'ImportId': 'QID1'} is a Python literal, not JSON
            parsed = ast.literal_eval(cell.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return parsed if isinstance(parsed, dict) else None


def survey_header_rows(head: list[list[str]]) -> int:
    """1, 2 or 3 header rows of a Qualtrics-style export, decided by content.

    A row under the names is a header row when it is the ImportId row, or when the cell
    under StartDate / ResponseId does not look like data (a question label such as "Start
    Date" instead of 2026-03-05 or R_1a). Any other file has one header row, so a data row
    is never taken for a header.
    """
    if not head or not head[0]:
        return 1
    names = [normalise_name(c) for c in head[0]]
    legacy = bool(_LEGACY_NAME.fullmatch(head[0][0].strip()))
    if legacy and len(head) > 1:
        names = [normalise_name(c) for c in head[1]]  # V1..Vn: the names are in row 2
    if not (legacy or len(_SURVEY_META.intersection(names)) >= 2 or _any_import_row(head)):
        return 1
    probes = [
        (names.index(n), pat)
        for n, pat in (("startdate", r"^\s*\d"), ("responseid", r"^\s*R_"))
        if n in names
    ]
    rows = 1
    for row in head[1:3]:
        if _import_id_row(row):
            return rows + 1
        data_like = any(i < len(row) and re.match(pat, row[i]) for i, pat in probes)
        if data_like or not probes:
            break
        rows += 1
    return rows


def _any_import_row(head: list[list[str]]) -> bool:
    return any(_import_id_row(r) for r in head[1:3])


def _legacy_renames(head: list[list[str]]) -> dict[str, str]:
    """Legacy exports name columns V1…Vn and put the real names (ResponseID…) in row 2."""
    if len(head) < 2 or not head[0] or not _LEGACY_NAME.fullmatch(head[0][0].strip()):
        return {}
    taken = {c.strip() for c in head[0]}
    out = {}
    for v, real in zip(head[0], head[1], strict=False):
        v, real = v.strip(), real.strip()
        if _LEGACY_NAME.fullmatch(v) and real and " " not in real and real not in taken:
            out[v] = real
            taken.add(real)
    return out


def _clean_renames(columns: list[str]) -> dict[str, str]:
    renames = {}
    for i, col in enumerate(c for c in columns if c != "__row"):
        clean = col.strip() or f"column_{i + 1}"
        if clean != col:
            renames[col] = clean
    return renames


def _clean_names(frame: pl.DataFrame) -> pl.DataFrame:
    renames = _clean_renames(frame.columns)
    return frame.rename(renames) if renames else frame


# -- binary formats -------------------------------------------------------------------------
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Za-z]*)(\d*)(?::([A-Za-z]*)(\d*))?"')
# Only literal-led patterns and runs that stop at the next '<': a crafted sheet of
# "<row <row <row ..." must cost linear time. A row's r is all digits; a cell's starts
# with its column letters.
# Whitespace is made spaces first (bytes.translate), so the patterns can start with a
# literal, which re searches for fast (~30 ms per MB here).
_ROW_REF = re.compile(rb' r="(\d+)"')
_SPACES = bytes.maketrans(b"\t\n\r", b"   ")
_WIDE_REF = re.compile(rb' r="([A-Z]{2,})\d+"')  # cells from column AA on; A..Z need no scan
_TAG = re.compile(rb"<(?:\w+:)?(sheet|Relationship)\b([^<>]{0,4096})>")
_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _column_letters(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _not_a_workbook(name: str) -> IngestError:
    return IngestError(
        f"{name}: cannot read the workbook: it is not a valid .xlsx file; "
        f"expected {_FORMATS_EXPECTED}"
    )


def _sheet_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """{member path: sheet name} from the workbook and its relationships (small XML parts)."""

    def attrs(member: str, tag: bytes) -> list[dict[bytes, bytes]]:
        try:
            info = zf.getinfo(member)
        except KeyError:
            return []
        if info.file_size > 8 << 20:
            return []
        text = zf.read(member)
        return [dict(_ATTR.findall(m.group(2))) for m in _TAG.finditer(text) if m.group(1) == tag]

    targets = {}
    for rel in attrs("xl/_rels/workbook.xml.rels", b"Relationship"):
        target = rel.get(b"Target", b"").decode("utf-8", "replace").lstrip("/")
        targets[rel.get(b"Id", b"")] = target if target.startswith("xl/") else "xl/" + target
    out = {}
    for sheet in attrs("xl/workbook.xml", b"sheet"):
        rid = next((v for k, v in sheet.items() if k.endswith(b":id")), b"")
        if rid in targets:
            out[targets[rid]] = sheet.get(b"name", b"").decode("utf-8", "replace")
    return out


def check_workbook(name: str, data: Path | bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a workbook that would take unbounded memory to read, reading only its zip parts.

    Checks, in order: the declared unpacked size of all parts (a zip bomb says so in its
    directory), each sheet's declared <dimension> (rows, columns, cells the reader would
    allocate), then every part is unpacked in 1 MB pieces and thrown away, which proves the
    declared sizes (zipfile stops at the declared size and checks the CRC, so a part that
    lies about its size fails) and finds the furthest cell actually used in each sheet.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _not_a_workbook(name) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > _XLSX_MEMBERS:
            raise IngestError(
                f"{name}: the workbook has {len(infos):,} parts; expected an .xlsx saved by a "
                "spreadsheet program (tens of parts)"
            )
        total = sum(i.file_size for i in infos)
        if total > limits.max_unpacked_bytes:
            raise IngestError(
                f"{name}: the workbook unpacks to {_human(total)}, over the limit of "
                f"{_human(limits.max_unpacked_bytes)}; expected a smaller workbook (save the "
                "sheet as CSV, or split it)"
            )
        sheets = _sheet_names(zf)
        for info in infos:
            is_sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
            label = sheets.get(info.filename, info.filename)
            rows = cols = 0
            declared = (0, 0)
            try:
                with zf.open(info) as part:
                    tail = b""
                    first = True
                    while piece := part.read(1 << 20):
                        if not is_sheet:
                            continue
                        text = tail + piece.translate(_SPACES)
                        if first:
                            m = _DIMENSION.search(text[:_SAMPLE])
                            if m:
                                letters, digits = (
                                    (m.group(3), m.group(4))
                                    if m.group(3)
                                    else (m.group(1), m.group(2))
                                )
                                cols = _column_number(letters) if letters else 0
                                rows = int(digits) if digits else 0
                                declared = (rows, cols)
                                ref = (letters + digits).decode()
                                _check_span(name, label, rows, cols, ref, limits)
                            first = False
                        found = _ROW_REF.findall(text)
                        if found:
                            rows = max(rows, max(map(int, found)))
                        wide = set(_WIDE_REF.findall(text))
                        if wide:
                            cols = max(cols, max(_column_number(w) for w in wide))
                        tail = text[-64:]
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise IngestError(
                    f"{name}: the workbook is damaged ({info.filename}: {exc}); expected an "
                    ".xlsx saved by a spreadsheet program"
                ) from None
            if is_sheet and (rows, cols) != declared:
                # Cells past the declared range: the reader sizes the sheet by those.
                cols = cols or 26  # no cell from column AA on: at most Z
                ref = f"{_column_letters(cols)}{rows}"
                _check_span(name, label, rows, cols, ref, limits)


def _check_span(name: str, sheet: str, rows: int, cols: int, ref: str, limits: Limits) -> None:
    where = f"sheet {sheet!r} spans "
    if cols > limits.max_columns:
        raise _too_many_columns(name, cols, limits.max_columns, where, f" (to cell {ref})")
    if rows > limits.max_rows:
        raise IngestError(
            f"{name}: {where}{rows:,} rows (to cell {ref}), over the limit of "
            f"{limits.max_rows:,}; expected at most {limits.max_rows:,} rows"
        )
    if rows * cols > limits.max_cells:
        raise IngestError(
            f"{name}: {where}{rows:,} rows x {cols:,} columns = {rows * cols:,} cells (to cell "
            f"{ref}), over the limit of {limits.max_cells:,} cells; expected a smaller sheet "
            "(save it as CSV, or delete the empty rows and columns)"
        )


def _open_xlsx(
    name: str, data: Path | bytes, size: int, sheet: str | None, limits: Limits
) -> SourceStream:
    check_workbook(name, data, limits)
    src = data if isinstance(data, bytes) else str(data)
    try:
        import fastexcel

        sheets = fastexcel.read_excel(src).sheet_names
    except Exception as exc:  # noqa: BLE001 - any parser failure means "not a workbook"
        # The parser's own words change between versions; the person needs the what, not them.
        raise _not_a_workbook(name) from exc
    if sheet is not None and sheet not in sheets:
        raise IngestError(
            f"{name}: sheet {sheet!r} not found; expected one of: {', '.join(sheets)}"
        )
    chosen = sheet or sheets[0]

    def read(stream: SourceStream) -> Iterator[pl.DataFrame]:
        try:
            # infer_schema_length=0 reads every cell as text, like the CSV path.
            frame = pl.read_excel(
                io.BytesIO(data) if isinstance(data, bytes) else data,
                sheet_name=chosen,
                infer_schema_length=0,
            )
        except Exception as exc:  # noqa: BLE001
            raise IngestError(
                f"{name}: cannot read sheet {chosen!r} ({str(exc).splitlines()[0]})"
            ) from None
        # The sheet is bounded by the checks above; it is handed on in slices like a CSV.
        frame = _clean_names(frame.select(pl.all().cast(pl.String)))
        frame = frame.with_row_index("__row", offset=1).with_columns(pl.col("__row").cast(pl.Int64))
        step = stream.chunk_rows or CHUNK_ROWS
        for start in range(0, frame.height, step):
            yield frame.slice(start, step)

    return SourceStream(
        file_name=name,
        format="xlsx",
        size=size,
        limits=limits,
        read=read,
        data=data,
    )


def _open_parquet(name: str, data: Path | bytes, size: int, limits: Limits) -> SourceStream:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(pa.BufferReader(data) if isinstance(data, bytes) else str(data))
        meta = pf.metadata
    except Exception as exc:  # noqa: BLE001
        raise IngestError(
            f"{name}: cannot read the Parquet file: it is not a valid .parquet file; "
            f"expected {_FORMATS_EXPECTED}"
        ) from exc
    if meta.num_columns > limits.max_columns:
        raise _too_many_columns(name, meta.num_columns, limits.max_columns, "the file has ")
    if meta.num_rows > limits.max_rows:
        raise IngestError(
            f"{name}: the file has {meta.num_rows:,} rows, over the limit of "
            f"{limits.max_rows:,}; expected at most {limits.max_rows:,} rows (split the file)"
        )
    for i in range(meta.num_row_groups):
        unpacked = meta.row_group(i).total_byte_size
        if unpacked > limits.max_unpacked_bytes:
            raise IngestError(
                f"{name}: row group {i + 1} unpacks to {_human(unpacked)}, over the limit of "
                f"{_human(limits.max_unpacked_bytes)}; expected smaller row groups (write the "
                "file with a row group size of 100,000 rows or so)"
            )

    def read(stream: SourceStream) -> Iterator[pl.DataFrame]:
        offset = 1
        try:
            for batch in pf.iter_batches(batch_size=stream.chunk_rows or CHUNK_ROWS):
                # A pyarrow Table (not an Array) always comes back as a DataFrame.
                chunk = cast(pl.DataFrame, pl.from_arrow(pa.Table.from_batches([batch])))
                frame = _strings(chunk)
                frame = frame.with_row_index("__row", offset=offset).with_columns(
                    pl.col("__row").cast(pl.Int64)
                )
                offset += frame.height
                yield frame
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(
                f"{name}: cannot read the Parquet file ({str(exc).splitlines()[0]})"
            ) from None

    return SourceStream(
        file_name=name,
        format="parquet",
        size=size,
        limits=limits,
        read=read,
        data=data,
    )


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    casts = []
    for col, dtype in frame.schema.items():
        expr = pl.col(col)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            # Keep the instant: write it as UTC with an explicit offset the parser reads.
            expr = expr.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
        casts.append(expr.cast(pl.String).alias(col))
    return _clean_names(frame.select(casts))
