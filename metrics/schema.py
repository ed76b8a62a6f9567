"""Canonical tables of the store (DESIGN.md) as ordered migrations."""

from __future__ import annotations

import re

from metrics.repeats import COMPUTE_SQL, UPDATE_SQL
from metrics.survey_links import LINKED_COLUMNS, REFRESH_SQL

# Vocabularies shared by ingest, the sample generator and the KPI catalogue.
CHANNELS: tuple[str, ...] = (
    "phone", "email", "chat", "chatbot", "app", "web", "web_form",
    "sms", "social", "in_person", "video",
)  # fmt: skip
ISSUE_TYPES: tuple[str, ...] = (
    "billing", "technical", "order", "account", "cancellation",
    "complaint", "feedback", "other",
)  # fmt: skip

# Tables a user may load through ingest, with their key columns.
INGEST_TABLES: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "contacts": ("contact_id",),
    "surveys": ("response_id",),
    "invoices": ("invoice_id",),
    "assignments": ("experiment_id", "unit_id"),
}

# Timestamps are stored as naive TIMESTAMP in UTC; ingest converts from the file's zone.
_V1 = """
CREATE TABLE customers (
    customer_id      VARCHAR PRIMARY KEY,
    signup_date      DATE,
    segment          VARCHAR,
    tier             VARCHAR,
    region           VARCHAR,
    age_band         VARCHAR,
    churned_at       DATE,
    monthly_revenue  DOUBLE,
    extras           JSON,
    batch_id         VARCHAR
);
CREATE TABLE contacts (
    contact_id              VARCHAR PRIMARY KEY,
    customer_id             VARCHAR,
    channel                 VARCHAR NOT NULL,
    issue_type              VARCHAR,
    opened_at               TIMESTAMP NOT NULL,
    wait_s                  DOUBLE,
    first_response_s        DOUBLE,
    handle_s                DOUBLE,
    abandoned               BOOLEAN,
    bot_handled             BOOLEAN,
    escalated               BOOLEAN,
    resolved                BOOLEAN,
    resolved_at             TIMESTAMP,
    first_contact_resolved  BOOLEAN,
    agent_id                VARCHAR,
    team                    VARCHAR,
    extras                  JSON,
    batch_id                VARCHAR
);
CREATE TABLE surveys (
    response_id  VARCHAR PRIMARY KEY,
    customer_id  VARCHAR,
    contact_id   VARCHAR,
    answered_at  TIMESTAMP NOT NULL,
    nps          SMALLINT CHECK (nps BETWEEN 0 AND 10),
    csat         SMALLINT CHECK (csat BETWEEN 1 AND 5),
    ces          SMALLINT CHECK (ces BETWEEN 1 AND 7),
    comment      VARCHAR,
    extras       JSON,
    batch_id     VARCHAR
);
CREATE TABLE invoices (
    invoice_id   VARCHAR PRIMARY KEY,
    customer_id  VARCHAR NOT NULL,
    issued_at    DATE NOT NULL,
    amount       DOUBLE NOT NULL,
    fee          DOUBLE,
    paid_at      DATE,
    reminders    INTEGER,
    extras       JSON,
    batch_id     VARCHAR
);
CREATE TABLE experiments (
    experiment_id   VARCHAR PRIMARY KEY,
    name            VARCHAR NOT NULL,
    hypothesis      VARCHAR,
    unit            VARCHAR NOT NULL DEFAULT 'customer',
    primary_metric  VARCHAR NOT NULL,
    guardrails      JSON,      -- [{"metric": ..., "tolerance": ...}, ...]
    variants        JSON,      -- ["control", "callback", ...]
    split           JSON,      -- [0.5, 0.5]
    mde             DOUBLE,
    planned_n       BIGINT,
    start_date      DATE,
    end_date        DATE,
    status          VARCHAR NOT NULL DEFAULT 'draft',
    decision        VARCHAR,
    decision_reasons JSON,
    decided_by      VARCHAR,
    decided_at      TIMESTAMP,
    learnings       VARCHAR,
    plan            JSON,      -- the full plan as entered, for anything not in a column
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE assignments (
    experiment_id  VARCHAR NOT NULL,
    unit_id        VARCHAR NOT NULL,
    variant        VARCHAR NOT NULL,
    assigned_at    TIMESTAMP NOT NULL,
    extras         JSON,
    batch_id       VARCHAR,
    PRIMARY KEY (experiment_id, unit_id)
);
CREATE TABLE ingest_batches (
    batch_id     VARCHAR PRIMARY KEY,
    table_name   VARCHAR NOT NULL,
    file_name    VARCHAR NOT NULL,
    checksum     VARCHAR NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    rows_read    BIGINT,
    inserted     BIGINT,
    updated      BIGINT,
    unchanged    BIGINT,
    rejected     BIGINT,
    report       JSON
);
CREATE TABLE rejected_rows (
    batch_id    VARCHAR NOT NULL,
    row_number  BIGINT NOT NULL,
    column_name VARCHAR,
    reason      VARCHAR NOT NULL,
    raw         JSON
);
CREATE TABLE targets (
    kpi         VARCHAR PRIMARY KEY,
    target      DOUBLE NOT NULL,
    source      VARCHAR,
    updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE settings (
    key    VARCHAR PRIMARY KEY,
    value  JSON NOT NULL
);
-- Results of slow fits (hierarchical segment model, CLV), keyed by what they were fitted on.
CREATE TABLE model_cache (
    cache_key     VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL,
    data_version  BIGINT NOT NULL,
    status        VARCHAR NOT NULL,   -- running | done | failed
    progress      DOUBLE,
    result        JSON,
    error         VARCHAR,
    updated_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""

# V2: older rows never overwrite newer ones, and every ingest can be undone (issue 9).
# - updated_at on every ingest table: the source's own last-change time, when it has one.
# - <table>_history: the previous version (all columns) of every row an ingest updated, under
#   hist_batch = the updating batch, written in its transaction. Inserted rows need no entry:
#   their batch_id marks them. hist_op is 'update' (room for other kinds later). Built from
#   the table itself so the columns line up; a later migration that adds a column to an
#   ingest table must add it to its history table too.
# - ingest_batches: a sequence (undo order), skipped_older, and undo status. Batches loaded
#   before V2 have no history (history_kept FALSE) and cannot be undone.
_V2_INGEST = ("customers", "contacts", "surveys", "invoices", "assignments")
_V2 = (
    "".join(f"ALTER TABLE {t} ADD COLUMN updated_at TIMESTAMP;\n" for t in _V2_INGEST)
    + "".join(
        f"CREATE TABLE {t}_history AS SELECT CAST(NULL AS VARCHAR) AS hist_batch, "
        f"CAST(NULL AS VARCHAR) AS hist_op, * FROM {t} LIMIT 0;\n"
        for t in _V2_INGEST
    )
    + """
ALTER TABLE ingest_batches ADD COLUMN seq BIGINT;
ALTER TABLE ingest_batches ADD COLUMN skipped_older BIGINT DEFAULT 0;
ALTER TABLE ingest_batches ADD COLUMN status VARCHAR DEFAULT 'loaded';
ALTER TABLE ingest_batches ADD COLUMN history_kept BOOLEAN DEFAULT FALSE;
ALTER TABLE ingest_batches ADD COLUMN undone_at TIMESTAMP;
ALTER TABLE ingest_batches ADD COLUMN undone_by VARCHAR;
-- seq is the commit order (taken inside the write transaction, unlike started_at), from a
-- sequence so any writer of ingest_batches gets one; older batches only need to come first.
CREATE SEQUENCE ingest_batch_seq;
UPDATE ingest_batches SET seq = nextval('ingest_batch_seq');
ALTER TABLE ingest_batches ALTER COLUMN seq SET DEFAULT nextval('ingest_batch_seq');
ALTER TABLE ingest_batches ALTER COLUMN history_kept SET DEFAULT TRUE;
"""
)


# Detractor follow-ups (issue 13). Append-only: marking a response again adds a row, so
# who marked it when, with which note, is never overwritten; the latest row is the state.
_V3_FOLLOWUPS = """
CREATE TABLE followups (
    followup_id     BIGINT PRIMARY KEY,
    response_id     VARCHAR NOT NULL,
    followed_up_by  VARCHAR NOT NULL,
    followed_up_at  TIMESTAMP NOT NULL,
    note            VARCHAR,
    recorded_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""

# Slots 4-5 belong to other branches of this wave; placeholders here, renumbered at merge.
_V4_PLACEHOLDER = _V5_PLACEHOLDER = "SELECT 1"

# V6 (KPIs): targets may be scoped to one channel or team (and keep the band of a banded KPI
# in its own column); each contact carries the gaps to its neighbours on the same issue
# (metrics/repeats.py), filled here for stores that already hold contacts. The history table
# of contacts (when the ingest history exists) gets the same columns, so rows line up.
_V6_KPIS = """
CREATE TABLE targets_v6 (
    kpi          VARCHAR NOT NULL,
    band         VARCHAR NOT NULL DEFAULT '',
    scope_dim    VARCHAR NOT NULL DEFAULT '',
    scope_value  VARCHAR NOT NULL DEFAULT '',
    target       DOUBLE NOT NULL,
    source       VARCHAR,
    updated_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (kpi, band, scope_dim, scope_value)
);
INSERT INTO targets_v6 (kpi, band, target, source, updated_at)
SELECT split_part(kpi, ':', 1), COALESCE(NULLIF(split_part(kpi, ':', 2), ''), ''),
       target, source, updated_at
FROM targets;
DROP TABLE targets;
ALTER TABLE targets_v6 RENAME TO targets;
ALTER TABLE contacts ADD COLUMN next_gap_s DOUBLE;
ALTER TABLE contacts ADD COLUMN prev_gap_s DOUBLE;
ALTER TABLE IF EXISTS contacts_history ADD COLUMN IF NOT EXISTS next_gap_s DOUBLE;
ALTER TABLE IF EXISTS contacts_history ADD COLUMN IF NOT EXISTS prev_gap_s DOUBLE;
""" + UPDATE_SQL.format(compute=COMPUTE_SQL.format(only=""))

# Audit log (issue 16): one row per committed write, appended in the write's transaction
# (metrics/audit.py). who = actor + role + source (local, cli, proxy, oidc, process);
# details is the action's JSON (file and counts, before/after values, decision and reasons).
# No primary key or index: each would be one more index to update inside every audited
# write, and the log is read newest-first or filtered by a scan (target prefixes).
_V7_AUDIT_LOG = """
CREATE SEQUENCE audit_log_seq START 1;
CREATE TABLE audit_log (
    audit_id  BIGINT NOT NULL DEFAULT nextval('audit_log_seq'),  -- unique by the sequence
    logged_at TIMESTAMP NOT NULL,  -- UTC
    actor     VARCHAR NOT NULL,
    role      VARCHAR NOT NULL,
    source    VARCHAR NOT NULL,
    action    VARCHAR NOT NULL,
    target    VARCHAR NOT NULL,
    details   JSON
);
"""

# V8 (issue 10 item 5, absent is not zero): the canonical columns each batch supplied, i.e.
# non-null in at least one of its rows, per table. A KPI whose inputs no loaded batch
# supplied shows "no data" instead of 0 % (metrics/supplied.py). batch_id is an
# ingest_batches id, 'sample' for the sample generator, or '' for rows no batch recorded
# (written before V8 or outside ingest). Existing stores are backfilled from the data: per
# batch_id of the rows (history included, so a batch's rows since updated still count), a
# column with any non-null value counts as supplied.
_V8_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "customer_id", "signup_date", "segment", "tier", "region", "age_band", "churned_at",
        "monthly_revenue", "updated_at",
    ),
    "contacts": (
        "contact_id", "customer_id", "channel", "issue_type", "opened_at", "wait_s",
        "first_response_s", "handle_s", "abandoned", "bot_handled", "escalated", "resolved",
        "resolved_at", "first_contact_resolved", "agent_id", "team", "updated_at",
    ),
    "surveys": (
        "response_id", "customer_id", "contact_id", "answered_at", "nps", "csat", "ces",
        "comment", "updated_at",
    ),
    "invoices": (
        "invoice_id", "customer_id", "issued_at", "amount", "fee", "paid_at", "reminders",
        "updated_at",
    ),
    "assignments": ("experiment_id", "unit_id", "variant", "assigned_at", "updated_at"),
}  # fmt: skip


def _v8_backfill(table: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(columns)
    counts = ", ".join(f"count({c}) AS {c}" for c in columns)
    return (
        f"INSERT INTO supplied_columns (batch_id, table_name, column_name) "
        f"SELECT b, '{table}', column_name FROM (UNPIVOT (SELECT COALESCE(batch_id, '') AS b, "
        f"{counts} FROM (SELECT batch_id, {cols} FROM {table} UNION ALL "
        f"SELECT batch_id, {cols} FROM {table}_history) GROUP BY b) "
        f"ON COLUMNS(* EXCLUDE (b)) INTO NAME column_name VALUE n) WHERE n > 0;\n"
    )


_V8_SUPPLIED_COLUMNS = """
CREATE TABLE supplied_columns (
    batch_id     VARCHAR NOT NULL,
    table_name   VARCHAR NOT NULL,
    column_name  VARCHAR NOT NULL,
    PRIMARY KEY (batch_id, table_name, column_name)
);
""" + "".join(_v8_backfill(t, c) for t, c in _V8_COLUMNS.items())

# V9 (issue 12 item 7b): each survey carries its linked contact's channel, issue type, team and
# customer, and that customer's dimensions and churn date (metrics/survey_links.py), so survey
# KPIs read no contacts or customers per query; filled here for stores that already hold
# surveys. The history table of surveys gets the same columns.
_V9_SURVEY_LINKS = (
    "".join(f"ALTER TABLE surveys ADD COLUMN {c} {t};\n" for c, t in LINKED_COLUMNS.items())
    + "".join(
        f"ALTER TABLE IF EXISTS surveys_history ADD COLUMN IF NOT EXISTS {c} {t};\n"
        for c, t in LINKED_COLUMNS.items()
    )
    + REFRESH_SQL.format(only="")
)

# V10 (issue 9 item 7, ingest throughput): the ingest tables lose their PRIMARY KEYs; the key
# columns stay NOT NULL. Their only writers are ingest's merge (metrics/ingest/merge.py), which
# settles duplicate keys in the file and matches the stored rows by key itself, the sample
# generator and undo; none used the index, and keeping it current cost a first load of 8.6M
# contacts about a third of its time (the index, and the key-order sort that made it faster
# to build). Keys stay unique by those writers; tests check it after each of them. DuckDB
# cannot drop a key constraint, so each table is rebuilt: V1's definition without the key,
# the columns later versions added, in the order they added them, and the rows copied.
_V10_ADDED: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (("updated_at", "TIMESTAMP"),),
    "contacts": (("updated_at", "TIMESTAMP"), ("next_gap_s", "DOUBLE"), ("prev_gap_s", "DOUBLE")),
    "surveys": (("updated_at", "TIMESTAMP"), *LINKED_COLUMNS.items()),
    "invoices": (("updated_at", "TIMESTAMP"),),
    "assignments": (("updated_at", "TIMESTAMP"),),
}


def _v10_rebuild(table: str) -> str:
    found = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", _V1, re.S)
    assert found, table
    body = found.group(1).replace(" PRIMARY KEY,", " NOT NULL,")
    body = re.sub(r",\n\s*PRIMARY KEY \([^)]*\)", "", body)
    added = "".join(f",\n    {c} {t}" for c, t in _V10_ADDED[table])
    new = f"{table}__v10"
    return (
        f"CREATE TABLE {new} ({body}{added}\n);\n"
        f"INSERT INTO {new} BY NAME SELECT * FROM {table};\n"
        f"DROP TABLE {table};\n"
        f"ALTER TABLE {new} RENAME TO {table};\n"
    )


_V10_NO_KEY_INDEX = "".join(_v10_rebuild(t) for t in INGEST_TABLES)


# Each entry migrates the store from version i to i + 1. Append, never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    _V1,
    _V2,
    _V3_FOLLOWUPS,
    _V4_PLACEHOLDER,
    _V5_PLACEHOLDER,
    _V6_KPIS,
    _V7_AUDIT_LOG,
    _V8_SUPPLIED_COLUMNS,
    _V9_SURVEY_LINKS,
    _V10_NO_KEY_INDEX,
)
SCHEMA_VERSION = len(MIGRATIONS)
