"""CX Console: the Streamlit router. Pages live in dashboard/views/, one file each.

Not dashboard/pages/: Streamlit treats a pages/ folder beside the entry script as its legacy
multipage app, and a deep link would then run a page without this router."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import streamlit as st

from dashboard.auth import gate, sidebar_identity
from dashboard.safe_text import md_escape
from dashboard.store_access import page_reads, release_store
from metrics.auth import PermissionDenied, acting_as, can
from metrics.store import StoreError, default_db_path, describe_store_error

PAGES_DIR = Path(__file__).parent / "views"

# (file, title, icon, section, the permission a role needs to see it: metrics.auth)
PAGES = (
    ("overview.py", "Overview", ":material/dashboard:", "Service", "view"),
    ("explore.py", "Explore", ":material/query_stats:", "Service", "view"),
    ("churn.py", "Churn & CLV", ":material/trending_down:", "Service", "view"),
    ("experiment_list.py", "Experiments", ":material/science:", "Experiments", "view"),
    ("plan.py", "Plan an experiment", ":material/edit_note:", "Experiments", "experiment.plan"),
    ("calculator.py", "Quick calculator", ":material/calculate:", "Experiments", "view"),
    ("data.py", "Data", ":material/upload_file:", "Settings", "ingest"),
    ("targets.py", "Targets", ":material/flag:", "Settings", "targets"),
    ("settings.py", "Settings", ":material/settings:", "Settings", "settings"),
    ("audit.py", "Audit & roles", ":material/history:", "Settings", "audit"),
)

st.set_page_config(page_title="CX Console", page_icon=":material/insights:", layout="wide")

# Before any page: the Host check (DNS rebinding) and who is asking; refusals stop here.
actor = gate()
sidebar_identity(actor)
sections: dict[str, list] = {}
for file, title, icon, section, permission in PAGES:
    if can(actor, permission):  # a page a role may not use is not routed at all
        page_obj = st.Page(str(PAGES_DIR / file), title=title, icon=icon)
        sections.setdefault(section, []).append(page_obj)
page = st.navigation(sections)
try:
    # every write below is checked against this actor and audited
    with acting_as(actor), page_reads():
        page.run()
except PermissionDenied as exc:  # a write the role may not make: refused before any change
    logging.getLogger("cx.app").warning("page %s: refused: %s", page.title, exc)
    st.error(md_escape(str(exc)))
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
