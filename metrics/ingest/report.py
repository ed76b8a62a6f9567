"""What an ingest did (IngestReport) and what it would do (Preview)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

MAX_REASONS = 20
# Rejected rows stored per batch: the first ones by row number, with reason and raw values.
# Past that only counts per reason are kept, so a file of millions of bad rows leaves a
# batch the Data page and its downloads can still show.
MAX_STORED_REJECTS = 10_000
MAX_REASON_KINDS = 50  # distinct kinds of reason counted by name; the rest as "(other reasons)"


@dataclass
class Preview:
    """Detected format and mapping plus the first rows in canonical form, before any write."""

    file_name: str
    table: str
    format: str  # csv | xlsx | parquet
    encoding: str | None
    delimiter: str | None
    decimal: str
    header_rows: int
    timezone: str
    mapping: list[tuple[str, str]]  # (source column, target)
    missing_required: list[str]
    rows: pl.DataFrame  # first 20 rows: row_number, canonical columns, problem
    rows_read: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """Counts and reasons of one ingest.

    rows_read = inserted + updated + unchanged + skipped_older + rejected + superseded +
    folded. `changes` counts updated rows per changed column, `change_examples` a few of
    their keys.

    Row numbers count data rows: 1 is the first row under the header row(s).
    """

    batch_id: str
    file_name: str
    table: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    reasons: list[dict[str, Any]]  # first MAX_REASONS: row_number, column, reason
    pii: dict[str, str]  # source column -> "dropped" | "hashed"
    extras_columns: list[str]
    mapping: list[tuple[str, str]]
    format: str
    encoding: str | None
    delimiter: str | None
    decimal: str
    timezone: str
    checksum: str
    warnings: list[str] = field(default_factory=list)
    skipped_older: int = 0  # rows older (updated_at) than the stored ones: not applied
    skipped_older_examples: list[str] = field(default_factory=list)
    # Updated rows (counted in `updated`) that had no updated_at while the stored row has
    # one: not known to be older, so applied, but the stored updated_at is kept.
    updated_without_time: int = 0
    updated_without_time_examples: list[str] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    change_examples: dict[str, list[str]] = field(default_factory=dict)
    insert_only: bool = False
    # Rejected rows per kind of reason (value and row numbers replaced by '…'), all rows
    # counted; a row failing two checks counts under both.
    reason_counts: dict[str, int] = field(default_factory=dict)
    rejected_stored: int = 0  # rows kept in rejected_rows: the first MAX_STORED_REJECTS
    # Rows of a key that another row of it replaced ([dedupe]) or absorbed ([aggregate]):
    # neither loaded nor rejected. rows_read counts them too.
    superseded: int = 0
    folded: int = 0
    # Canonical columns the batch supplied (non-null in at least one loaded row); a KPI whose
    # inputs no batch supplied shows "no data" (metrics/supplied.py), never 0 %.
    supplied_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mapping"] = [{"source": s, "target": t} for s, t in self.mapping]
        return out

    def to_text(self) -> str:
        lines = [
            f"{self.file_name} -> {self.table} (batch {self.batch_id})",
            f"  read {self.rows_read} rows: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, "
            + (f"{self.skipped_older} skipped as older, " if self.skipped_older else "")
            + (f"{self.superseded} superseded by [dedupe], " if self.superseded else "")
            + (f"{self.folded} folded into their key's row by [aggregate], " if self.folded else "")
            + f"{self.rejected} rejected"
            + (" (insert-only)" if self.insert_only else ""),
            f"  format {self.format}"
            + (f", encoding {self.encoding}" if self.encoding else "")
            + (f", delimiter {self.delimiter!r}" if self.delimiter else "")
            + f", decimal {self.decimal!r}, times without offset read as {self.timezone}",
        ]
        for col, what in self.pii.items():
            lines.append(f"  personal data: {col!r} {what}")
        if self.extras_columns:
            lines.append(f"  kept in extras: {', '.join(self.extras_columns)}")
        if self.skipped_older:
            lines.append(
                f"  skipped {self.skipped_older} row(s) older than the stored ones (updated_at), "
                f"e.g. {', '.join(self.skipped_older_examples)}"
            )
        if self.updated_without_time:
            lines.append(
                f"  changed without a time: {self.updated_without_time} row(s) with a blank "
                "updated_at changed rows stored with one (applied, the stored updated_at "
                f"kept), e.g. {', '.join(self.updated_without_time_examples)}"
            )
        for col, n in self.changes.items():
            examples = ", ".join(self.change_examples.get(col, []))
            lines.append(f"  changed {col} in {n} row(s), e.g. {examples}")
        for w in self.warnings:
            lines.append(f"  note: {w}")
        if self.reasons:
            lines.append("  rejected rows (row 1 = first row under the header):")
            for r in self.reasons:
                lines.append(f"    row {r['row_number']}: {r['reason']}")
            if self.rejected > len(self.reasons):
                lines.append(f"    ... and {self.rejected - len(self.reasons)} more")
        if self.reason_counts:
            lines.append("  rejected rows by reason:")
            for reason, n in self.reason_counts.items():
                lines.append(f"    {n:>9,}  {reason}")
        if self.rejected > self.rejected_stored:
            lines.append(
                f"  the first {self.rejected_stored:,} rejected rows are stored with their "
                f"values; the other {self.rejected - self.rejected_stored:,} are only counted"
            )
        return "\n".join(lines)
