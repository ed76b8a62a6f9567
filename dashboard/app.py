"""CX Console: the Streamlit router. Pages live in dashboard/views/, one file each.

Not dashboard/pages/: Streamlit treats a pages/ folder beside the entry script as its legacy
multipage app, and a deep link would then run a page without this router."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import streamlit as st

from dashboard.store_access import page_reads, release_store
from metrics.store import StoreError, default_db_path, describe_store_error

PAGES_DIR = Path(__file__).parent / "views"

# (file, title, icon, section)
PAGES = (
    ("overview.py", "Overview", ":material/dashboard:", "Service"),
    ("explore.py", "Explore", ":material/query_stats:", "Service"),
    ("churn.py", "Churn & CLV", ":material/trending_down:", "Service"),
    ("experiment_list.py", "Experiments", ":material/science:", "Experiments"),
    ("plan.py", "Plan an experiment", ":material/edit_note:", "Experiments"),
    ("calculator.py", "Quick calculator", ":material/calculate:", "Experiments"),
    ("data.py", "Data", ":material/upload_file:", "Settings"),
    ("targets.py", "Targets", ":material/flag:", "Settings"),
    ("settings.py", "Settings", ":material/settings:", "Settings"),
)

st.set_page_config(page_title="CX Console", page_icon=":material/insights:", layout="wide")

sections: dict[str, list] = {}
for file, title, icon, section in PAGES:
    sections.setdefault(section, []).append(st.Page(str(PAGES_DIR / file), title=title, icon=icon))
page = st.navigation(sections)
try:
    with page_reads():
        page.run()
except (StoreError, duckdb.Error) as exc:  # missing, busy, corrupt, foreign or newer store
    logging.getLogger("cx.app").warning("page %s: store problem: %s", page.title, exc)
    st.error(f"The data store cannot be used: {describe_store_error(exc, default_db_path())}")
except Exception as exc:  # last line of defence: a person sees a sentence, the log the traceback
    logging.getLogger("cx.app").exception("page %s failed", page.title)
    st.error(
        f"This page could not be shown: {exc}. Nothing was changed. "
        "If it persists, check the Data page or run `cx` from the command line for details."
    )
finally:
    release_store()  # hold the store file only while a page runs
