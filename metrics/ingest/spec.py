"""Canonical columns a file may fill, per ingest table, with their kind and whether required."""

from __future__ import annotations

from dataclasses import dataclass

from metrics.schema import CHANNELS, INGEST_TABLES, ISSUE_TYPES


@dataclass(frozen=True)
class Column:
    """One canonical column: its kind drives parsing and validation."""

    name: str
    kind: str  # id | text | category | channel | issue_type | timestamp | date | seconds | bool
    #            | nps | csat | ces | money | count
    required: bool = False


def _cols(*spec: tuple[str, str] | tuple[str, str, bool]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in spec)


# Order follows metrics/schema.py so staged frames line up with the tables. updated_at (the
# source's last-change time, optional everywhere) decides whether a re-loaded row is older.
TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {
    "customers": _cols(
        ("customer_id", "id", True),
        ("signup_date", "date"),
        ("segment", "category"),
        ("tier", "category"),
        ("region", "category"),
        ("age_band", "category"),
        ("churned_at", "date"),
        ("monthly_revenue", "money"),
        ("updated_at", "timestamp"),
    ),
    "contacts": _cols(
        ("contact_id", "id", True),
        ("customer_id", "id"),
        ("channel", "channel", True),
        ("issue_type", "issue_type"),
        ("opened_at", "timestamp", True),
        ("wait_s", "seconds"),
        ("first_response_s", "seconds"),
        ("handle_s", "seconds"),
        ("abandoned", "bool"),
        ("bot_handled", "bool"),
        ("escalated", "bool"),
        ("resolved", "bool"),
        ("resolved_at", "timestamp"),
        ("first_contact_resolved", "bool"),
        ("agent_id", "id"),
        ("team", "category"),
        ("updated_at", "timestamp"),
    ),
    "surveys": _cols(
        ("response_id", "id", True),
        ("customer_id", "id"),
        ("contact_id", "id"),
        ("answered_at", "timestamp", True),
        ("nps", "nps"),
        ("csat", "csat"),
        ("ces", "ces"),
        ("comment", "text"),
        ("updated_at", "timestamp"),
    ),
    "invoices": _cols(
        ("invoice_id", "id", True),
        ("customer_id", "id", True),
        ("issued_at", "date", True),
        ("amount", "money", True),
        ("fee", "money"),
        ("paid_at", "date"),
        ("reminders", "count"),
        ("updated_at", "timestamp"),
    ),
    "assignments": _cols(
        ("experiment_id", "id", True),
        ("unit_id", "id", True),
        ("variant", "category", True),
        ("assigned_at", "timestamp", True),
        ("updated_at", "timestamp"),
    ),
}
assert set(TABLE_COLUMNS) == set(INGEST_TABLES)

# A survey file must carry at least one score, otherwise it is not a survey export.
SURVEY_SCORES = ("nps", "csat", "ces")

# Score ranges (inclusive) for the validation message and the check.
SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

VOCABULARIES: dict[str, tuple[str, ...]] = {"channel": CHANNELS, "issue_type": ISSUE_TYPES}


def columns_of(table: str) -> tuple[Column, ...]:
    return TABLE_COLUMNS[table]


def keys_of(table: str) -> tuple[str, ...]:
    return INGEST_TABLES[table]


def normalise_name(name: str) -> str:
    """Header comparison key: case, spaces, underscores, hyphens, dots and brackets ignored."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def normalise_value(value: str) -> str:
    """Vocabulary comparison key for one value (used to build alias tables, not per row)."""
    return " ".join(value.casefold().replace("_", " ").replace("-", " ").split())
