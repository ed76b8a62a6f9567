"""The Data page's sections: upload and preview (with the mapping editor), load with the
reject-share confirmation, batches and undo, rejected rows.

Text that comes from a file (its name, headers, values quoted in reasons, error messages) is
shown with st.code or in a table, never as Markdown: a header like ![x](http://evil/img)
stays text.
"""

from __future__ import annotations

import json

import polars as pl
import streamlit as st

from dashboard import numbers
from dashboard.data_mapping import download_mapping, mapping_editor
from dashboard.downloads import download_buttons
from dashboard.i18n import column_label, t
from dashboard.reasons import message_text, reason_text, reasons_in
from dashboard.safe_text import md_escape
from dashboard.store_access import cached, get_store
from metrics.ingest import (
    IngestError,
    IngestReport,
    Preview,
    ingest_file,
    ingest_history,
    preview_file,
    rejected_rows,
)
from metrics.ingest.batches import BatchError, undo_batch, undoable_batches
from metrics.ingest.errors import RejectShareExceeded, accepted_share

PREVIEWS_KEPT = 6  # previews kept per session: a widget change re-runs the page, not the read


def report_message(report: IngestReport) -> tuple[str, str, str]:
    """Alert kind, its Markdown (counts only: no file-derived text) and the plain-text details
    (file name, personal-data columns, notes, first reasons) for st.code."""
    summary = t(
        "data.report",
        table=report.table,
        read=numbers.count(report.rows_read),
        inserted=numbers.count(report.inserted),
        updated=numbers.count(report.updated),
        unchanged=numbers.count(report.unchanged),
        skipped=t("data.report_skipped", n=numbers.count(report.skipped_older))
        if report.skipped_older
        else "",
        rejected=numbers.count(report.rejected),
    )
    lines = [
        t("data.report_file", file=report.file_name, table=report.table, batch=report.batch_id)
    ]
    lines += [
        t("data.report_changed", column=col, n=numbers.count(n))
        for col, n in report.changes.items()
    ]
    if report.updated_without_time:
        lines.append(t("data.report_undated", n=numbers.count(report.updated_without_time)))
    lines += [t("data.report_pii", column=c, what=what) for c, what in report.pii.items()]
    lines += [t("data.report_note", note=reason_text(w)) for w in report.warnings]
    lines += [
        t("data.report_row", row=r["row_number"], reason=reason_text(r["reason"]))
        for r in report.reasons[:5]
    ]
    if report.rejected > 5:
        lines += [
            t("data.report_reason_count", n=numbers.count(n), reason=reason_text(reason))
            for reason, n in list(report.reason_counts.items())[:5]
        ]
        stored = report.rejected_stored
        lines.append(
            t("data.report_more", n=numbers.count(report.rejected))
            if stored >= report.rejected
            else t("data.report_kept", stored=numbers.count(stored))
        )
    return ("warning" if report.rejected else "success"), summary, "\n".join(lines)


def show_problem(headline: str, message: str) -> None:
    """A fixed headline as the alert, the message (it quotes the file) as plain text."""
    st.error(headline)
    st.code(message, language=None, wrap_lines=True)


def labels(df: pl.DataFrame) -> dict:
    return {c: st.column_config.Column(column_label(c)) for c in df.columns}


def _choices(upload, options: dict, mapping: dict | None) -> tuple[str, str]:
    """One upload with one set of choices: what a preview or a load result belongs to."""
    return upload.file_id, json.dumps([options, mapping], sort_keys=True, default=str)


def _preview(upload, options: dict, mapping: dict | None) -> Preview:
    """preview_file, remembered per upload and choices for this session."""
    key = _choices(upload, options, mapping)
    memo = st.session_state.setdefault("data_previews", {})
    if key not in memo:
        while len(memo) >= PREVIEWS_KEPT:
            memo.pop(next(iter(memo)))
        memo[key] = preview_file(
            upload.getvalue(), file_name=upload.name, **options, mapping=mapping
        )
    return memo[key]


def show_preview(preview: Preview) -> None:
    """Detected format, where each column goes, and the first rows typed and validated."""
    st.subheader(t("data.preview"))
    sep = {None: t("data.sep_none"), "\t": t("data.sep_tab")}.get(
        preview.delimiter, f"'{preview.delimiter}'"
    )
    st.markdown(
        t(
            "data.preview_line",
            format=preview.format.upper(),
            rows=numbers.count(preview.rows_read),
            encoding=preview.encoding or t("common.na"),
            sep=sep,
            decimal=preview.decimal,
            header_rows=preview.header_rows,
            timezone=preview.timezone,
        )
    )
    for note in preview.warnings:
        st.warning(md_escape(reason_text(note)))  # notes quote file names and headers
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
                table=preview.table,
                columns=", ".join(preview.missing_required),
            )
        )
    rows = preview.rows.with_columns(
        pl.Series("problem", reasons_in(preview.rows["problem"].to_list()), pl.String)
    )
    st.dataframe(rows, hide_index=True, key="data_rows")
    bad = preview.rows.filter(pl.col("problem").is_not_null()).height
    if bad:  # counts only (Markdown); each row's reason quotes the file: it is in the table
        st.markdown(
            ":orange[" + t("data.rows_with_problems", n=bad, shown=preview.rows.height) + "]"
        )


def _ingest(upload, options: dict, mapping: dict | None, share: float | None) -> tuple:
    """One load; the result to show (kept per file so it survives reruns)."""
    extra = {} if share is None else {"max_reject_share": share}
    try:
        report = ingest_file(
            get_store(),
            upload.getvalue(),
            file_name=upload.name,
            **options,
            mapping=mapping,
            **extra,
        )
    except RejectShareExceeded as exc:  # nothing written: the page asks before loading
        return ("confirm", exc)
    except Exception as exc:  # IngestError, or a store problem: the transaction rolled back
        return ("error", t("data.not_loaded"), message_text(str(exc)))
    return report_message(report)


def _confirm(upload, options: dict, mapping: dict | None, exc) -> None:
    """Too many rows rejected: the reasons grouped by cause, and 'Load anyway'."""
    st.error(
        t(
            "data.reject_share",
            rejected=numbers.count(exc.rejected),
            rows=numbers.count(exc.rows),
            share=numbers.share(exc.share),
            limit=numbers.share(exc.limit),
        )
    )
    groups = pl.DataFrame(
        [
            (g.column, reason_text(g.reason), g.count, ", ".join(map(str, g.examples)))
            for g in exc.groups
        ],
        schema=["column", "reason", "count", "examples"],
        orient="row",
    )
    st.dataframe(
        groups,
        hide_index=True,
        key="data_reject_groups",
        column_config={c: st.column_config.Column(t(f"data.group.{c}")) for c in groups.columns},
    )
    if st.button(t("data.load_anyway", n=numbers.count(exc.rejected)), key="data_load_anyway"):
        result = _ingest(upload, options, mapping, accepted_share(exc.share))
        st.session_state["ingest_result"] = (_choices(upload, options, mapping), *result)
        st.rerun()


def show_upload(upload, options: dict) -> None:
    """Preview (and the mapping editor), the load button, the load's report or confirmation."""
    try:
        auto = _preview(upload, options, None)
    except IngestError as exc:  # unreadable, empty, oversized, hostile: one line, no traceback
        show_problem(t("data.cannot_load"), message_text(str(exc)))
        return
    except Exception as exc:  # a reader bug must still read as a sentence, not a traceback
        show_problem(t("data.no_preview"), f"{upload.name}: {type(exc).__name__}: {exc}")
        return
    try:
        mapping = mapping_editor(upload.getvalue(), upload.name, options, auto)
        preview = auto if mapping is None else _preview(upload, options, mapping)
    except IngestError as exc:  # a choice the mapping language refuses (a format without %)
        show_problem(t("mapping_editor.bad_choice"), message_text(str(exc)))
        return
    except Exception as exc:  # as above: a sentence, and the history below stays
        show_problem(t("data.no_preview"), f"{upload.name}: {type(exc).__name__}: {exc}")
        return
    show_preview(preview)
    if mapping is not None:
        download_mapping(mapping, options["table"], upload.name)
    ready = not preview.missing_required
    if st.button(t("data.ingest"), type="primary", disabled=not ready, key="data_ingest"):
        result = _ingest(upload, options, mapping, None)
        st.session_state["ingest_result"] = (_choices(upload, options, mapping), *result)
    last = st.session_state.get("ingest_result")
    # Kept per file and choices: it survives reruns, not the next upload or a new mapping.
    if not last or last[0] != _choices(upload, options, mapping):
        return
    if last[1] == "confirm":
        _confirm(upload, options, mapping, last[2])
    else:
        getattr(st, last[1])(last[2])
        st.code(last[3], language=None, wrap_lines=True)


def show_history() -> None:
    """Ingest history with downloads, undo of a batch, and a batch's rejected rows."""
    st.subheader(t("data.history"))
    history = cached(ingest_history)
    if history.is_empty():
        st.info(t("data.nothing_loaded"))
        return
    undone = st.session_state.pop("undo_result", None)
    if undone and undone[0] == "error":  # the refusal quotes the file: shown as plain text
        show_problem(t("data.undo_refused"), undone[1])
    elif undone:
        st.success(undone[1])
    st.dataframe(history, hide_index=True, key="data_history", column_config=labels(history))
    download_buttons(history, "ingest_history")
    undoable = cached(undoable_batches)
    if undoable:
        with st.expander(t("data.undo")):
            _undo(history, undoable)
    with_rejects = history.filter(pl.col("rejected") > 0)["batch_id"].to_list()
    if with_rejects:
        st.subheader(t("data.rejected"))
        batch = st.selectbox(t("data.batch"), with_rejects, key="data_batch")
        rejects = cached(rejected_rows, batch)
        rejects = rejects.with_columns(
            pl.Series("reason", reasons_in(rejects["reason"].to_list()), pl.String)
        )
        st.dataframe(rejects, hide_index=True, key="data_rejects", column_config=labels(rejects))
        download_buttons(rejects, f"rejected_{batch}")


def _undo(history: pl.DataFrame, undoable: list[str]) -> None:
    names = dict(zip(history["batch_id"], history["file_name"], strict=True))
    to_undo = st.selectbox(
        t("data.batch"),
        undoable,
        key="data_undo_batch",
        format_func=lambda b: f"{b} ({names.get(b, '?')})",
    )
    sure = st.checkbox(t("data.undo_confirm"), key="data_undo_confirm")
    if st.button(t("data.undo_button"), disabled=not sure, key="data_undo"):
        try:
            done = undo_batch(get_store(), to_undo)  # by: the signed-in person
        except BatchError as exc:
            st.session_state["undo_result"] = ("error", message_text(str(exc)))
        else:
            # An alert renders Markdown: a file name like [x](http://…) must show as typed.
            st.session_state["undo_result"] = (
                "success",
                t(
                    "data.undone",
                    batch=md_escape(done.batch_id),
                    file=md_escape(done.file_name),
                    table=md_escape(done.table),
                    removed=numbers.count(done.removed),
                    restored=numbers.count(done.restored),
                ),
            )
        del st.session_state["data_undo_confirm"]  # each undo asks again
        st.rerun()
