"""Audit & roles (admins): who changed what and when; which group gets which role."""

from __future__ import annotations

import streamlit as st

from dashboard.downloads import download_buttons
from dashboard.i18n import t
from dashboard.store_access import get_store
from metrics.audit import ACTIONS, entries
from metrics.auth import (
    ROLE_MAP_ENV,
    ROLES,
    current_actor,
    format_role_map,
    load_role_map,
    parse_role_map,
    require,
    save_role_map,
)

require(current_actor(), "audit")  # the router hides the page; a stale link is refused too
st.title(t("nav.audit"))
st.caption(
    "Every write to the store (ingest, undo, experiments, targets, settings, follow-ups, "
    "roles) with who made it, their role and where their identity came from. Times in UTC. "
    "The same list: `cx audit [--json]`."
)

left, mid, right, last = st.columns([2, 2, 3, 1])
action = left.selectbox("Action", ("all", *ACTIONS), key="audit_action")
actor = mid.text_input("Person", key="audit_actor").strip()
target = right.text_input(
    "Target or prefix", key="audit_target", help="e.g. experiment: or table:contacts"
).strip()
limit = last.number_input("Rows", 1, 10_000, 200, key="audit_limit")
# Not cached: follow-up marks do not bump the data version, and this list must be current.
rows = entries(
    get_store(),
    limit=int(limit),
    action=None if action == "all" else action,
    actor=actor or None,
    target=target or None,
)
if rows.is_empty():
    st.info("No entries" + (" match." if action != "all" or actor or target else " yet."))
else:
    st.dataframe(rows, hide_index=True, key="audit_rows")
    download_buttons(rows, "audit_log")

st.subheader("Roles")
st.caption(
    "Roles: viewer (dashboards, reports, downloads) < analyst (+ upload, mapping, undo, "
    "follow-ups) < experimenter (+ plan, launch, decide) < admin (+ targets, settings, roles). "
    "A person gets the highest role any of their groups maps to."
)
try:
    mapping, source = load_role_map(get_store())
except ValueError as exc:
    st.error(f"{ROLE_MAP_ENV} is invalid, so nobody signed in gets a role: {exc}")
    st.stop()
st.text(f"Group → role ({source}): {format_role_map(mapping) or 'none'}")
if source == ROLE_MAP_ENV:
    st.info(f"The map is set by {ROLE_MAP_ENV} in the app's environment; change it there.")
    st.stop()
with st.form("roles"):
    text = st.text_input(
        "Group → role map",
        value=format_role_map(mapping),
        help=f"GROUP=ROLE, comma-separated; roles: {', '.join(ROLES)}",
    )
    if st.form_submit_button("Save roles"):
        try:
            save_role_map(get_store(), parse_role_map(text, source="Group → role map"))
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.success("Saved; it applies from each person's next page load.")
