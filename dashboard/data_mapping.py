"""The Data page's mapping editor: a file column or a constant for each canonical column.

Suggestions come from metrics/ingest/suggest.py (by name and by value shape); the result is
a mapping dict in the mapping-file structure, so the page previews and loads with it and
offers it as TOML for `cx ingest --mapping`. File-derived text (headers) is only ever a
widget option or plain text, never Markdown.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import metrics.ingest as ingest
from dashboard.i18n import column_label, t
from dashboard.safe_text import md_escape
from metrics.ingest import Preview
from metrics.ingest.head import file_head
from metrics.ingest.mapping import DROPPED_PII, load_mapping
from metrics.ingest.spec import VOCABULARIES, columns_of
from metrics.ingest.suggest import (
    build_mapping,
    ranked_sources,
    shapes_of,
    suggest_columns,
    suggest_constant,
)

NONE = "\x00none"  # sentinels: no file column holds it / a value for every row
CONSTANT = "\x00constant"
DATED = ("timestamp", "date")
DAYFIRST = {"detect": None, "dmy": True, "mdy": False}
BOOL_CONSTANTS = ("true", "false")


def preset_hint(headers: list[str], preset: str | None) -> None:
    """'Looks like a Zendesk export' with a button choosing that preset."""
    if preset is not None:
        return
    try:
        name = ingest.suggest_preset(headers)
    except Exception:  # a hint must never cost the page
        name = None
    if not name or name not in ingest.PRESETS:
        return
    left, right = st.columns([3, 1])
    label = ingest.PRESETS[name].label or name
    left.info(t("mapping_editor.looks_like", preset=label))
    right.button(
        t("mapping_editor.use_preset", preset=name),
        key="me_use_preset",
        on_click=lambda: st.session_state.update(data_preset=name),
    )


def _current(auto: Preview) -> dict[str, str]:
    """canonical column -> file header, as the automatic mapping has it."""
    canon = {c.name for c in columns_of(auto.table)}
    out = {}
    for source, target in auto.mapping:
        name = target.split(" (")[0]
        if name in canon:
            out.setdefault(name, source)
    return out


def _option_label(shapes: dict[str, str]):
    def label(option: str) -> str:
        if option == NONE:
            return t("mapping_editor.none")
        if option == CONSTANT:
            return t("mapping_editor.constant")
        return t("mapping_editor.option", header=option, shape=shapes[option])

    return label


def mapping_editor(data: bytes, file_name: str, options: dict, auto: Preview) -> dict | None:
    """The editor when the file does not map (or the analyst asks); the mapping dict, or None.

    Raises IngestError for a choice the mapping language refuses (a date format without %).
    """
    table = options["table"]
    forced = bool(auto.missing_required)
    st.subheader(t("mapping_editor.title"))
    if forced:
        st.caption(t("mapping_editor.forced"))
    elif not st.toggle(t("mapping_editor.edit"), key=f"me_open_{table}"):
        return None
    samples = file_head(
        data, file_name=file_name, table=table, preset=options["preset"], sheet=options["sheet"]
    )
    preset_hint(list(samples), options["preset"])
    # Names, addresses, personnummer, IPs are dropped whatever the mapping says they are:
    # offering them would let a choice store them in clear (e-mails and phones stay: hashed).
    samples = {h: v for h, v in samples.items() if (h, DROPPED_PII) not in auto.mapping}
    shapes = shapes_of(samples)
    current, suggested = _current(auto), suggest_columns(table, shapes)
    label = _option_label({h: t(f"mapping_editor.shape.{s.kind}") for h, s in shapes.items()})
    prefix = f"me_{table}_{file_name}"
    sources: dict[str, str] = {}
    constants: dict[str, str] = {}
    formats: dict[str, str] = {}
    for col in columns_of(table):
        # A column the preset makes ([constants], [combine]) has no file header to pick.
        first = current.get(col.name) if current.get(col.name) in samples else None
        first = first or (s.source if (s := suggested.get(col.name)) else None)
        constant = suggest_constant(table, col.name, file_name)
        choices = [NONE, *ranked_sources(table, col.name, shapes), CONSTANT]
        default = first or (CONSTANT if constant else NONE)
        name, pick, extra = st.columns([2, 3, 2], vertical_alignment="bottom")
        name.text(column_label(col.name) + (" *" if col.required else ""))
        chosen = pick.selectbox(
            col.name,
            choices,
            index=choices.index(default),
            key=f"{prefix}_{col.name}",
            format_func=label,
            label_visibility="collapsed",
        )
        if chosen == CONSTANT:
            vocab = VOCABULARIES.get(col.kind) or (BOOL_CONSTANTS if col.kind == "bool" else None)
            key = f"{prefix}_{col.name}_constant"
            if vocab:
                constants[col.name] = extra.selectbox(
                    t("mapping_editor.value"),
                    vocab,
                    index=vocab.index(constant) if constant in vocab else 0,
                    key=key,
                )
            else:
                constants[col.name] = extra.text_input(t("mapping_editor.value"), key=key)
        elif chosen != NONE:
            sources[col.name] = chosen
            if col.kind in DATED:
                fmt = extra.text_input(
                    t("mapping_editor.format"),
                    key=f"{prefix}_{col.name}_format",
                    placeholder=t("mapping_editor.format_auto"),
                )
                if fmt.strip():
                    formats[col.name] = fmt.strip()
    # The mapping language has no "not this column": a header whose name matches a column
    # the analyst left out still fills it, so say so rather than let the preview surprise.
    kept = [
        c for c, h in current.items() if h in samples and c not in sources and c not in constants
    ]
    if kept:
        st.caption(t("mapping_editor.still_matched", columns=", ".join(kept)))
    order = st.radio(
        t("mapping_editor.dayfirst"),
        list(DAYFIRST),
        key=f"{prefix}_dayfirst",
        horizontal=True,
        format_func=lambda k: t(f"mapping_editor.dayfirst_{k}"),
    )
    return build_mapping(
        table,
        sources,
        constants,
        formats=formats,
        dayfirst=DAYFIRST[order],
        description=t("mapping_editor.description", file=file_name),
    )


def download_mapping(mapping: dict, table: str, file_name: str) -> None:
    """The mapping as a TOML file for `cx ingest --mapping` (Preset.to_toml)."""
    text = load_mapping(mapping, table).to_toml()
    st.download_button(
        t("mapping_editor.download"),
        text,
        file_name=f"{Path(file_name).stem}_mapping.toml",
        mime="application/toml",
        key="me_download",
        icon=":material/download:",
    )
    st.caption(t("mapping_editor.download_help", table=table, file=md_escape(file_name)))
