"""CX Console: the Streamlit router. Pages live in dashboard/views/, one file each.

Not dashboard/pages/: Streamlit treats a pages/ folder beside the entry script as its legacy
multipage app, and a deep link would then run a page without this router."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import streamlit as st

from dashboard.i18n import language_switch, t
from dashboard.store_access import page_reads, release_store
from metrics.store import StoreError, default_db_path, describe_store_error

PAGES_DIR = Path(__file__).parent / "views"

# (file, title key, icon, section key); the words are in dashboard/locale/*.toml
PAGES = (
    ("overview.py", "nav.overview", ":material/dashboard:", "nav.service"),
    ("explore.py", "nav.explore", ":material/query_stats:", "nav.service"),
    ("churn.py", "nav.churn", ":material/trending_down:", "nav.service"),
    ("experiment_list.py", "nav.experiments", ":material/science:", "nav.experiments_section"),
    ("plan.py", "nav.plan", ":material/edit_note:", "nav.experiments_section"),
    ("calculator.py", "nav.calculator", ":material/calculate:", "nav.experiments_section"),
    ("data.py", "nav.data", ":material/upload_file:", "nav.settings"),
    ("targets.py", "nav.targets", ":material/flag:", "nav.settings"),
    ("settings.py", "nav.settings_page", ":material/settings:", "nav.settings"),
)

st.set_page_config(page_title="CX Console", page_icon=":material/insights:", layout="wide")

language_switch()  # before the navigation, whose titles are in the chosen language
sections: dict[str, list] = {}
for file, title, icon, section in PAGES:
    # url_path from the file: a link stays valid whichever language it was copied in.
    sections.setdefault(t(section), []).append(
        st.Page(str(PAGES_DIR / file), title=t(title), icon=icon, url_path=Path(file).stem)
    )
page = st.navigation(sections)
try:
    with page_reads():
        page.run()
except (StoreError, duckdb.Error) as exc:  # missing, busy, corrupt, foreign or newer store
    logging.getLogger("cx.app").warning("page %s: store problem: %s", page.title, exc)
    st.error(t("app.store_error", error=describe_store_error(exc, default_db_path())))
except Exception as exc:  # last line of defence: a person sees a sentence, the log the traceback
    logging.getLogger("cx.app").exception("page %s failed", page.title)
    st.error(t("app.page_failed", error=exc))
finally:
    release_store()  # hold the store file only while a page runs
