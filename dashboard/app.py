"""CX Console: the Streamlit router. Pages live in dashboard/views/, one file each.

Not dashboard/pages/: Streamlit treats a pages/ folder beside the entry script as its legacy
multipage app, and a deep link would then run a page without this router."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import streamlit as st

from dashboard.auth import gate, sidebar_identity
from dashboard.i18n import language_switch, t
from dashboard.numbers import current_currency, use_currency
from dashboard.safe_text import md_escape
from dashboard.store_access import page_reads, release_store
from dashboard.url_state import keep_page_params
from metrics.auth import PermissionDenied, acting_as, can
from metrics.store import StoreError, default_db_path, describe_store_error

PAGES_DIR = Path(__file__).parent / "views"

# (file, title key, icon, section key, the permission a role needs to see it: metrics.auth);
# the words are in dashboard/locale/*.toml
PAGES = (
    ("overview.py", "nav.overview", ":material/dashboard:", "nav.service", "view"),
    ("explore.py", "nav.explore", ":material/query_stats:", "nav.service", "view"),
    ("churn.py", "nav.churn", ":material/trending_down:", "nav.service", "view"),
    (
        "experiment_list.py",
        "nav.experiments",
        ":material/science:",
        "nav.experiments_section",
        "view",
    ),
    ("plan.py", "nav.plan", ":material/edit_note:", "nav.experiments_section", "experiment.plan"),
    ("calculator.py", "nav.calculator", ":material/calculate:", "nav.experiments_section", "view"),
    ("data.py", "nav.data", ":material/upload_file:", "nav.settings", "ingest"),
    ("targets.py", "nav.targets", ":material/flag:", "nav.settings", "targets"),
    ("settings.py", "nav.settings_page", ":material/settings:", "nav.settings", "settings"),
    ("audit.py", "nav.audit", ":material/history:", "nav.settings", "audit"),
)

st.set_page_config(page_title="CX Console", page_icon=":material/insights:", layout="wide")

# Before any page: the Host check (DNS rebinding) and who is asking; refusals stop here.
actor = gate()
sidebar_identity(actor)
language_switch()  # before the navigation, whose titles are in the chosen language
sections: dict[str, list] = {}
stems: dict[str, str] = {}  # page title -> script name (dashboard/url_state.PAGE_PARAMS)
for file, title, icon, section, permission in PAGES:
    if not can(actor, permission):  # a page a role may not use is not routed at all
        continue
    # url_path from the file: a link stays valid whichever language it was copied in.
    label = t(title) if title.startswith("nav.") else title
    stems[label] = Path(file).stem
    sections.setdefault(t(section), []).append(
        st.Page(str(PAGES_DIR / file), title=label, icon=icon, url_path=Path(file).stem)
    )
page = st.navigation(sections)
# A link's Explore KPI does not follow a person to the Overview (named by its script: the
# default page's url_path is "").
keep_page_params(stems.get(page.title, page.url_path))
try:
    # every write below is checked against this actor and audited
    # The currency setting read once per run, not once per amount (~1 ms of cache lookup
    # each, ~0.1 s on the Overview).
    with acting_as(actor), page_reads(), use_currency(current_currency()):
        page.run()
except PermissionDenied as exc:  # a write the role may not make: refused before any change
    logging.getLogger("cx.app").warning("page %s: refused: %s", page.title, exc)
    st.error(md_escape(str(exc)))
except (StoreError, duckdb.Error) as exc:  # missing, busy, corrupt, foreign or newer store
    logging.getLogger("cx.app").warning("page %s: store problem: %s", page.title, exc)
    st.error(t("app.store_error", error=describe_store_error(exc, default_db_path())))
except Exception as exc:  # last line of defence: a person sees a sentence, the log the traceback
    logging.getLogger("cx.app").exception("page %s failed", page.title)
    st.error(t("app.page_failed", error=exc))
finally:
    release_store()  # hold the store file only while a page runs
