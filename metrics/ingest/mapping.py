"""Header and value mapping: canonical names, aliases, presets for real exports, TOML files."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from metrics.ingest.errors import IngestError
from metrics.ingest.pii import ACTIONS, classify_header, classify_values
from metrics.ingest.spec import (
    SURVEY_SCORES,
    TABLE_COLUMNS,
    VOCABULARIES,
    columns_of,
    normalise_name,
    normalise_value,
)
from metrics.ingest.vocab import BOOL_VALUES, CHANNEL_VALUES, COLUMN_ALIASES, ISSUE_VALUES
from metrics.schema import INGEST_TABLES

EXTRAS = "extras"
DROPPED_PII = "dropped: personal data"
HASHED_PII = "hashed: personal data"
DROPPED = "dropped: by mapping"
CES_SCALES = ("effort", "agreement")


@dataclass(frozen=True)
class Preset:
    """How one tool's export maps onto a canonical table.

    `aliases` (canonical column -> headers, tried in order) win over canonical names and the
    built-in aliases; `values` (canonical column -> {file value: canonical value}) win over
    the built-in value words; `scale` multiplies a numeric column (minutes -> seconds);
    `questions` matches a Qualtrics question text (regular expression) when no header does.
    `ces_scale="agreement"` flips a CES 2.0 answer (7 = easy) to the stored effort scale
    (1 = very easy) as 8 - x. `timezone` is the zone of times written without an offset.
    """

    name: str
    description: str
    table: str | None  # None: any table
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    questions: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()  # headers that are not personal data whatever they look like
    timezone: str | None = None
    decimal: str | None = None
    ces_scale: str = "effort"
    header_rows: int | None = None


_ZENDESK_VIA = {
    "web form": "web_form",
    "web": "web_form",
    "api": "web_form",
    "web service": "web_form",
    "web widget": "chat",
    "chat": "chat",
    "messaging": "chat",
    "native messaging": "chat",
    "email": "email",
    "mail": "email",
    "closed ticket": "email",
    "voice": "phone",
    "phone call inbound": "phone",
    "phone call outbound": "phone",
    "voicemail": "phone",
    "mobile sdk": "app",
    "mobile": "app",
    "answer bot": "chatbot",
    "twitter": "social",
    "facebook": "social",
    "sms": "sms",
    "text": "sms",
}

PRESETS: dict[str, Preset] = {
    "zendesk": Preset(
        name="zendesk",
        description="Zendesk Support tickets export (CSV): Id, Via, Ticket type, Created at, "
        "Solved at, Group, First reply time in minutes; requester names dropped, e-mails hashed",
        table="contacts",
        aliases={
            "contact_id": ("Id", "Ticket ID"),
            "customer_id": ("Requester id", "Requester external id"),
            "channel": ("Via", "Channel"),
            "issue_type": ("Contact reason", "Ticket type", "Type"),
            "opened_at": ("Created at",),
            "resolved_at": ("Solved at",),
            "resolved": ("Status",),
            "first_response_s": ("First reply time in minutes",),
            "handle_s": ("Agent work time in minutes", "Handle time in minutes"),
            "team": ("Group",),
            "agent_id": ("Assignee id",),
        },
        values={
            "channel": _ZENDESK_VIA,
            "issue_type": {
                "question": "other",
                "incident": "technical",
                "problem": "technical",
                "task": "other",
            },
            "resolved": {
                "solved": "true",
                "closed": "true",
                "new": "false",
                "open": "false",
                "pending": "false",
                "hold": "false",
                "on hold": "false",
            },
        },
        scale={"first_response_s": 60.0, "handle_s": 60.0},
        timezone="UTC",
    ),
    "intercom": Preset(
        name="intercom",
        description="Intercom conversations export (CSV): Conversation ID, Started at, "
        "Channel, Topic, State, Time to first response (seconds); user names dropped, "
        "e-mails hashed",
        table="contacts",
        aliases={
            "contact_id": ("Conversation ID",),
            "customer_id": ("User ID", "Contact ID", "Contact external ID", "User external ID"),
            "channel": ("Channel", "Source type"),
            "issue_type": ("Topic", "Conversation topic", "Contact reason"),
            "opened_at": ("Started at", "Conversation started at", "Created at"),
            "resolved_at": ("Last closed at", "Closed at"),
            "resolved": ("State",),
            "first_response_s": (
                "Time to first response (seconds)",
                "First response time (seconds)",
            ),
            "handle_s": ("Handling time (seconds)",),
            "bot_handled": ("Resolved by Fin", "Fin resolved", "Resolved by bot"),
            "escalated": ("Escalated to teammate",),
            "team": ("Team currently assigned", "Team assigned"),
            "agent_id": ("Assignee ID", "Teammate ID"),
        },
        values={
            "channel": {
                "conversation": "chat",
                "messenger": "chat",
                "chat": "chat",
                "email": "email",
                "phone": "phone",
                "phone call": "phone",
                "whatsapp": "social",
                "instagram": "social",
                "facebook": "social",
                "sms": "sms",
                "fin": "chatbot",
                "fin ai agent": "chatbot",
            },
            "issue_type": {
                "bug": "technical",
                "how to": "other",
                "refund": "billing",
                "pricing": "billing",
                "account access": "account",
            },
            "resolved": {"closed": "true", "open": "false", "snoozed": "false"},
        },
        timezone="UTC",
    ),
    "qualtrics": Preset(
        name="qualtrics",
        description="Qualtrics survey export (CSV with three header rows: column names, "
        "question text, ImportId JSON); questions matched by their text; CES 2.0 agreement "
        "(7 = easy) flipped to effort (1 = very easy); respondent names, IP and location "
        "dropped, e-mails hashed; the zone comes from the ImportId row",
        table="surveys",
        aliases={
            "response_id": ("ResponseId", "Response ID"),
            "answered_at": ("RecordedDate", "EndDate", "Recorded Date", "End Date"),
            "customer_id": (
                "CustomerId",
                "customer_id",
                "ExternalReference",
                "External Data Reference",
            ),
            "contact_id": ("TicketId", "ContactId", "contact_id", "ticket_id"),
        },
        questions={
            "nps": r"recommend|rekommendera",
            "csat": r"satisf|nöjd",
            "ces": r"easy|effort|enkelt|lätt",
            "comment": r"why|tell us|comment|anything else|varför|kommentar",
        },
        ces_scale="agreement",
        header_rows=3,
    ),
    "swedish": Preset(
        name="swedish",
        description="Swedish semicolon export (cp1252 or UTF-8): Swedish headers (Kanal, "
        "Ärendetyp, Skapad, Väntetid, ...) and values (Telefon, Chatt, Fakturafråga, Ja/Nej), "
        "decimal comma, times without offset read as Europe/Stockholm",
        table=None,
        aliases={
            "contact_id": ("Ärende-ID", "Ärendenummer", "Ärendenr"),
            "customer_id": ("Kundnummer", "Kund-ID", "Kundnr"),
            "channel": ("Kanal", "Kontaktväg"),
            "issue_type": ("Ärendetyp", "Kategori"),
            "opened_at": ("Skapad", "Skapat", "Öppnad"),
            "wait_s": ("Väntetid (s)", "Väntetid", "Kötid"),
            "first_response_s": ("Första svar (s)", "Svarstid (s)", "Svarstid"),
            "handle_s": ("Hanteringstid (s)", "Hanteringstid", "Samtalstid"),
            "abandoned": ("Avbrutet", "Lagt på"),
            "bot_handled": ("Hanterad av bot", "Bot"),
            "escalated": ("Eskalerad",),
            "resolved": ("Löst",),
            "resolved_at": ("Löst tid", "Avslutad", "Stängd"),
            "first_contact_resolved": ("Löst vid första kontakt",),
            "agent_id": ("Handläggar-ID",),
            "team": ("Grupp", "Team"),
            "response_id": ("Svar-ID", "Svarsid"),
            "answered_at": ("Besvarad", "Svarsdatum"),
            "comment": ("Kommentar", "Fritext"),
            "invoice_id": ("Fakturanummer", "Fakturanr"),
            "issued_at": ("Fakturadatum",),
            "amount": ("Belopp", "Summa"),
            "fee": ("Avgift", "Fakturaavgift"),
            "paid_at": ("Betald", "Betaldatum"),
            "reminders": ("Påminnelser",),
            "signup_date": ("Kund sedan", "Startdatum"),
            "churned_at": ("Uppsagd", "Slutdatum"),
            "monthly_revenue": ("Månadsintäkt",),
            "segment": ("Segment", "Kundsegment"),
            "region": ("Region", "Län"),
            "age_band": ("Åldersgrupp",),
        },
        timezone="Europe/Stockholm",
        decimal=",",
    ),
}


# -- mapping files --------------------------------------------------------------------------
def load_mapping(mapping: Path | str | dict, table: str) -> Preset:
    """A TOML mapping file (or the same structure as a dict) as a Preset.

    Keys: table, description, timezone, decimal, ces_scale, header_rows, [columns]
    ("File header" = "canonical_column" | "extras" | "drop" | "hash"),
    [values.<column>] ("file value" = "canonical value"), [scale] (column = factor),
    [pii] keep = ["Header", ...] (not personal data, whatever the header or values look like).
    """
    if isinstance(mapping, dict):
        name, spec = "mapping", mapping
    else:
        path = Path(mapping)
        name = path.name
        try:
            spec = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise IngestError(f"{name}: cannot read the mapping file ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise IngestError(f"{name}: not a valid TOML mapping file ({exc})") from None
    allowed = {
        "table",
        "description",
        "timezone",
        "decimal",
        "ces_scale",
        "header_rows",
        "columns",
        "values",
        "scale",
        "pii",
    }
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise IngestError(
            f"{name}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
        )
    canon = {c.name for c in columns_of(table)}
    aliases: dict[str, list[str]] = {}
    drop: list[str] = []
    hashed: list[str] = []
    for header, target in dict(spec.get("columns", {})).items():
        target = str(target)
        if target == "drop":
            drop.append(header)
        elif target == "hash":
            hashed.append(header)
        elif target == EXTRAS:
            continue  # unmapped columns go to extras anyway
        elif target in canon:
            aliases.setdefault(target, []).append(header)
        else:
            raise IngestError(
                f"{name}: column {header!r} maps to {target!r}, which is not a column of "
                f"{table}; expected one of {', '.join(sorted(canon))}, extras, drop or hash"
            )
    values: dict[str, dict[str, str]] = {}
    for col, vmap in dict(spec.get("values", {})).items():
        if col not in canon:
            raise IngestError(f"{name}: [values.{col}] is not a column of {table}")
        vocab = VOCABULARIES.get(_kind(table, col))
        for raw, value in vmap.items():
            if vocab is not None and value not in vocab:
                raise IngestError(
                    f"{name}: [values.{col}] maps {raw!r} to {value!r}; expected one of "
                    f"{', '.join(vocab)}"
                )
        values[col] = {str(k): str(v) for k, v in vmap.items()}
    scale = {str(k): float(v) for k, v in dict(spec.get("scale", {})).items()}
    keep = _pii_keep(name, spec.get("pii", {}))
    ces_scale = str(spec.get("ces_scale", "effort"))
    if ces_scale not in CES_SCALES:
        raise IngestError(f"{name}: ces_scale {ces_scale!r}; expected effort or agreement")
    decimal = spec.get("decimal")
    if decimal not in (None, ",", "."):
        raise IngestError(f"{name}: decimal {decimal!r}; expected ',' or '.'")
    return Preset(
        name=name,
        description=str(spec.get("description", f"mapping file {name}")),
        table=spec.get("table"),
        aliases={k: tuple(v) for k, v in aliases.items()},
        values=values,
        scale=scale,
        drop=tuple(drop),
        hash=tuple(hashed),
        keep=keep,
        timezone=spec.get("timezone"),
        decimal=decimal,
        ces_scale=ces_scale,
        header_rows=spec.get("header_rows"),
    )


def _pii_keep(name: str, section: object) -> tuple[str, ...]:
    """`[pii] keep = [...]`: headers wrongly taken for personal data (a false positive)."""
    if not isinstance(section, dict):
        raise IngestError(f'{name}: [pii] must be a table; expected [pii] keep = ["Header", ...]')
    unknown = sorted(set(section) - {"keep"})
    if unknown:
        raise IngestError(f"{name}: unknown key(s) in [pii]: {', '.join(unknown)}; expected keep")
    keep = section.get("keep", [])
    if not isinstance(keep, list) or not all(isinstance(h, str) for h in keep):
        raise IngestError(
            f'{name}: [pii] keep must be a list of headers; expected keep = ["PhoneService"]'
        )
    return tuple(keep)


def _kind(table: str, column: str) -> str:
    return next(c.kind for c in columns_of(table) if c.name == column)


def choose_options(
    table: str, preset: str | None, mapping: Path | str | dict | None, file_name: str
) -> Preset | None:
    """The preset or mapping file for this ingest, checked against the table."""
    if table not in INGEST_TABLES:
        raise IngestError(
            f"{file_name}: unknown table {table!r}; expected one of {', '.join(INGEST_TABLES)}"
        )
    if preset is not None and mapping is not None:
        raise IngestError(f"{file_name}: give a preset or a mapping file, not both")
    if preset is not None:
        if preset not in PRESETS:
            raise IngestError(
                f"{file_name}: unknown preset {preset!r}; expected one of {', '.join(PRESETS)}"
            )
        opts = PRESETS[preset]
    elif mapping is not None:
        opts = load_mapping(mapping, table)
    else:
        return None
    if opts.table is not None and opts.table != table:
        raise IngestError(
            f"{file_name}: the {opts.name} preset is for table {opts.table}, not {table}; "
            f"expected --table {opts.table}"
        )
    return opts


# -- resolution -----------------------------------------------------------------------------
@dataclass
class Plan:
    """What happens to every source column, and the options the validator needs."""

    table: str
    columns: dict[str, str]  # canonical -> source header
    entries: list[tuple[str, str]]  # (source header, target label) in file order
    extras: list[str]
    dropped: list[str]  # personal data and explicit drops: never read further
    hashed: list[str]  # personal data kept as a keyed hash (in extras, or in an id column)
    pii: dict[str, str]  # source header -> "dropped" | "hashed"
    values: dict[str, dict[str, str]]  # canonical -> {normalised file value: replacement}
    scale: dict[str, float]
    timezone: str | None
    decimal: str | None
    ces_scale: str
    missing_required: list[str]
    # source header -> class (email, phone, personnummer, ...; "generic" when unknown): how a
    # hashed column is normalised before hashing, so one person gives one hash.
    pii_kind: dict[str, str] = field(default_factory=dict)
    keep: list[str] = field(default_factory=list)  # source headers exempt from detection


def _normalised_values(column: str, kind: str, opts: Preset | None) -> dict[str, str]:
    base: dict[str, str] = {}
    if kind == "channel":
        base = dict(CHANNEL_VALUES)
    elif kind == "issue_type":
        base = dict(ISSUE_VALUES)
    if opts is not None:
        base.update({normalise_value(k): v for k, v in opts.values.get(column, {}).items()})
    return base


def resolve(
    table: str,
    frame: pl.DataFrame,
    opts: Preset | None,
    questions: dict[str, str] | None = None,
) -> Plan:
    """Assign each source column a target: canonical column, extras, or personal data."""
    sources = [c for c in frame.columns if c != "__row"]
    by_norm: dict[str, str] = {}
    for s in sources:
        by_norm.setdefault(normalise_name(s), s)
    taken: set[str] = set()
    columns: dict[str, str] = {}
    pii: dict[str, str] = {}
    pii_kind: dict[str, str] = {}
    keep_norm = {normalise_name(h) for h in (opts.keep if opts else ())}
    keep = [s for s in sources if normalise_name(s) in keep_norm]
    drop_explicit = {normalise_name(h) for h in (opts.drop if opts else ())}
    hash_explicit = {normalise_name(h) for h in (opts.hash if opts else ())}
    for s in sources:
        if normalise_name(s) in drop_explicit:
            taken.add(s)
        elif normalise_name(s) in hash_explicit:
            taken.add(s)
            pii[s] = "hashed"
            pii_kind[s] = classify_values(frame[s]) or "generic"

    def claim(canonical: str, headers: tuple[str, ...] | list[str]) -> None:
        if canonical in columns:
            return
        for h in headers:
            src = by_norm.get(normalise_name(h))
            if src is not None and src not in taken:
                columns[canonical] = src
                taken.add(src)
                return

    canon = columns_of(table)
    # Priority: preset / mapping file, then canonical names, then the built-in aliases.
    if opts is not None:
        for col in canon:
            claim(col.name, opts.aliases.get(col.name, ()))
    for col in canon:
        claim(col.name, (col.name,))
    for col in canon:
        claim(col.name, COLUMN_ALIASES.get(col.name, ()))
    if opts is not None and opts.questions and questions:
        for col in canon:
            pattern = opts.questions.get(col.name)
            if pattern is None or col.name in columns:
                continue
            for s in sources:
                text = questions.get(s, "")
                if (
                    s not in taken
                    and not s.upper().endswith(("_NPS_GROUP", "_TEXT"))
                    and (re.search(pattern, text, flags=re.IGNORECASE))
                ):
                    columns[col.name] = s
                    taken.add(s)
                    break

    kinds = {c.name: c.kind for c in canon}
    for canonical, src in columns.items():
        # An id or text column full of e-mail addresses, personnummer or phone numbers is
        # stored hashed in place (it still joins); strict shapes, so plain ids are left alone.
        if kinds[canonical] in ("id", "text", "category") and src not in keep:
            cls = classify_values(frame[src], strict=True)
            if cls is not None:
                pii[src] = "hashed"
                pii_kind[src] = cls
    extras: list[str] = []
    dropped: list[str] = []
    for s in sources:
        if s in taken:
            if s not in columns.values() and pii.get(s) != "hashed":
                dropped.append(s)
            continue
        cls = None if s in keep else classify_header(s)
        if s not in keep and cls in (None, "name"):
            # By value shape: an innocent header over personnummer, or a "Requester" column
            # that holds e-mail addresses (hashed, so it joins, rather than dropped).
            shape = classify_values(frame[s])
            if shape is not None and (cls is None or ACTIONS[shape] == "hashed"):
                cls = shape
        action = ACTIONS.get(cls) if cls else None
        if action == "dropped":
            pii[s] = "dropped"
            dropped.append(s)
        elif action == "hashed" and cls is not None:  # an action implies a class
            pii[s] = "hashed"
            pii_kind[s] = cls
        else:
            extras.append(s)
    source_to_target = {v: k for k, v in columns.items()}
    entries = []
    for s in sources:
        if s in source_to_target:
            target = source_to_target[s]
            if pii.get(s) == "hashed":
                target = f"{target} ({HASHED_PII})"
        elif pii.get(s) == "hashed":
            target = HASHED_PII
        elif pii.get(s) == "dropped":
            target = DROPPED_PII
        elif s in dropped:
            target = DROPPED
        else:
            target = EXTRAS
        entries.append((s, target))
    missing = [c.name for c in canon if c.required and c.name not in columns]
    if table == "surveys" and not any(s in columns for s in SURVEY_SCORES):
        missing.append(" or ".join(SURVEY_SCORES))
    return Plan(
        table=table,
        columns=columns,
        entries=entries,
        extras=extras,
        dropped=dropped,
        hashed=[s for s, v in pii.items() if v == "hashed"],
        pii=pii,
        values={c.name: _normalised_values(c.name, c.kind, opts) for c in canon},
        scale=dict(opts.scale) if opts else {},
        timezone=opts.timezone if opts else None,
        decimal=opts.decimal if opts else None,
        ces_scale=opts.ces_scale if opts else "effort",
        missing_required=missing,
        pii_kind=pii_kind,
        keep=keep,
    )


def expected_headers(table: str, column: str, opts: Preset | None) -> list[str]:
    """Headers that would have matched `column`, for the missing-column message."""
    out = [column]
    if opts is not None:
        out += list(opts.aliases.get(column, ()))
    out += list(COLUMN_ALIASES.get(column, ()))[:4]
    seen: list[str] = []
    for h in out:
        if h not in seen:
            seen.append(h)
    return seen


def guess_table(frame: pl.DataFrame, table: str, opts: Preset | None) -> str | None:
    """The ingest table this file fits best, when it lacks what `table` requires."""
    own = len(resolve(table, frame.head(50), opts).columns)
    best, best_n = None, own
    for other in TABLE_COLUMNS:
        if other == table:
            continue
        plan = resolve(other, frame.head(50), None)
        if not plan.missing_required and len(plan.columns) > best_n:
            best, best_n = other, len(plan.columns)
    return best


def better_table(
    frame: pl.DataFrame, table: str, opts: Preset | None
) -> tuple[str, list[str], list[str]] | None:
    """Another table this file fits better than `table`, even though `table`'s required
    columns are present (an invoices file has the customer_id a customers file needs).

    Score = how many of a table's canonical columns the headers fill. Another table wins
    only when it has everything it requires and strictly more columns than `table`; ties
    keep the table asked for. A preset for any table (swedish) or a mapping file without a
    table is used for every table (it describes the headers); a tool preset only for its own.
    Returns (table it fits, its columns, the columns it fills in `table`) or None.
    """
    head = frame.head(50)
    own = list(resolve(table, head, opts).columns)
    shared = opts if opts is not None and opts.table is None else None
    best: tuple[str, list[str]] | None = None
    for other in TABLE_COLUMNS:
        if other == table:
            continue
        plan = resolve(other, head, shared)
        if plan.missing_required:
            continue
        if len(plan.columns) > len(best[1] if best else own):
            best = (other, list(plan.columns))
    return (best[0], best[1], own) if best else None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def wrong_table_message(name: str, table: str, fit: tuple[str, list[str], list[str]]) -> str:
    """One line: the file fits another table better; nothing is written."""
    other, theirs, own = fit
    return (
        f"{name}: this looks like {_article(other)} {other} file, not {table}: its columns "
        f"fill {len(theirs)} columns of {other} ({', '.join(theirs)}) but only {len(own)} of {table} "
        f"({', '.join(own) or 'none'}); nothing was written; expected --table {other}"
    )


BOOLS = {normalise_value(k): v for k, v in BOOL_VALUES.items()}
