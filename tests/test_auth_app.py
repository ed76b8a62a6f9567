"""The app behind a trusted proxy (and OIDC via AppTest's user): pages by role, refusals, Host check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import streamlit as st
from data_page import ingest_on_page
from streamlit.testing.v1 import AppTest

import dashboard.auth as dashboard_auth
from dashboard.safe_text import md_escape
from experiments.registry import create_experiment, get_experiment, record_decision
from metrics.audit import entries
from metrics.auth import Actor, PermissionDenied, acting_as
from metrics.ingest import ingest_file

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
VIEWS = ROOT / "dashboard" / "views"
SWEDISH = ROOT / "sample_data" / "exports" / "swedish_contacts.csv"
ROLE_MAP = "cx-view=viewer,cx-analysts=analyst,cx-exp=experimenter,cx-admins=admin"
PAGES = ("overview", "explore", "churn", "experiment_list", "plan", "calculator", "data")
PAGES += ("targets", "audit")
ROUTED = {
    "viewer": {"overview", "explore", "churn", "experiment_list", "calculator"},
    "analyst": {"overview", "explore", "churn", "experiment_list", "calculator", "data"},
    "experimenter": {"overview", "explore", "churn", "experiment_list", "calculator", "data"}
    | {"plan"},
    "admin": set(PAGES),
}


class Proxy:
    """The headers a proxy would send; the test changes them between runs."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.ip: str | None = None  # loopback, as Streamlit reports it

    def sign_in(self, user: str, groups: str) -> None:
        self.headers = {"X-Forwarded-User": user, "X-Forwarded-Groups": groups}


@pytest.fixture
def proxy(monkeypatch, sample_store) -> Proxy:
    p = Proxy()
    monkeypatch.setenv("CX_DB", str(sample_store.path))
    monkeypatch.setenv("CX_AUTH", "proxy")
    monkeypatch.setenv("CX_TRUSTED_PROXY", "127.0.0.1")
    monkeypatch.setenv("CX_ROLE_MAP", ROLE_MAP)
    # AppTest cannot seed request headers or the peer address: the router reads them here.
    monkeypatch.setattr(dashboard_auth, "request_headers", lambda: p.headers)
    monkeypatch.setattr(dashboard_auth, "request_ip", lambda: p.ip)
    st.cache_data.clear()
    st.cache_resource.clear()
    return p


def _app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=120).run()


def _routed(at: AppTest) -> set[str]:
    out = set()
    for name in PAGES:
        try:
            at.switch_page(f"views/{name}.py")
        except ValueError:  # not registered with st.navigation for this role
            continue
        out.add(name)
    return out


@pytest.mark.parametrize(
    ("groups", "role"),
    [("cx-view", "viewer"), ("cx-analysts", "analyst"), ("cx-exp", "experimenter")]
    + [("cx-view,cx-admins", "admin")],
)
def test_router_lists_only_the_pages_a_role_may_use(proxy, groups, role):
    proxy.sign_in("pat", groups)
    at = _app()
    assert not at.exception and not at.error
    assert at.sidebar.caption[0].value == md_escape(f"Signed in as pat ({role}, proxy)")
    assert _routed(at) == ROUTED[role]


def test_proxy_request_not_from_the_trusted_proxy_is_refused(proxy):
    proxy.sign_in("mallory", "cx-admins")
    proxy.ip = "192.168.1.50"  # straight to the app's port, past the proxy
    at = _app()
    assert [t.value for t in at.title] == ["CX Console"]  # no page ran
    assert "which is not in CX\\_TRUSTED\\_PROXY" in at.error[0].value


def test_proxy_user_without_a_mapped_group_is_refused(proxy):
    proxy.sign_in("sam", "sales")
    at = _app()
    assert "none of their groups \\(sales\\) has a role here" in at.error[0].value


def test_viewer_sees_no_decide_form_and_the_decision_is_refused_server_side(
    proxy, sample_store, monkeypatch
):
    import dashboard.experiment_sections as sections

    proxy.sign_in("vera", "cx-view")
    at = _app()
    at.switch_page("views/experiment_list.py").run()
    at.selectbox[0].select("callback_vs_queue").run()
    assert not at.exception
    assert "Record decision" not in [b.label for b in at.button]
    assert "Decisions are recorded by experimenters and admins." in [c.value for c in at.caption]
    # Were the form shown by mistake, the click would still be refused by the write.
    monkeypatch.setattr(sections, "can", lambda actor, permission: True)
    at.run()
    next(t for t in at.text_input if t.label == "Decided by").input("vera")
    next(b for b in at.button if b.label == "Record decision").click().run()
    assert not at.exception
    assert "may not record experiment decisions" in at.error[0].value
    # The page's action path, as the router runs it for this viewer: refused, nothing stored.
    with acting_as(Actor("vera", "viewer", "proxy")), pytest.raises(PermissionDenied):
        record_decision(sample_store, "callback_vs_queue", "ship", "vera")
    assert get_experiment(sample_store, "callback_vs_queue").status == "running"
    assert entries(sample_store, action="experiment.decide").is_empty()


def test_start_button_is_disabled_for_a_viewer_and_the_write_refuses_them_anyway(
    proxy, sample_store, monkeypatch
):
    import dashboard.experiment_sections as sections

    create_experiment(sample_store, {"name": "IVR menu", "primary_metric": "aht"})
    proxy.sign_in("vera", "cx-view")
    at = _app()
    at.switch_page("views/experiment_list.py").run()
    at.selectbox[0].select("ivr_menu").run()
    assert next(b for b in at.button if b.label == "Start experiment").disabled
    # A page that forgot to hide its button (or a stale page from when vera had the role):
    # the click reaches the write, which refuses the viewer; the router says so.
    monkeypatch.setattr(sections, "can", lambda actor, permission: True)
    at.run()
    next(b for b in at.button if b.label == "Start experiment").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        md_escape(
            "vera (role viewer) may not create or edit experiment plans: that needs the role "
            "experimenter or higher. Nothing was changed; ask an admin for the role"
        )
    ]
    assert get_experiment(sample_store, "ivr_menu").status == "draft"
    # Only the create (by the test's process user) is in the log: nothing from vera.
    assert entries(sample_store, target="experiment:ivr_menu")["action"].to_list() == [
        "experiment.create"
    ]


def test_viewer_ingest_through_the_data_page_action_is_refused(proxy, sample_store):
    before = sample_store.cursor().execute("SELECT count(*) FROM contacts").fetchall()[0][0]
    with acting_as(Actor("vera", "viewer", "proxy")), pytest.raises(PermissionDenied):
        ingest_file(sample_store, SWEDISH, table="contacts", preset="swedish")
    after = sample_store.cursor().execute("SELECT count(*) FROM contacts").fetchall()[0][0]
    assert after == before
    assert entries(sample_store, action="ingest").is_empty()


def test_analyst_uploads_and_undoes_on_the_data_page_and_the_audit_names_them(proxy, sample_store):
    proxy.sign_in("ann", "cx-analysts")
    at = _app()
    at.switch_page("views/data.py").run()
    at.selectbox(key="data_preset").select("swedish").run()
    at.file_uploader[0].upload(SWEDISH.name, SWEDISH.read_bytes(), "text/csv").run()
    ingest_on_page(at)
    assert not at.exception and not at.error
    log = entries(sample_store, action="ingest").to_dicts()
    assert len(log) == 1
    assert (log[0]["actor"], log[0]["role"], log[0]["source"]) == ("ann", "analyst", "proxy")
    batch = (
        sample_store.cursor()
        .execute(
            "SELECT batch_id, inserted FROM ingest_batches WHERE file_name = ?", [SWEDISH.name]
        )
        .fetchall()[0]
    )
    assert log[0]["target"] == "table:contacts"
    assert f'"batch_id": "{batch[0]}"' in log[0]["details"]
    assert f'"inserted": {batch[1]}' in log[0]["details"]
    # ... and undoes it on the same page.
    at.selectbox(key="data_undo_batch").select(batch[0]).run()
    at.checkbox(key="data_undo_confirm").check().run()
    at.button(key="data_undo").click().run()
    assert not at.exception and not at.error
    undo = entries(sample_store, action="undo").to_dicts()
    assert [(u["actor"], u["role"], u["source"]) for u in undo] == [("ann", "analyst", "proxy")]
    assert f'"batch_id": "{batch[0]}"' in undo[0]["details"]
    assert sample_store.cursor().execute(
        "SELECT count(*) FROM contacts WHERE batch_id = ?", [batch[0]]
    ).fetchall() == [(0,)]


def test_admin_audit_page_lists_actions_with_their_actor(proxy, sample_store):
    with acting_as(Actor("eva", "experimenter", "oidc")):
        create_experiment(sample_store, {"name": "Chat greeting", "primary_metric": "csat"})
    proxy.sign_in("root", "cx-admins")
    at = _app()
    at.switch_page("views/audit.py").run()
    assert not at.exception and not at.error
    rows = at.dataframe[0].value
    first = rows.iloc[0]
    assert (first["actor"], first["action"], first["target"]) == (
        "eva",
        "experiment.create",
        "experiment:chat_greeting",
    )
    assert "CX_ROLE_MAP" in at.text[0].value  # the map in force and where it comes from


def test_host_check_refuses_a_foreign_host_in_local_mode(monkeypatch, sample_store):
    monkeypatch.setenv("CX_DB", str(sample_store.path))
    monkeypatch.delenv("CX_AUTH", raising=False)
    headers = {"Host": "rebind.attacker.example:8501"}
    monkeypatch.setattr(dashboard_auth, "request_headers", lambda: headers)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = _app()
    assert [t.value for t in at.title] == ["CX Console"]
    assert at.error[0].value.startswith("This console does not answer to the address")
    headers["Host"] = "localhost:8501"
    at.run()
    assert not at.error and at.title[0].value == "Overview"
    assert at.sidebar.caption[0].value.endswith(md_escape("(admin, local)"))


def test_oidc_mode_shows_sign_in_then_the_role_from_the_groups_claim(monkeypatch, sample_store):
    monkeypatch.setenv("CX_DB", str(sample_store.path))
    monkeypatch.setenv("CX_AUTH", "oidc")
    monkeypatch.setenv("CX_ROLE_MAP", ROLE_MAP)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in"]
    assert [t.value for t in at.title] == ["CX Console"]  # no page ran
    at.user = {"is_logged_in": True, "email": "eva@example.se", "groups": ["cx-exp"]}
    at.run()
    assert not at.exception and not at.error
    assert at.sidebar.caption[0].value == md_escape(
        "Signed in as eva@example.se (experimenter, oidc)"
    )
    assert _routed(at) == ROUTED["experimenter"]


def test_admin_saves_the_role_map_on_the_audit_page_and_it_is_audited(monkeypatch, sample_store):
    from metrics.auth import load_role_map

    monkeypatch.setenv("CX_DB", str(sample_store.path))
    monkeypatch.delenv("CX_AUTH", raising=False)
    monkeypatch.delenv("CX_ROLE_MAP", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = _app()
    at.switch_page("views/audit.py").run()
    next(t for t in at.text_input if t.label == "Group → role map").input(
        "cx-analysts=analyst, oops=owner"
    )
    next(b for b in at.button if b.label == "Save roles").click().run()
    assert "entry 2 'oops=owner': role must be one of" in at.error[0].value
    assert load_role_map(sample_store) == ({}, "none")
    next(t for t in at.text_input if t.label == "Group → role map").input(
        "cx-analysts=analyst, CX Admins=admin"
    )
    next(b for b in at.button if b.label == "Save roles").click().run()
    assert not at.error
    assert load_role_map(sample_store) == (
        {"cx-analysts": "analyst", "CX Admins": "admin"},
        "store",
    )
    (entry,) = entries(sample_store, action="roles.set").to_dicts()
    assert (entry["source"], entry["role"], entry["target"]) == (
        "local",
        "admin",
        "settings:auth.role_map",
    )


def test_oidc_sign_in_without_auth_secrets_is_a_sentence_not_a_traceback(monkeypatch, sample_store):
    monkeypatch.setenv("CX_DB", str(sample_store.path))
    monkeypatch.setenv("CX_AUTH", "oidc")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.user = {"is_logged_in": False}
    at.run()
    at.button[0].click().run()
    assert not at.exception
    assert at.error[0].value.startswith("Sign\\-in is not set up on this server")


def _callback_app() -> None:
    # A page that writes in a widget callback, which Streamlit runs before the router's
    # acting_as: the write must still see the session's signed-in person, not the process.
    import os

    import streamlit as st

    from dashboard.auth import SESSION_KEY
    from metrics.auth import Actor, PermissionDenied
    from metrics.store import open_store
    from metrics.targets import set_target

    st.session_state.setdefault(SESSION_KEY, Actor("vera", "viewer", "proxy"))

    def write() -> None:
        try:
            with open_store(os.environ["CX_DB"], shared=True) as store:
                set_target(store, "fcr", 0.5)
        except PermissionDenied as exc:
            st.session_state["refused"] = str(exc)

    st.button("Set", on_click=write)
    st.text(st.session_state.get("refused", ""))


def test_write_in_a_widget_callback_uses_the_sessions_person(monkeypatch, sample_store):
    from metrics.targets import load_targets

    monkeypatch.setenv("CX_DB", str(sample_store.path))
    sample_store.close()
    at = AppTest.from_function(_callback_app, default_timeout=60).run()
    at.button[0].click().run()
    assert not at.exception
    assert at.text[0].value.startswith("vera (role viewer) may not change KPI targets")
    from metrics.store import open_store

    with open_store(os.environ["CX_DB"]) as store:
        assert load_targets(store)["fcr"].value != 0.5


def test_refused_request_with_the_stored_role_map_leaves_the_store_free(proxy, monkeypatch):
    from metrics.auth import save_role_map
    from metrics.store import _shared_for, open_store

    monkeypatch.delenv("CX_ROLE_MAP")
    db = os.environ["CX_DB"]
    with open_store(db) as store:
        save_role_map(store, {"cx-admins": "admin"}, actor=Actor("root", "admin", "cli"))
    proxy.sign_in("sam", "sales")
    at = _app()
    assert "none of their groups \\(sales\\) has a role here" in at.error[0].value
    # The gate read the map from the store before any page: it must not keep holding it.
    # (the fixture's own store is pinned open; no thread of the app may hold it).
    assert [k for k in _shared_for(Path(db)).holders if k[0] == "thread"] == []
    proxy.sign_in("root", "cx-admins")
    at.run()
    assert not at.error and at.title[0].value == "Overview"


def test_busy_store_while_reading_the_role_map_is_a_refusal_not_a_traceback(proxy, monkeypatch):
    from metrics.store import StoreBusyError

    def busy(store):
        raise StoreBusyError("the store x stayed busy for 5 s; try again")

    monkeypatch.delenv("CX_ROLE_MAP")
    monkeypatch.setattr(dashboard_auth, "load_role_map", busy)
    proxy.sign_in("ann", "cx-analysts")
    at = _app()
    assert not at.exception
    assert [e.value for e in at.error] == [
        md_escape("Your role cannot be read now: the store x stayed busy for 5 s; try again")
    ]
