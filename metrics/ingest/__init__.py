"""Ingest of exported files (CSV/TSV, XLSX, Parquet) into the store's canonical tables."""

# ingest_file is the one way in (`cx ingest` and the Data page); the decisions it makes on
# zones, duplicates, references and personal data are written down in README.md here.
from metrics.ingest.errors import (
    DEFAULT_MAX_REJECT_SHARE,
    IngestError,
    RejectGroup,
    RejectShareExceeded,
)
from metrics.ingest.load import ingest_file, ingest_history, preview_file, rejected_rows
from metrics.ingest.mapping import PRESETS, Preset, suggest_preset
from metrics.ingest.readers import DEFAULT_MAX_BYTES, Limits
from metrics.ingest.report import IngestReport, Preview

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REJECT_SHARE",
    "PRESETS",
    "IngestError",
    "IngestReport",
    "Limits",
    "Preset",
    "Preview",
    "RejectGroup",
    "RejectShareExceeded",
    "ingest_file",
    "ingest_history",
    "preview_file",
    "rejected_rows",
    "suggest_preset",
]
