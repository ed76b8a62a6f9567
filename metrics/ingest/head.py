"""The first rows of a file as strings per column: the mapping editor's sample for suggestions."""

from __future__ import annotations

from pathlib import Path

from metrics.ingest.mapping import choose_options
from metrics.ingest.readers import DEFAULT_LIMITS, EncodingChanged, Limits, open_source

HEAD_ROWS = 200


def file_head(
    source: Path | str | bytes,
    *,
    file_name: str,
    table: str,
    preset: str | None = None,
    sheet: str | None = None,
    rows: int = HEAD_ROWS,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, list[str | None]]:
    """{file header: its first `rows` values as read} with the headers preview_file maps.

    Reads one chunk (the same reader, header rows and limits as ingest), writes nothing. The
    values can hold personal data: they are for measuring shapes (metrics/ingest/suggest.py),
    not for showing. Raises IngestError for a file ingest would refuse to open.
    """
    opts = choose_options(table, preset, None, file_name)
    stream = open_source(
        source,
        file_name=file_name,
        sheet=sheet,
        header_rows=opts.header_rows if opts else None,
        limits=limits,
    )
    try:
        first = next(stream.chunks())
    except EncodingChanged:  # the first chunk is read as cp1252 on the second pass
        first = next(stream.chunks())
    frame = first.head(rows)
    return {c: frame[c].to_list() for c in frame.columns if c != "__row"}
