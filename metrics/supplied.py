"""Absent is not zero: which canonical columns the loaded batches supplied, and which KPIs lack theirs.

A file without a bot column loads with bot_handled empty in every row; the automation rate
would then read 0 % and miss its target. Ingest records the columns each batch supplied
(non-null in at least one row, table `supplied_columns`, schema V8); a KPI whose inputs
(metrics.catalogue.kpi_inputs) no batch that is still loaded supplied has no value, with a
reason saying which column no file had.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from metrics.catalogue import CATALOGUE, kpi_inputs
from metrics.engine import DuckDBEngine, engine_for
from metrics.store import Store
from metrics.store import quote_ident as _q

# Pseudo batch ids: the sample generator's rows, and rows no batch recorded (backfill).
SAMPLE_BATCH = "sample"
UNRECORDED_BATCH = ""

# How a reason names a column: the word an analyst looks for in a file's headers.
COLUMN_WORDS: dict[str, str] = {
    "bot_handled": "bot",
    "resolved": "resolved",
    "first_contact_resolved": "first-contact-resolved",
    "customer_id": "customer id",
    "churned_at": "churn date",
    "signup_date": "signup date",
    "handle_s": "handle time",
    "first_response_s": "first response time",
    "wait_s": "wait time",
    "abandoned": "abandoned",
    "escalated": "escalated",
    "resolved_at": "resolved time",
    "nps": "NPS",
    "csat": "CSAT",
    "ces": "CES",
}
# The same words in Swedish (the UI's other language), and each table's file in both.
COLUMN_WORDS_SV: dict[str, str] = {
    "bot_handled": "bot",
    "resolved": "löst",
    "first_contact_resolved": "löst vid första kontakten",
    "customer_id": "kund-id",
    "churned_at": "uppsägningsdatum",
    "signup_date": "startdatum",
    "handle_s": "hanteringstid",
    "first_response_s": "första svarstid",
    "wait_s": "väntetid",
    "abandoned": "avbruten",
    "escalated": "eskalerad",
    "resolved_at": "lösningstid",
    "nps": "NPS",
    "csat": "CSAT",
    "ces": "CES",
}
TABLE_FILES_SV: dict[str, str] = {
    "contacts": "kontaktfil",
    "surveys": "enkätfil",
    "customers": "kundfil",
}


@functools.cache
def _inputs(kpi_name: str) -> tuple[tuple[str, ...], ...]:
    # Parsed once per process: kpi_inputs reads the measure's SQL with sqlglot.
    return kpi_inputs(CATALOGUE[kpi_name])


def supplied_in(cur: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> list[str]:
    """The `columns` of `relation` holding a non-null value in at least one row (one scan)."""
    if not columns:
        return []
    counts = ", ".join(f"count({_q(c)}) > 0" for c in columns)
    row = cur.execute(f"SELECT {counts} FROM {_q(relation)}").fetchall()[0]
    return [c for c, yes in zip(columns, row, strict=True) if yes]


def record_supplied(
    cur: duckdb.DuckDBPyConnection, batch_id: str, table: str, columns: Iterable[str]
) -> None:
    """Record, in the caller's transaction, that `batch_id` supplied `columns` of `table`."""
    rows = [[batch_id, table, c] for c in dict.fromkeys(columns)]
    cur.execute(
        "DELETE FROM supplied_columns WHERE batch_id = ? AND table_name = ?", [batch_id, table]
    )
    if rows:
        cur.executemany(
            "INSERT INTO supplied_columns (batch_id, table_name, column_name) VALUES (?, ?, ?)",
            rows,
        )


def supplied_columns(store: Store) -> dict[str, set[str]]:
    """{table: columns supplied by a batch that is still loaded} (undone batches do not count).

    A table with rows but no record (written outside ingest after the V8 backfill, e.g. by a
    test's INSERT) is judged from its data the same way the backfill does: a column with any
    non-null value counts as supplied.
    """
    cur = store.cursor()
    out: dict[str, set[str]] = {}
    for table, column in cur.execute(
        "SELECT DISTINCT s.table_name, s.column_name FROM supplied_columns s "
        "LEFT JOIN ingest_batches b ON b.batch_id = s.batch_id "
        "WHERE b.status IS DISTINCT FROM 'undone'"
    ).fetchall():
        out.setdefault(table, set()).add(column)
    needed = {col.split(".")[0] for k in CATALOGUE for g in _inputs(k) for col in g}
    local = isinstance(engine_for(store), DuckDBEngine)
    for table in sorted(needed - set(out)):
        if not local:
            # The facts live on another engine: nothing recorded here says a column is absent.
            out[table] = {c for k in CATALOGUE for g in _inputs(k) for c in g}
            out[table] = {c.split(".", 1)[1] for c in out[table] if c.startswith(f"{table}.")}
            continue
        has_rows = cur.execute(f"SELECT count(*) > 0 FROM (SELECT 1 FROM {_q(table)} LIMIT 1)")
        if has_rows.fetchall()[0][0]:
            columns = [r[0] for r in cur.execute(f"DESCRIBE {_q(table)}").fetchall()]
            out[table] = set(supplied_in(cur, table, columns))
    return out


@dataclass(frozen=True)
class NoData:
    """Why a KPI has no value: `missing` lists the input groups no batch supplied
    ("contacts.bot_handled", or alternatives joined by " or ")."""

    reason: str
    missing: tuple[str, ...]


def _words(group: tuple[str, ...], lang: str = "en") -> str:
    cols = [c.split(".", 1)[1] for c in group]
    words, joiner = (COLUMN_WORDS_SV, " eller ") if lang == "sv" else (COLUMN_WORDS, " or ")
    return joiner.join(words.get(c, c) for c in cols)


def reason_text(missing: list[tuple[str, ...]], empty: list[str], lang: str = "en") -> str:
    """The sentence for a KPI without data: which table's file was never loaded (`empty`),
    else which columns no loaded file had (`missing`, groups of alternatives "table.column"),
    with the canonical names in brackets; in English or Swedish."""
    names = "; ".join(" or ".join(g) for g in missing)
    if lang == "sv":
        if empty:
            files = " eller ".join(TABLE_FILES_SV.get(t, f"{t}-fil") for t in empty)
            return f"ingen {files} inläst ({names})"
        words = " eller ".join(f"en kolumn för {_words(g, 'sv')}" for g in missing)
        return f"ingen inläst fil hade {words} ({names})"
    if empty:
        return f"no {' or '.join(empty)} file loaded ({names})"
    words = " or ".join(f"a {_words(g)} column" for g in missing)
    return f"no loaded file had {words} ({names})"


def translated_reason(reason: str, lang: str) -> str:
    """A reason as no_data wrote it (in English, as KPI frames and `cx kpis` carry it) in
    `lang`: rebuilt from the canonical names it ends with; any other text is returned as is."""
    if lang == "en":
        return reason
    found = re.fullmatch(r"no (?:(.+) file loaded|loaded file had .+) \((.+)\)", reason)
    if found is None:
        return reason
    missing = [tuple(alt.split(" or ")) for alt in found.group(2).split("; ")]
    if not all("." in c for g in missing for c in g):
        return reason
    empty = found.group(1).split(" or ") if found.group(1) else []
    return reason_text(missing, empty, lang)


def no_data(kpi_name: str, supplied: dict[str, set[str]]) -> NoData | None:
    """The reason `kpi_name` has no data given what was supplied, or None when it has inputs."""
    missing = [
        g
        for g in _inputs(kpi_name)
        if not any(c.split(".", 1)[1] in supplied.get(c.split(".", 1)[0], set()) for c in g)
    ]
    if not missing:
        return None
    tables = list(dict.fromkeys(c.split(".", 1)[0] for g in missing for c in g))
    empty = [t for t in tables if not supplied.get(t)]
    return NoData(
        reason=reason_text(missing, empty), missing=tuple(" or ".join(g) for g in missing)
    )


def no_data_reasons(store: Store, kpis: Iterable[str]) -> dict[str, NoData]:
    """{kpi: NoData} for the KPIs among `kpis` whose inputs no loaded batch supplied."""
    supplied = supplied_columns(store)
    out = {}
    for k in kpis:
        found = no_data(k, supplied)
        if found is not None:
            out[k] = found
    return out
