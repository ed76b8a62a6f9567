"""Data page: upload an export, preview its format and mapping, ingest it, review history.

Text that comes from a file (its name, headers, values quoted in reasons, error messages) is
shown with st.code, never as Markdown: a header like ![x](http://evil/img) stays text.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from dashboard.downloads import download_buttons
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
    summary = (
        f"Loaded into **{report.table}**: read {report.rows_read:,} rows: "
        f"{report.inserted:,} inserted, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, "
        + (f"{report.skipped_older:,} skipped as older, " if report.skipped_older else "")
        + f"{report.rejected:,} rejected."
    )
    lines = [f"{report.file_name} -> {report.table} (batch {report.batch_id})"]
    lines += [f"- {col} changed in {n:,} row(s)" for col, n in report.changes.items()]
    lines += [f"- personal data column '{c}' {what}" for c, what in report.pii.items()]
    lines += [f"- note: {w}" for w in report.warnings]
    lines += [f"- row {r['row_number']}: {r['reason']}" for r in report.reasons[:5]]
    if report.rejected > 5:
        lines += [f"- {n:,} × {reason}" for reason, n in list(report.reason_counts.items())[:5]]
        stored = report.rejected_stored
        lines.append(
            f"- … see the rejected rows below for all {report.rejected:,}"
            if stored >= report.rejected
            else f"- … the first {stored:,} rejected rows are kept below; all are counted above"
        )
    return ("warning" if report.rejected else "success"), summary, "\n".join(lines)


def show_problem(headline: str, message: str) -> None:
    """A fixed headline as the alert, the message (it quotes the file) as plain text."""
    st.error(headline)
    st.code(message, language=None, wrap_lines=True)


st.title("Data")
st.caption(
    "Load what your helpdesk, contact-center or survey tool exports. A whole-file "
    "problem writes nothing; otherwise good rows load (updated by key on re-upload) and "
    "bad rows are kept with their reason."
)

with st.expander("Example export files"):
    st.caption("Small files shaped like real exports; download one and upload it below.")
    for path in sorted(p for p in EXPORTS.glob("*") if p.suffix.lstrip(".") in TYPES):
        st.download_button(
            path.name,
            path.read_bytes(),
            file_name=path.name,
            key=f"example_{path.name}",
            icon=":material/download:",
        )

upload = st.file_uploader("Export file", type=TYPES)
left, mid, right = st.columns(3)
preset = mid.selectbox(
    "Preset",
    (AUTO, *PRESETS),
    key="data_preset",
    format_func=lambda p: p if p == AUTO else f"{p}: {PRESETS[p].description}",
    help="Without a preset, headers are matched to canonical names and known aliases.",
)
preset = None if preset == AUTO else preset
tables = tuple(INGEST_TABLES)
default = PRESETS[preset].table if preset and PRESETS[preset].table else "contacts"
table = left.selectbox("Table", tables, index=tables.index(default), key=f"data_table_{preset}")
sheet = right.text_input("Sheet (XLSX only)", placeholder="first sheet")
options = dict(table=table, preset=preset, sheet=sheet or None)


def show_upload(upload) -> None:
    """Preview, ingest button and report of one upload; a refused file shows one error."""
    data = upload.getvalue()
    try:
        preview = preview_file(data, file_name=upload.name, **options)
    except IngestError as exc:
        show_problem("The file cannot be loaded. Nothing was written.", str(exc))
        return
    except Exception as exc:  # a reader bug must still read as a sentence, not a traceback
        show_problem(
            "The file could not be previewed. Nothing was written.",
            f"{upload.name}: {type(exc).__name__}: {exc}",
        )
        return
    st.subheader("Preview")
    sep = {None: "none", "\t": "tab"}.get(preview.delimiter, f"'{preview.delimiter}'")
    st.markdown(
        f"**{preview.format.upper()}** · {preview.rows_read:,} rows · encoding "
        f"`{preview.encoding or 'n/a'}` · delimiter {sep} · decimal '{preview.decimal}' · "
        f"{preview.header_rows} header row(s) · times without offset read as {preview.timezone}"
    )
    for note in preview.warnings:
        st.warning(md_escape(note))  # notes quote file names and headers
    st.dataframe(
        pl.DataFrame(preview.mapping, schema=["file column", "goes to"], orient="row"),
        hide_index=True,
        key="data_mapping",
    )
    if preview.missing_required:
        st.error(
            f"Missing required column(s) for {table}: "
            f"{', '.join(preview.missing_required)}. Nothing can be loaded."
        )
    st.dataframe(preview.rows, hide_index=True, key="data_rows")
    if st.button("Ingest", type="primary", disabled=bool(preview.missing_required)):
        try:
            report = ingest_file(get_store(), data, file_name=upload.name, **options)
        except Exception as exc:  # IngestError, or a store problem: the transaction rolled back
            result = ("error", "The file was not loaded. Nothing was written.", str(exc))
        else:
            result = report_message(report)
        # Kept per file so the report survives reruns but not the next upload.
        st.session_state["ingest_result"] = (upload.file_id, *result)
    last = st.session_state.get("ingest_result")
    if last and last[0] == upload.file_id:
        getattr(st, last[1])(last[2])
        st.code(last[3], language=None, wrap_lines=True)


st.text(
    "Personal data: e-mail addresses and phone numbers are stored as HMAC-SHA256 with the "
    f"key in {key_location()} (kept outside the store; see cx settings show); names, "
    "addresses, personnummer and IP addresses are dropped."
)


if upload is not None:
    # A refused file ends this section only: the history below stays on the page.
    show_upload(upload)

st.subheader("Ingest history")
history = cached(ingest_history)
if history.is_empty():
    st.info("Nothing loaded yet.")
    st.stop()
undone = st.session_state.pop("undo_result", None)
if undone:
    getattr(st, undone[0])(undone[1])
st.dataframe(history, hide_index=True, key="data_history")
download_buttons(history, "ingest_history")

undoable = cached(undoable_batches)
if undoable:
    with st.expander("Undo a batch"):
        names = dict(zip(history["batch_id"], history["file_name"], strict=True))
        to_undo = st.selectbox(
            "Batch",
            undoable,
            key="data_undo_batch",
            format_func=lambda b: f"{b} ({names.get(b, '?')})",
        )
        sure = st.checkbox(
            "Remove the rows this batch inserted and restore the rows it updated",
            key="data_undo_confirm",
        )
        if st.button("Undo batch", disabled=not sure, key="data_undo"):
            try:
                done = undo_batch(get_store(), to_undo, by="app")
            except BatchError as exc:
                st.session_state["undo_result"] = ("error", str(exc))
            else:
                st.session_state["undo_result"] = ("success", done.to_text())
            del st.session_state["data_undo_confirm"]  # each undo asks again
            st.rerun()

with_rejects = history.filter(pl.col("rejected") > 0)["batch_id"].to_list()
if with_rejects:
    st.subheader("Rejected rows")
    batch = st.selectbox("Batch", with_rejects, key="data_batch")
    rejects = cached(rejected_rows, batch)
    st.dataframe(rejects, hide_index=True, key="data_rejects")
    download_buttons(rejects, f"rejected_{batch}")
