"""Header and value mapping: canonical names, aliases, presets for real exports, TOML files."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

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
from metrics.ingest.vocab import (
    BOOL_VALUES,
    CHANNEL_VALUES,
    COLUMN_ALIASES,
    INVERTED_ALIASES,
    ISSUE_VALUES,
)
from metrics.schema import INGEST_TABLES

EXTRAS = "extras"
DROPPED_PII = "dropped: personal data"
HASHED_PII = "hashed: personal data"
DROPPED = "dropped: by mapping"
CES_SCALES = ("effort", "agreement")


_T = TypeVar("_T")


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
    dayfirst: bool | None = None  # slashed dates: True day/month, False month/day, None detect
    formats: dict[str, str] = field(default_factory=dict)  # canonical column -> strptime format
    constants: dict[str, str] = field(default_factory=dict)  # canonical column -> every row's value
    combine: dict[str, tuple[str, ...]] = field(default_factory=dict)  # column -> (date, time)
    durations: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (from, to)
    # file header -> values whose rows are left out (counted as filtered); "" = empty cell
    filter: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The mapping-file structure of this preset: load_mapping(p.to_dict()) gives it back."""
        columns: dict[str, object] = {}
        for col, headers in self.aliases.items():
            for h in headers:
                prev = columns.get(h)
                columns[h] = (
                    col if prev is None else [*(prev if isinstance(prev, list) else [prev]), col]
                )
        columns.update({h: "drop" for h in self.drop})
        columns.update({h: "hash" for h in self.hash})
        out: dict[str, object] = {"description": self.description}
        scalars = {
            "table": self.table,
            "timezone": self.timezone,
            "decimal": self.decimal,
            "ces_scale": None if self.ces_scale == "effort" else self.ces_scale,
            "header_rows": self.header_rows,
            "dayfirst": self.dayfirst,
        }
        out.update({k: v for k, v in scalars.items() if v is not None})
        sections = {
            "columns": columns,
            "values": {c: dict(v) for c, v in self.values.items()},
            "scale": dict(self.scale),
            "formats": dict(self.formats),
            "constants": dict(self.constants),
            "combine": {c: list(v) for c, v in self.combine.items()},
            "durations": {c: {"from": a, "to": b} for c, (a, b) in self.durations.items()},
            "filter": {h: list(v) for h, v in self.filter.items()},
            "pii": {"keep": list(self.keep)} if self.keep else {},
        }
        out.update({k: v for k, v in sections.items() if v})
        return out

    def to_toml(self) -> str:
        """This preset as a TOML mapping file (the Data page's mapping download)."""
        return mapping_to_toml(self.to_dict())


QUALTRICS_NOT_RESPONSES = (
    *("1", "2", "4", "8", "9", "16", "17"),
    *("survey preview", "survey test", "spam", "imported", "offline", "offline preview"),
)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def mapping_to_toml(spec: dict) -> str:
    """A mapping dict (load_mapping's structure) as TOML text for `cx ingest --mapping`."""
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in spec.items() if not isinstance(v, dict)
    ]
    for section, body in spec.items():
        if not isinstance(body, dict):
            continue
        nested = {k: v for k, v in body.items() if isinstance(v, dict) and section == "values"}
        flat = {k: v for k, v in body.items() if k not in nested}
        if flat:
            lines += ["", f"[{section}]"] + [
                f"{_toml_key(k)} = {_toml_value(v)}" for k, v in flat.items()
            ]
        for k, v in nested.items():
            lines += ["", f"[{section}.{_toml_key(k)}]"]
            lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in v.items()]
    return "\n".join(lines) + "\n"


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
        dayfirst=False,  # the UI export writes US dates (03/06/2026 2:02 PM)
        timezone="UTC",
    ),
    "qualtrics": Preset(
        name="qualtrics",
        description="Qualtrics survey export (CSV with 1, 2 or 3 header rows: column names, "
        "question text, ImportId JSON; legacy V1…Vn exports too); questions matched by their text; CES 2.0 agreement "
        "(7 = easy) flipped to effort (1 = very easy); respondent names, IP and location "
        "dropped, e-mails hashed; the zone comes from the ImportId row",
        table="surveys",
        aliases={
            "response_id": ("ResponseId", "Response ID", "ResponseID"),
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
        header_rows=None,  # 1, 2 or 3 header rows, detected by content (readers.py)
        # Preview, test, spam, imported and offline responses (Status other than 0 / "IP
        # Address"), preview distributions and unfinished responses are left out, counted.
        filter={
            "Status": QUALTRICS_NOT_RESPONSES,
            "DistributionChannel": ("preview", "test"),
            "Finished": ("0", "false"),
        },
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
        "dayfirst",
        "formats",
        "constants",
        "combine",
        "durations",
        "filter",
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
    one_to_many = [
        (h, str(t))
        for h, ts in dict(spec.get("columns", {})).items()
        if isinstance(ts, list)
        for t in ts
    ]
    singles = [(h, t) for h, t in dict(spec.get("columns", {})).items() if not isinstance(t, list)]
    for header, target in singles + one_to_many:
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
    dayfirst = spec.get("dayfirst")
    if dayfirst is not None and not isinstance(dayfirst, bool):
        raise IngestError(f"{name}: dayfirst {dayfirst!r}; expected true or false")
    formats = _formats(name, table, spec.get("formats", {}))
    constants, combine, durations = _derived(name, table, spec)
    filters = {}
    for header, vals in dict(spec.get("filter", {})).items():
        if not isinstance(vals, list) or not all(isinstance(v, str | int) for v in vals):
            raise IngestError(
                f'{name}: [filter] {header!r}; expected a list of values, e.g. "{header}" = '
                '["deleted", "spam"] ("" = an empty cell)'
            )
        filters[str(header)] = tuple(str(v) for v in vals)
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
        dayfirst=dayfirst,
        formats=formats,
        constants=constants,
        combine=combine,
        durations=durations,
        filter=filters,
    )


def _derived(
    name: str, table: str, spec: dict
) -> tuple[dict[str, str], dict[str, tuple[str, ...]], dict[str, tuple[str, str]]]:
    """[constants], [combine] and [durations]: canonical columns made from other values."""
    kinds = {c.name: c.kind for c in columns_of(table)}

    def known(section: str, col: str, want: tuple[str, ...] | None = None) -> None:
        if col not in kinds:
            raise IngestError(
                f"{name}: [{section}] {col!r} is not a column of {table}; expected one of "
                f"{', '.join(kinds)}"
            )
        if want is not None and kinds[col] not in want:
            raise IngestError(
                f"{name}: [{section}] {col} is not a {' or '.join(want)} column; expected one "
                f"of {', '.join(c for c, k in kinds.items() if k in want)}"
            )

    constants = {}
    for col, value in dict(spec.get("constants", {})).items():
        known("constants", col)
        constants[col] = str(value).lower() if isinstance(value, bool) else str(value)
    combine = {}
    for col, parts in dict(spec.get("combine", {})).items():
        known("combine", col, ("timestamp",))
        if (
            not isinstance(parts, list)
            or len(parts) != 2
            or not all(isinstance(p, str) for p in parts)
        ):
            raise IngestError(
                f'{name}: [combine] {col}; expected {col} = ["Date column", "Time column"]'
            )
        combine[col] = tuple(parts)
    durations = {}
    for col, pair in dict(spec.get("durations", {})).items():
        known("durations", col, ("seconds",))
        if not isinstance(pair, dict) or set(pair) != {"from", "to"}:
            raise IngestError(
                f'{name}: [durations] {col}; expected {col} = {{ from = "Start column", '
                'to = "End column" }'
            )
        durations[col] = (str(pair["from"]), str(pair["to"]))
    return constants, combine, durations


def _formats(name: str, table: str, section: object) -> dict[str, str]:
    """`[formats] column = "%d/%m/%Y %H:%M"`: a strptime format for a date/time column."""
    if not isinstance(section, dict):
        raise IngestError(f'{name}: [formats] must be a table; expected issued_at = "%d/%m/%Y"')
    kinds = {c.name: c.kind for c in columns_of(table)}
    out = {}
    for col, fmt in section.items():
        if kinds.get(col) not in ("timestamp", "date"):
            dated = ", ".join(c for c, k in kinds.items() if k in ("timestamp", "date"))
            raise IngestError(
                f"{name}: [formats] {col!r} is not a date or time column of {table}; "
                f"expected one of {dated}"
            )
        if not isinstance(fmt, str) or "%" not in fmt:
            raise IngestError(
                f'{name}: [formats] {col} = {fmt!r}; expected a strptime format like "%d/%m/%Y"'
            )
        out[str(col)] = fmt
    return out


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
    if preset is not None:
        if preset not in PRESETS:
            raise IngestError(
                f"{file_name}: unknown preset {preset!r}; expected one of {', '.join(PRESETS)}"
            )
        opts = PRESETS[preset]
        if mapping is not None:
            opts = combine_options(opts, load_mapping(mapping, table))
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


def combine_options(preset: Preset, mapping: Preset) -> Preset:
    """`--preset` and `--mapping` together: the mapping's keys override the preset's."""
    aliases = dict(preset.aliases)
    for col, headers in mapping.aliases.items():
        aliases[col] = tuple(headers) + tuple(h for h in aliases.get(col, ()) if h not in headers)
    values = {c: dict(v) for c, v in preset.values.items()}
    for col, vmap in mapping.values.items():
        values.setdefault(col, {}).update(vmap)

    def pick(a: _T, b: _T, default: object = None) -> _T:
        return a if a is not None and a != default else b

    return Preset(
        name=f"{preset.name} + {mapping.name}",
        description=f"{preset.description}; overridden by {mapping.name}",
        table=mapping.table or preset.table,
        aliases=aliases,
        values=values,
        scale={**preset.scale, **mapping.scale},
        questions={**preset.questions, **mapping.questions},
        drop=tuple(dict.fromkeys(preset.drop + mapping.drop)),
        hash=tuple(dict.fromkeys(preset.hash + mapping.hash)),
        keep=tuple(dict.fromkeys(preset.keep + mapping.keep)),
        timezone=pick(mapping.timezone, preset.timezone),
        decimal=pick(mapping.decimal, preset.decimal),
        ces_scale=pick(mapping.ces_scale, preset.ces_scale, "effort"),
        header_rows=pick(mapping.header_rows, preset.header_rows),
        dayfirst=pick(mapping.dayfirst, preset.dayfirst),
        formats={**preset.formats, **mapping.formats},
        constants={**preset.constants, **mapping.constants},
        combine={**preset.combine, **mapping.combine},
        durations={**preset.durations, **mapping.durations},
        filter={**preset.filter, **mapping.filter},
    )


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
    dayfirst: bool | None = None
    formats: dict[str, str] = field(default_factory=dict)
    # Decisions made on the first chunk that shows them and kept for the whole file (the
    # validator fills them): canonical column -> "dmy" | "mdy" for slashed dates, and the
    # seconds columns read as Excel fractions of a day.
    date_order: dict[str, str] = field(default_factory=dict)
    day_fraction: dict[str, bool] = field(default_factory=dict)
    date_notes: dict[str, str] = field(default_factory=dict)  # column -> warning or evidence
    inverted: list[str] = field(default_factory=list)  # bool columns read with yes/no swapped
    # canonical column -> how it is made when no single file column holds it: ("constant",
    # value), ("combine", date column, time column) or ("duration", from column, to column).
    # Its plan.columns source is the synthetic name derived_name(column).
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)
    filter: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> lowered values
    filter_missing: list[str] = field(default_factory=list)  # [filter] headers not in the file
    filtered: dict[str, int] = field(default_factory=dict)  # source -> rows left out so far


def derived_name(column: str) -> str:
    """The synthetic source name of a column made by [constants], [combine] or [durations]."""
    return f"<{column} from the mapping>"


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

    shared = set()  # headers the mapping sends to several columns ([columns] h = [a, b])
    if opts is not None:
        counts: dict[str, int] = {}
        for hs in opts.aliases.values():
            for h in hs:
                counts[normalise_name(h)] = counts.get(normalise_name(h), 0) + 1
        shared = {h for h, n in counts.items() if n > 1}

    def claim(canonical: str, headers: tuple[str, ...] | list[str], explicit: bool = False) -> None:
        if canonical in columns:
            return
        for h in headers:
            src = by_norm.get(normalise_name(h))
            reuse = explicit and normalise_name(h) in shared
            if src is not None and (src not in taken or reuse):
                columns[canonical] = src
                taken.add(src)
                return

    canon = columns_of(table)
    derived: dict[str, tuple[str, ...]] = {}
    if opts is not None:
        derived.update({c: ("constant", v) for c, v in opts.constants.items()})
        derived.update({c: ("combine", *v) for c, v in opts.combine.items()})
        derived.update({c: ("duration", *v) for c, v in opts.durations.items()})
        for target, how in derived.items():
            for src in how[1:] if how[0] != "constant" else ():
                if normalise_name(src) not in by_norm:
                    raise IngestError(
                        f"{target} is made from the file column {src!r}, which the file does "
                        f"not have; expected one of {', '.join(repr(s) for s in sources)}"
                    )
            columns[target] = derived_name(target)
    # Priority: preset / mapping file, then canonical names, then the built-in aliases.
    if opts is not None:
        for col in canon:
            claim(col.name, opts.aliases.get(col.name, ()), explicit=True)
    for col in canon:
        claim(col.name, (col.name,))
    for col in canon:
        claim(col.name, COLUMN_ALIASES.get(col.name, ()))
    inverted = []
    for canonical, headers in INVERTED_ALIASES.items():
        if canonical in {c.name for c in canon} and canonical not in columns:
            claim(canonical, headers)
            if canonical in columns:
                inverted.append(canonical)
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
        if canonical in derived:
            continue
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
    plan = Plan(
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
        dayfirst=opts.dayfirst if opts else None,
        formats=dict(opts.formats) if opts else {},
        inverted=inverted,
        filter={
            by_norm[normalise_name(h)]: tuple(v.strip().casefold() for v in vals)
            for h, vals in (opts.filter.items() if opts else ())
            if normalise_name(h) in by_norm
        },
        filter_missing=[  # a preset's filters apply when the file has the column
            h
            for h in (opts.filter if opts else ())
            if normalise_name(h) not in by_norm and not any(h in p.filter for p in PRESETS.values())
        ],
        derived={
            c: (how[0], *(by_norm[normalise_name(x)] for x in how[1:]))
            if how[0] != "constant"
            else how
            for c, how in derived.items()
        },
    )
    for canonical in inverted:
        plan.values[canonical] = {k: "false" if v else "true" for k, v in BOOLS.items()}
    return plan


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


class Fit(NamedTuple):
    """Another table a file fits better: its name, the columns the file fills there, the
    columns it fills in the table asked for, and that table's required columns it lacks."""

    table: str
    columns: list[str]
    own: list[str]
    lacks: tuple[str, ...] = ()


def _clearly_better(theirs: int, own: int) -> bool:
    # A table the file lacks a required column of must still win by a margin: at least two
    # columns more and twice as many (an invoices file without amount fills 6 invoices
    # columns against customers' 1); a near tie keeps the table asked for.
    return theirs >= own + 2 and theirs >= 2 * own


def _best_other(head: pl.DataFrame, table: str, own: list[str], opts: Preset | None) -> Fit | None:
    """The other table the headers fill most columns of, when that beats `own`'s count.

    A table whose required columns are all present wins with strictly more columns. One
    that lacks some still wins when its key columns are present and it fits clearly better
    (`_clearly_better`): without that, a file missing one column of its own table (an
    invoices file without amount) loaded silently into the one table whose requirements it
    met (customers, by customer_id). Complete tables win ties against incomplete ones.
    """
    best: Fit | None = None
    for other in TABLE_COLUMNS:
        if other == table:
            continue
        plan = resolve(other, head, opts)
        columns = list(plan.columns)
        if plan.missing_required and not (
            all(k in plan.columns for k in INGEST_TABLES[other])
            and _clearly_better(len(columns), len(own))
        ):
            continue
        rank = (len(columns), not plan.missing_required)
        if rank > ((len(best.columns), not best.lacks) if best else (len(own), True)):
            best = Fit(other, columns, own, tuple(plan.missing_required))
    return best


def guess_table(frame: pl.DataFrame, table: str, opts: Preset | None) -> Fit | None:
    """The ingest table this file fits best, when it lacks what `table` requires."""
    head = frame.head(50)
    return _best_other(head, table, list(resolve(table, head, opts).columns), None)


def better_table(frame: pl.DataFrame, table: str, opts: Preset | None) -> Fit | None:
    """Another table this file fits better than `table`, even though `table`'s required
    columns are present (an invoices file has the customer_id a customers file needs).

    Score = how many of a table's canonical columns the headers fill. Another table wins
    when it has everything it requires and strictly more columns than `table` (ties keep
    the table asked for), or when it lacks a required column but fits clearly better
    (`_best_other`). A preset for any table (swedish) or a mapping file without a table is
    used for every table (it describes the headers); a tool preset only for its own.
    """
    head = frame.head(50)
    own = list(resolve(table, head, opts).columns)
    shared = opts if opts is not None and opts.table is None else None
    return _best_other(head, table, own, shared)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def lacks_note(fit: Fit) -> str:
    """'' or ' (it lacks amount for invoices)': what loading it as that table still needs."""
    return f" (it lacks {', '.join(fit.lacks)} for {fit.table})" if fit.lacks else ""


def wrong_table_message(name: str, table: str, fit: Fit) -> str:
    """One line: the file fits another table better; nothing is written."""
    other, theirs, own = fit.table, fit.columns, fit.own
    return (
        f"{name}: this looks like {_article(other)} {other} file, not {table}: its columns "
        f"fill {len(theirs)} columns of {other} ({', '.join(theirs)}) but only {len(own)} of {table} "
        f"({', '.join(own) or 'none'}); nothing was written; expected --table {other}"
        + lacks_note(fit)
    )


BOOLS = {normalise_value(k): v for k, v in BOOL_VALUES.items()}
