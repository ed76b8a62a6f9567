"""Data page: upload an export, preview its format and mapping, ingest it, review history.

Text that comes from a file (its name, headers, values quoted in reasons, error messages) is
shown with st.code, never as Markdown: a header like ![x](http://evil/img) stays text.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from dashboard.downloads import download_buttons
from dashboard.i18n import column_label, t
from dashboard.safe_text import md_escape
from dashboard.store_access import cached, get_store
from metrics.ingest import (
    PRESETS,
    IngestError,
    IngestReport,
    ingest_file,
    ingest_history,
    preview_file,
    rejected_rows,
)
from metrics.ingest.batches import BatchError, undo_batch, undoable_batches
from metrics.ingest.pii import key_location
from metrics.schema import INGEST_TABLES

EXPORTS = Path(__file__).resolve().parents[2] / "sample_data" / "exports"
AUTO = "auto"
TYPES = ["csv", "tsv", "txt", "xlsx", "parquet"]


def report_message(report: IngestReport) -> tuple[str, str, str]:
    """Alert kind, its Markdown (counts only: no file-derived text) and the plain-text details
    (file name, personal-data columns, notes, first reasons) for st.code."""
    summary = t(
        "data.report",
        table=report.table,
        read=f"{report.rows_read:,}",
        inserted=f"{report.inserted:,}",
        updated=f"{report.updated:,}",
        unchanged=f"{report.unchanged:,}",
        skipped=t("data.report_skipped", n=f"{report.skipped_older:,}")
        if report.skipped_older
        else "",
        rejected=f"{report.rejected:,}",
    )
    lines = [
        t("data.report_file", file=report.file_name, table=report.table, batch=report.batch_id)
    ]
    lines += [t("data.report_changed", column=col, n=f"{n:,}") for col, n in report.changes.items()]
    if report.updated_without_time:
        lines.append(t("data.report_undated", n=f"{report.updated_without_time:,}"))
    lines += [t("data.report_pii", column=c, what=what) for c, what in report.pii.items()]
    lines += [t("data.report_note", note=w) for w in report.warnings]
    lines += [
        t("data.report_row", row=r["row_number"], reason=r["reason"]) for r in report.reasons[:5]
    ]
    if report.rejected > 5:
        lines += [
            t("data.report_reason_count", n=f"{n:,}", reason=reason)
            for reason, n in list(report.reason_counts.items())[:5]
        ]
        stored = report.rejected_stored
        lines.append(
            t("data.report_more", n=f"{report.rejected:,}")
            if stored >= report.rejected
            else t("data.report_kept", stored=f"{stored:,}")
        )
    return ("warning" if report.rejected else "success"), summary, "\n".join(lines)


def show_problem(headline: str, message: str) -> None:
    """A fixed headline as the alert, the message (it quotes the file) as plain text."""
    st.error(headline)
    st.code(message, language=None, wrap_lines=True)


def labels(df: pl.DataFrame) -> dict:
    return {c: st.column_config.Column(column_label(c)) for c in df.columns}


st.title(t("data.title"))
st.caption(t("data.caption"))

with st.expander(t("data.examples")):
    st.caption(t("data.examples_caption"))
    for path in sorted(p for p in EXPORTS.glob("*") if p.suffix.lstrip(".") in TYPES):
        st.download_button(
            path.name,
            path.read_bytes(),
            file_name=path.name,
            key=f"example_{path.name}",
            icon=":material/download:",
        )

upload = st.file_uploader(t("data.file"), type=TYPES)
left, mid, right = st.columns(3)
preset = mid.selectbox(
    t("data.preset"),
    (AUTO, *PRESETS),
    key="data_preset",
    format_func=lambda p: t("data.auto") if p == AUTO else f"{p}: {PRESETS[p].description}",
    help=t("data.preset_help"),
)
preset = None if preset == AUTO else preset
tables = tuple(INGEST_TABLES)
default = PRESETS[preset].table if preset and PRESETS[preset].table else "contacts"
table = left.selectbox(
    t("data.table"),
    tables,
    index=tables.index(default),
    key=f"data_table_{preset}",
    format_func=lambda x: t(f"data.tables.{x}"),
)
sheet = right.text_input(t("data.sheet"), placeholder=t("data.first_sheet"))
options = dict(table=table, preset=preset, sheet=sheet or None)


def show_upload(upload) -> None:
    """Preview, ingest button and report of one upload; a refused file shows one error."""
    data = upload.getvalue()
    try:
        preview = preview_file(data, file_name=upload.name, **options)
    except IngestError as exc:
        show_problem(t("data.cannot_load"), str(exc))
        return
    except Exception as exc:  # a reader bug must still read as a sentence, not a traceback
        show_problem(
            t("data.no_preview"),
            f"{upload.name}: {type(exc).__name__}: {exc}",
        )
        return
    st.subheader(t("data.preview"))
    sep = {None: t("data.sep_none"), "\t": t("data.sep_tab")}.get(
        preview.delimiter, f"'{preview.delimiter}'"
    )
    st.markdown(
        t(
            "data.preview_line",
            format=preview.format.upper(),
            rows=f"{preview.rows_read:,}",
            encoding=preview.encoding or t("common.na"),
            sep=sep,
            decimal=preview.decimal,
            header_rows=preview.header_rows,
            timezone=preview.timezone,
        )
    )
    for note in preview.warnings:
        st.warning(md_escape(note))  # notes quote file names and headers
    st.dataframe(
        pl.DataFrame(preview.mapping, schema=["file column", "goes to"], orient="row"),
        hide_index=True,
        key="data_mapping",
        column_config={
            "file column": st.column_config.Column(t("data.col.file_column")),
            "goes to": st.column_config.Column(t("data.col.goes_to")),
        },
    )
    if preview.missing_required:
        st.error(
            t(
                "data.missing_required",
                table=table,
                columns=", ".join(preview.missing_required),
            )
        )
    st.dataframe(preview.rows, hide_index=True, key="data_rows")
    if st.button(t("data.ingest"), type="primary", disabled=bool(preview.missing_required)):
        try:
            report = ingest_file(get_store(), data, file_name=upload.name, **options)
        except Exception as exc:  # IngestError, or a store problem: the transaction rolled back
            result = ("error", t("data.not_loaded"), str(exc))
        else:
            result = report_message(report)
        # Kept per file so the report survives reruns but not the next upload.
        st.session_state["ingest_result"] = (upload.file_id, *result)
    last = st.session_state.get("ingest_result")
    if last and last[0] == upload.file_id:
        getattr(st, last[1])(last[2])
        st.code(last[3], language=None, wrap_lines=True)


st.text(t("data.pii_note", key=key_location()))


if upload is not None:
    # A refused file ends this section only: the history below stays on the page.
    show_upload(upload)

st.subheader(t("data.history"))
history = cached(ingest_history)
if history.is_empty():
    st.info(t("data.nothing_loaded"))
    st.stop()
undone = st.session_state.pop("undo_result", None)
if undone:
    getattr(st, undone[0])(undone[1])
st.dataframe(history, hide_index=True, key="data_history", column_config=labels(history))
download_buttons(history, "ingest_history")

undoable = cached(undoable_batches)
if undoable:
    with st.expander(t("data.undo")):
        names = dict(zip(history["batch_id"], history["file_name"], strict=True))
        to_undo = st.selectbox(
            t("data.batch"),
            undoable,
            key="data_undo_batch",
            format_func=lambda b: f"{b} ({names.get(b, '?')})",
        )
        sure = st.checkbox(
            t("data.undo_confirm"),
            key="data_undo_confirm",
        )
        if st.button(t("data.undo_button"), disabled=not sure, key="data_undo"):
            try:
                done = undo_batch(get_store(), to_undo)  # by: the signed-in person
            except BatchError as exc:
                st.session_state["undo_result"] = ("error", str(exc))
            else:
                st.session_state["undo_result"] = ("success", done.to_text())
            del st.session_state["data_undo_confirm"]  # each undo asks again
            st.rerun()

with_rejects = history.filter(pl.col("rejected") > 0)["batch_id"].to_list()
if with_rejects:
    st.subheader(t("data.rejected"))
    batch = st.selectbox(t("data.batch"), with_rejects, key="data_batch")
    rejects = cached(rejected_rows, batch)
    st.dataframe(rejects, hide_index=True, key="data_rejects", column_config=labels(rejects))
    download_buttons(rejects, f"rejected_{batch}")
