"""Header and value mapping: canonical names, aliases, presets for real exports, TOML files."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, replace
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
    keys_of,
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
    The other fields are the mapping language's sections of the same names (README.md);
    presets are read from metrics/ingest/presets/<name>.toml by the same loader.
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
    # Rows sharing the table's key: ("first" | "latest", file column ordering them or None =
    # the column mapped to updated_at, else file order). None: later duplicates rejected.
    dedupe: tuple[str, str | None] | None = None
    aggregate: dict[str, str] = field(default_factory=dict)  # column -> sum|min|max|first|...
    ids: dict[str, str] = field(default_factory=dict)  # id column -> "row" (generated)
    multiply: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (a, b)
    label: str | None = None  # "Zendesk": the name in "looks like a Zendesk export"
    signature: tuple[str, ...] = ()  # headers that identify the export (suggest_preset)

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
            "label": self.label,
            "signature": list(self.signature) or None,
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
            "multiply": {c: list(v) for c, v in self.multiply.items()},
            "filter": {h: list(v) for h, v in self.filter.items()},
            "dedupe": {}
            if self.dedupe is None
            else {"keep": self.dedupe[0]}
            | ({"order_by": self.dedupe[1]} if self.dedupe[1] else {}),
            "aggregate": dict(self.aggregate),
            "ids": dict(self.ids),
            "questions": dict(self.questions),
            "pii": {"keep": list(self.keep)} if self.keep else {},
        }
        out.update({k: v for k, v in sections.items() if v})
        return out

    def to_toml(self) -> str:
        """This preset as a TOML mapping file (the Data page's mapping download)."""
        return mapping_to_toml(self.to_dict())


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


# Presets are mapping files: metrics/ingest/presets/<name>.toml, in the language below.
PRESET_DIR = Path(__file__).resolve().parent / "presets"


# -- mapping files --------------------------------------------------------------------------
MAPPING_KEYS = (
    "table",
    "description",
    "label",
    "signature",
    "timezone",
    "decimal",
    "ces_scale",
    "header_rows",
    "dayfirst",
    "columns",
    "values",
    "scale",
    "constants",
    "combine",
    "formats",
    "durations",
    "multiply",
    "filter",
    "dedupe",
    "aggregate",
    "ids",
    "questions",
    "pii",
)
DEDUPE_KEEP = ("first", "latest")
AGGREGATES = ("sum", "min", "max", "first", "last", "count")
# Which kinds of column each aggregate makes sense for (sum of a channel is nonsense).
_NUMBERS = ("seconds", "money", "count")
_ORDERED = (*_NUMBERS, "timestamp", "date", "nps", "csat", "ces")
AGGREGATE_KINDS: dict[str, tuple[str, ...] | None] = {
    "sum": _NUMBERS,
    "min": _ORDERED,
    "max": _ORDERED,
    "first": None,  # any kind
    "last": None,
    "count": ("count",),
}


def _kinds(table: str | None) -> dict[str, str]:
    """Canonical column -> kind; for a preset without a table (swedish), every table's."""
    tables = [table] if table is not None else list(TABLE_COLUMNS)
    return {c.name: c.kind for t in tables for c in columns_of(t)}


def _read_spec(mapping: Path | str | dict) -> tuple[str, dict]:
    if isinstance(mapping, dict):
        return "mapping", mapping
    path = Path(mapping)
    try:
        return path.name, tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read the mapping file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise IngestError(f"{path.name}: not a valid TOML mapping file ({exc})") from None


def load_mapping(mapping: Path | str | dict, table: str | None) -> Preset:
    """A TOML mapping file (or the same structure as a dict) as a Preset.

    Every key is described, with an example, in metrics/ingest/README.md and
    sample_data/exports/example_mapping.toml. `table` None checks the columns against every
    table (a preset for any table, such as swedish). Each problem is one line naming the
    key and what was expected.
    """
    name, spec = _read_spec(mapping)
    return _parse(name, spec, table)


def load_preset(path: Path) -> Preset:
    """A preset file from metrics/ingest/presets/: a mapping file named after the preset."""
    name, spec = _read_spec(path)
    table = spec.get("table")
    if table is not None and table not in TABLE_COLUMNS:
        raise IngestError(f"{name}: table {table!r}; expected one of {', '.join(TABLE_COLUMNS)}")
    return replace(_parse(name, spec, table), name=path.stem)


def _section(name: str, spec: dict, key: str, example: str) -> dict:
    body = spec.get(key, {})
    if not isinstance(body, dict):
        raise IngestError(f"{name}: [{key}] must be a table; expected [{key}] {example}")
    return body


def _parse(name: str, spec: dict, table: str | None) -> Preset:
    unknown = sorted(set(spec) - set(MAPPING_KEYS))
    if unknown:
        raise IngestError(
            f"{name}: unknown key(s) {', '.join(unknown)}; expected {', '.join(MAPPING_KEYS)}"
        )
    kinds = _kinds(table)
    where = table or "any table"
    aliases: dict[str, list[str]] = {}
    drop: list[str] = []
    hashed: list[str] = []
    columns = _section(name, spec, "columns", '"File header" = "contact_id"')
    one_to_many = [(h, str(t)) for h, ts in columns.items() if isinstance(ts, list) for t in ts]
    singles = [(h, t) for h, t in columns.items() if not isinstance(t, list)]
    for header, target in singles + one_to_many:
        target = str(target)
        if target == "drop":
            drop.append(header)
        elif target == "hash":
            hashed.append(header)
        elif target == EXTRAS:
            continue  # unmapped columns go to extras anyway
        elif target in kinds:
            aliases.setdefault(target, []).append(header)
        else:
            raise IngestError(
                f"{name}: column {header!r} maps to {target!r}, which is not a column of "
                f"{where}; expected one of {', '.join(sorted(kinds))}, extras, drop or hash"
            )
    values: dict[str, dict[str, str]] = {}
    for col, vmap in _section(name, spec, "values", '.channel "Växeln" = "phone"').items():
        if col not in kinds:
            raise IngestError(f"{name}: [values.{col}] is not a column of {where}")
        vocab = VOCABULARIES.get(kinds[col])
        for raw, value in vmap.items():
            if vocab is not None and value not in vocab:
                raise IngestError(
                    f"{name}: [values.{col}] maps {raw!r} to {value!r}; expected one of "
                    f"{', '.join(vocab)}"
                )
        values[col] = {str(k): str(v) for k, v in vmap.items()}
    scale = {str(k): float(v) for k, v in _section(name, spec, "scale", "wait_s = 60").items()}
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
    header_rows = spec.get("header_rows")
    if header_rows is not None and (
        not isinstance(header_rows, int)
        or isinstance(header_rows, bool)
        or not 0 <= header_rows <= 3
    ):
        raise IngestError(
            f"{name}: header_rows {header_rows!r}; expected 0 (no header row: columns are "
            "column_1, column_2, …), 1, 2 or 3"
        )
    formats = _formats(name, kinds, where, spec.get("formats", {}))
    constants, combine, durations, multiply = _derived(name, kinds, where, spec)
    filters = {}
    for header, vals in _section(name, spec, "filter", '"Status" = ["deleted"]').items():
        if not isinstance(vals, list) or not all(isinstance(v, str | int) for v in vals):
            raise IngestError(
                f'{name}: [filter] {header!r}; expected a list of values, e.g. "{header}" = '
                '["deleted", "spam"] ("" = an empty cell)'
            )
        filters[str(header)] = tuple(str(v) for v in vals)
    dedupe = _dedupe(name, spec)
    aggregate = _aggregate(name, kinds, where, table, spec)
    ids = _ids(name, kinds, where, spec)
    if ids and (aggregate or dedupe):
        raise IngestError(
            f"{name}: [ids] with [{'aggregate' if aggregate else 'dedupe'}]: a generated id is "
            "different for every row, so no rows share a key; expected one or the other"
        )
    if dedupe and aggregate:
        raise IngestError(
            f"{name}: [dedupe] and [aggregate] together; expected one: [dedupe] keeps one row "
            "of a key, [aggregate] folds them into one"
        )
    questions = {}
    for col, pattern in _section(name, spec, "questions", 'nps = "recommend"').items():
        if col not in kinds or not isinstance(pattern, str):
            raise IngestError(
                f"{name}: [questions] {col!r}; expected a column of {where} = a regular "
                'expression matched against the question text, e.g. nps = "recommend"'
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise IngestError(
                f"{name}: [questions] {col} = {pattern!r} is not a regular expression ({exc}); "
                'expected e.g. nps = "recommend|rekommendera"'
            ) from None
        questions[col] = pattern
    signature = spec.get("signature", [])
    if not isinstance(signature, list) or not all(isinstance(h, str) for h in signature):
        raise IngestError(
            f'{name}: signature {signature!r}; expected a list of headers, e.g. ["Via", "Group"]'
        )
    return Preset(
        name=name,
        description=str(spec.get("description", f"mapping file {name}")),
        table=spec.get("table"),
        aliases={k: tuple(v) for k, v in aliases.items()},
        values=values,
        scale=scale,
        questions=questions,
        drop=tuple(drop),
        hash=tuple(hashed),
        keep=keep,
        timezone=spec.get("timezone"),
        decimal=decimal,
        ces_scale=ces_scale,
        header_rows=header_rows,
        dayfirst=dayfirst,
        formats=formats,
        constants=constants,
        combine=combine,
        durations=durations,
        filter=filters,
        dedupe=dedupe,
        aggregate=aggregate,
        ids=ids,
        multiply=multiply,
        label=spec.get("label"),
        signature=tuple(signature),
    )


def _dedupe(name: str, spec: dict) -> tuple[str, str | None] | None:
    """`[dedupe] keep = "latest", order_by = "Updated at"`: one row per key, the others
    counted as superseded."""
    if "dedupe" not in spec:
        return None
    body = _section(name, spec, "dedupe", 'keep = "latest"')
    unknown = sorted(set(body) - {"keep", "order_by"})
    if unknown:
        raise IngestError(
            f"{name}: unknown key(s) in [dedupe]: {', '.join(unknown)}; expected keep and order_by"
        )
    keep = body.get("keep", "first")
    if keep not in DEDUPE_KEEP:
        raise IngestError(
            f'{name}: [dedupe] keep = {keep!r}; expected "first" or "latest" (the row with the '
            "largest order_by value)"
        )
    order_by = body.get("order_by")
    if order_by is not None and (not isinstance(order_by, str) or not order_by.strip()):
        raise IngestError(
            f'{name}: [dedupe] order_by = {order_by!r}; expected a file column, e.g. "Updated at"'
        )
    return str(keep), order_by


def _aggregate(
    name: str, kinds: dict[str, str], where: str, table: str | None, spec: dict
) -> dict[str, str]:
    """`[aggregate] amount = "sum"`: rows sharing a key fold into one."""
    keys = set(keys_of(table)) if table is not None else set()
    out = {}
    for col, how in _section(name, spec, "aggregate", 'amount = "sum"').items():
        if col not in kinds:
            raise IngestError(
                f"{name}: [aggregate] {col!r} is not a column of {where}; expected one of "
                f"{', '.join(kinds)}"
            )
        if col in keys:
            raise IngestError(
                f"{name}: [aggregate] {col} is the key of {table}: rows are grouped by it; "
                "expected a column that is not the key"
            )
        if how not in AGGREGATES:
            raise IngestError(
                f"{name}: [aggregate] {col} = {how!r}; expected one of {', '.join(AGGREGATES)}"
            )
        fits = AGGREGATE_KINDS[how]
        if fits is not None and kinds[col] not in fits:
            ok = ", ".join(c for c, k in kinds.items() if k in fits and c not in keys)
            raise IngestError(
                f"{name}: [aggregate] {col} = {how!r}: {col} is not a column {how} applies to; "
                f"expected {how} on one of {ok or 'no column of ' + where}, or first / last"
            )
        out[str(col)] = str(how)
    return out


def _ids(name: str, kinds: dict[str, str], where: str, spec: dict) -> dict[str, str]:
    """`[ids] invoice_id = "row"`: a stable id generated from the row's content."""
    out = {}
    for col, how in _section(name, spec, "ids", 'invoice_id = "row"').items():
        if kinds.get(col) != "id":
            ids = ", ".join(c for c, k in kinds.items() if k == "id")
            raise IngestError(
                f"{name}: [ids] {col!r} is not an id column of {where}; expected one of {ids}"
            )
        if how != "row":
            raise IngestError(
                f'{name}: [ids] {col} = {how!r}; expected {col} = "row" (an id generated from '
                "the row's content, the same on every load of the same file)"
            )
        out[str(col)] = "row"
    return out


def _derived(
    name: str, kinds: dict[str, str], where: str, spec: dict
) -> tuple[
    dict[str, str],
    dict[str, tuple[str, ...]],
    dict[str, tuple[str, str]],
    dict[str, tuple[str, str]],
]:
    """[constants], [combine], [durations] and [multiply]: columns made from other values."""

    def known(section: str, col: str, want: tuple[str, ...] | None = None) -> None:
        if col not in kinds:
            raise IngestError(
                f"{name}: [{section}] {col!r} is not a column of {where}; expected one of "
                f"{', '.join(kinds)}"
            )
        if want is not None and kinds[col] not in want:
            raise IngestError(
                f"{name}: [{section}] {col} is not a {' or '.join(want)} column; expected one "
                f"of {', '.join(c for c, k in kinds.items() if k in want)}"
            )

    constants = {}
    for col, value in _section(name, spec, "constants", 'channel = "phone"').items():
        known("constants", col)
        constants[col] = str(value).lower() if isinstance(value, bool) else str(value)
    combine = {}
    for col, parts in _section(name, spec, "combine", 'opened_at = ["Date", "Time"]').items():
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
    example = 'wait_s = { from = "Call Time", to = "Time Answered" }'
    for col, pair in _section(name, spec, "durations", example).items():
        known("durations", col, ("seconds",))
        if not isinstance(pair, dict) or set(pair) != {"from", "to"}:
            raise IngestError(
                f'{name}: [durations] {col}; expected {col} = {{ from = "Start column", '
                'to = "End column" }'
            )
        durations[col] = (str(pair["from"]), str(pair["to"]))
    multiply = {}
    example = 'amount = ["Quantity", "UnitPrice"]'
    for col, parts in _section(name, spec, "multiply", example).items():
        known("multiply", col, ("money", "seconds", "count"))
        if (
            not isinstance(parts, list)
            or len(parts) != 2
            or not all(isinstance(p, str) for p in parts)
        ):
            raise IngestError(
                f'{name}: [multiply] {col}; expected {col} = ["Quantity column", "Price column"]'
            )
        multiply[col] = (parts[0], parts[1])
    return constants, combine, durations, multiply


def _formats(name: str, kinds: dict[str, str], where: str, section: object) -> dict[str, str]:
    """`[formats] column = "%d/%m/%Y %H:%M"`: a strptime format for a date/time column."""
    if not isinstance(section, dict):
        raise IngestError(f'{name}: [formats] must be a table; expected issued_at = "%d/%m/%Y"')
    out = {}
    for col, fmt in section.items():
        if kinds.get(col) not in ("timestamp", "date"):
            dated = ", ".join(c for c, k in kinds.items() if k in ("timestamp", "date"))
            raise IngestError(
                f"{name}: [formats] {col!r} is not a date or time column of {where}; "
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


def _load_presets() -> dict[str, Preset]:
    return {p.stem: load_preset(p) for p in sorted(PRESET_DIR.glob("*.toml"))}


PRESETS: dict[str, Preset] = _load_presets()


def suggest_preset(headers: list[str] | tuple[str, ...]) -> str | None:
    """The preset whose signature headers this file has, or None (for the Data page and the
    missing-column message).

    A preset is suggested when the file has at least three of its signature headers (all of
    them when it lists fewer), compared as mapping compares headers; the most found wins,
    then the larger share of its signature.
    """
    have = {normalise_name(h) for h in headers}
    best: tuple[int, float, str] | None = None
    for name, preset in PRESETS.items():
        sig = {normalise_name(h) for h in preset.signature}
        if not sig:
            continue
        found = len(sig & have)
        if found < min(3, len(sig)):
            continue
        score = (found, found / len(sig), name)
        if best is None or score[:2] > best[:2]:
            best = score
    return best[2] if best else None


NO_HEADER = (
    " (the file has no header row: map its columns by these names in a mapping file's "
    '[columns], e.g. column_1 = "customer_id")'
)


def preset_hint(headers: list[str] | tuple[str, ...]) -> str:
    """ "; looks like a Zendesk export: try --preset zendesk" when a preset fits, else ""."""
    name = suggest_preset(headers)
    if name is None:
        return ""
    label = PRESETS[name].label or name
    return f"; looks like {_article(label.lower())} {label} export: try --preset {name}"


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

    own_keys = bool(mapping.dedupe or mapping.aggregate or mapping.ids)

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
        # How rows sharing a key are settled is one choice: a mapping that makes it replaces
        # the preset's whole ([ids] in the mapping over a preset's [dedupe]).
        dedupe=mapping.dedupe if own_keys else preset.dedupe,
        aggregate=dict(mapping.aggregate if own_keys else preset.aggregate),
        ids=dict(mapping.ids if own_keys else preset.ids),
        multiply={**preset.multiply, **mapping.multiply},
        label=preset.label,
        signature=preset.signature,
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
    # (canonical column, date order) -> its date formats, those the last chunk used most first:
    # later chunks try them in that order instead of sampling every format again.
    date_formats: dict[tuple[str, str | None], list[tuple[str, str]]] = field(default_factory=dict)
    date_notes: dict[str, str] = field(default_factory=dict)  # column -> warning or evidence
    inverted: list[str] = field(default_factory=list)  # bool columns read with yes/no swapped
    # canonical column -> how it is made when no single file column holds it: ("constant",
    # value), ("combine", date column, time column) or ("duration", from column, to column).
    # Its plan.columns source is the synthetic name derived_name(column).
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)
    filter: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> lowered values
    filter_missing: list[str] = field(default_factory=list)  # [filter] headers not in the file
    filtered: dict[str, int] = field(default_factory=dict)  # source -> rows left out so far
    # [dedupe] (keep, what orders a key's rows: a canonical column, ORDER_COLUMN for an
    # unmapped file column `order_source` parsed by the validator, or None for file order);
    # [aggregate] column -> function; [ids] columns generated on the stage (collapse.py).
    dedupe: tuple[str, str | None] | None = None
    order_source: str | None = None
    aggregate: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)

    @property
    def keys_on_stage(self) -> bool:
        """Rows sharing a key are settled on the stage ([dedupe], [aggregate], [ids]), not
        rejected as duplicates by the validator."""
        return bool(self.dedupe or self.aggregate or self.ids)


ORDER_COLUMN = "__order"  # the stage column of a [dedupe] order_by that maps to nothing
# With [dedupe], [filter] applies to the row each key keeps (a ticket whose latest state is
# "deleted" is left out whole, not just its last row): the validator marks the rows in this
# stage column (the filter's header) and the stage drops the kept rows so marked.
FILTER_COLUMN = "__filtered"
# With [dedupe], a rejected row whose key and order are known still takes part in choosing
# the row its key keeps: when it is the one kept, nothing of the key loads (an older row
# must not stand in for a newer one that failed). The stage carries such rows marked here;
# they are counted as rejected, never loaded.
REJECTED_COLUMN = "__rejected"
ID_PLACEHOLDER = "(generated on load)"  # an [ids] column before the stage fills it


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
        derived.update({c: ("product", *v) for c, v in opts.multiply.items()})
        derived.update({c: ("ids",) for c in opts.ids if c in {x.name for x in canon}})
        for target, how in derived.items():
            for src in how[1:] if how[0] not in ("constant", "ids") else ():
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

    for counted, agg in opts.aggregate.items() if opts else ():
        # a count needs no file column: each row counts one
        if agg == "count" and counted not in columns and counted in {c.name for c in canon}:
            derived[counted] = ("constant", "1")
            columns[counted] = derived_name(counted)
    dedupe, order_source = _dedupe_order(opts, columns, by_norm, sources)
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
        dedupe=dedupe,
        order_source=order_source,
        aggregate=dict(opts.aggregate) if opts else {},
        ids=[c for c in (opts.ids if opts else {}) if c in columns],
    )
    for canonical in inverted:
        plan.values[canonical] = {k: "false" if v else "true" for k, v in BOOLS.items()}
    return plan


def _dedupe_order(
    opts: Preset | None, columns: dict[str, str], by_norm: dict[str, str], sources: list[str]
) -> tuple[tuple[str, str | None] | None, str | None]:
    """[dedupe]'s (keep, ordering column) for this file, and the file column behind
    ORDER_COLUMN. order_by left out: the column mapped to updated_at, else file order."""
    if opts is None or opts.dedupe is None:
        return None, None
    keep, order_by = opts.dedupe
    if order_by is None:
        return (keep, "updated_at" if "updated_at" in columns else None), None
    src = by_norm.get(normalise_name(order_by))
    if src is None:
        raise IngestError(
            f"[dedupe] order_by {order_by!r}: the file has no such column; expected one of "
            f"{', '.join(repr(s) for s in sources)}"
        )
    canonical = next((c for c, s in columns.items() if s == src), None)
    return (keep, canonical or ORDER_COLUMN), None if canonical else src


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
