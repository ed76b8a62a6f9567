"""Roles, permissions, the group → role map, the proxy/OIDC identity and the Host check (no app)."""

from __future__ import annotations

import pytest

from dashboard.auth import (
    AuthConfig,
    AuthRefused,
    host_problem,
    oidc_actor,
    proxy_actor,
    resolve_actor,
)
from metrics.auth import (
    PERMISSIONS,
    ROLES,
    Actor,
    PermissionDenied,
    acting_as,
    can,
    current_actor,
    load_role_map,
    parse_role_map,
    require,
    role_for_groups,
    save_role_map,
    split_groups,
)

# The issue's table, written out by hand (not derived from PERMISSIONS): what each role may do.
VIEWER = {"view", "download"}
ANALYST = VIEWER | {"ingest", "mapping", "undo", "followup"}
EXPERIMENTER = ANALYST | {"experiment.plan", "experiment.launch", "experiment.decide"}
ADMIN = EXPERIMENTER | {"targets", "settings", "roles", "audit"}
EXPECTED = {"viewer": VIEWER, "analyst": ANALYST, "experimenter": EXPERIMENTER, "admin": ADMIN}

ROLE_MAP = "cx-view=viewer, cx-analysts=analyst, cx-exp=experimenter, CX Admins=admin"
PROXY_ENV = {"CX_AUTH": "proxy", "CX_TRUSTED_PROXY": "127.0.0.1, 10.0.0.0/24"}


@pytest.fixture(autouse=True)
def _no_env_role_map(monkeypatch):
    monkeypatch.delenv("CX_ROLE_MAP", raising=False)


@pytest.mark.parametrize("role", ROLES)
def test_roles_permissions_match_the_issue_table(role):
    actor = Actor("p", role, "proxy")
    assert {p for p in PERMISSIONS if can(actor, p)} == EXPECTED[role]


def test_require_viewer_ingest_is_refused_naming_who_what_and_role():
    with pytest.raises(PermissionDenied) as exc:
        require(Actor("vera", "viewer", "proxy"), "ingest")
    assert str(exc.value) == (
        "vera (role viewer) may not load files into the store: that needs the role analyst "
        "or higher. Nothing was changed; ask an admin for the role"
    )


def test_require_without_actor_uses_acting_as_then_the_process_user():
    viewer = Actor("vera", "viewer", "oidc")
    with acting_as(viewer), pytest.raises(PermissionDenied):
        require(None, "targets")
    assert current_actor().source == "process" and current_actor().role == "admin"


def test_actor_unknown_role_is_refused():
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        Actor("a", "owner", "proxy")


def test_parse_role_map_reads_groups_with_spaces_and_names_every_bad_entry():
    assert parse_role_map(ROLE_MAP)["CX Admins"] == "admin"
    with pytest.raises(ValueError) as exc:
        parse_role_map("a=viewer, b, c=owner")
    assert str(exc.value) == (
        "CX_ROLE_MAP: entry 2 'b' is not GROUP=ROLE; entry 3 'c=owner': role must be one of "
        "viewer, analyst, experimenter, admin"
    )


def test_role_for_groups_takes_the_highest_and_none_when_unmapped():
    mapping = parse_role_map(ROLE_MAP)
    assert role_for_groups(["cx-view", "cx-exp", "other"], mapping) == "experimenter"
    assert role_for_groups(["other"], mapping) is None
    assert role_for_groups([], mapping) is None


def test_split_groups_header_and_claim_forms():
    assert split_groups("cx-view, CX Admins,,") == ["cx-view", "CX Admins"]
    assert split_groups(["a", " b "]) == ["a", "b"]
    assert split_groups(None) == []


def test_role_map_env_wins_over_the_stored_map_and_saving_needs_admin(store, monkeypatch):
    save_role_map(store, {"g": "analyst"}, actor=Actor("root", "admin", "cli"))
    assert load_role_map(store) == ({"g": "analyst"}, "store")
    monkeypatch.setenv("CX_ROLE_MAP", "g=viewer")
    assert load_role_map(store) == ({"g": "viewer"}, "CX_ROLE_MAP")
    with pytest.raises(PermissionDenied):
        save_role_map(store, {"g": "admin"}, actor=Actor("eve", "experimenter", "proxy"))
    monkeypatch.delenv("CX_ROLE_MAP")
    assert load_role_map(store) == ({"g": "analyst"}, "store")


def test_config_proxy_mode_without_trusted_proxy_is_refused():
    with pytest.raises(AuthRefused, match="CX_AUTH=proxy needs CX_TRUSTED_PROXY"):
        AuthConfig.from_env({"CX_AUTH": "proxy"})
    with pytest.raises(AuthRefused, match="'proxy.local' is not an IP address"):
        AuthConfig.from_env({"CX_AUTH": "proxy", "CX_TRUSTED_PROXY": "proxy.local"})
    with pytest.raises(AuthRefused, match="CX_AUTH='ldap' is not one of local, proxy, oidc"):
        AuthConfig.from_env({"CX_AUTH": "ldap"})
    assert AuthConfig.from_env({}).mode == "local"


def _proxy(headers, ip, env=None, monkeypatch=None):
    return proxy_actor(headers, ip, AuthConfig.from_env(env or PROXY_ENV), None)


def test_proxy_headers_give_user_and_highest_role(monkeypatch):
    monkeypatch.setenv("CX_ROLE_MAP", ROLE_MAP)
    actor = _proxy({"x-forwarded-user": "ann", "X-Forwarded-Groups": "cx-view,cx-analysts"}, None)
    assert actor == Actor("ann", "analyst", "proxy")
    # From the proxy's network (10.0.0.7 in 10.0.0.0/24) too.
    assert _proxy(
        {"X-Forwarded-User": "b", "X-Forwarded-Groups": "CX Admins"}, "10.0.0.7"
    ).role == ("admin")


def test_proxy_headers_from_an_untrusted_peer_are_refused(monkeypatch):
    monkeypatch.setenv("CX_ROLE_MAP", ROLE_MAP)
    with pytest.raises(AuthRefused, match="came from 192.168.1.9, which is not in CX_TRUSTED"):
        _proxy({"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "CX Admins"}, "192.168.1.9")
    # Loopback is trusted only when the setting names it.
    env = {"CX_AUTH": "proxy", "CX_TRUSTED_PROXY": "10.0.0.1"}
    with pytest.raises(AuthRefused, match="this machine \\(loopback\\)"):
        _proxy({"X-Forwarded-User": "m"}, None, env)


def test_proxy_missing_user_or_unmapped_groups_are_refused_unless_default_role(monkeypatch):
    monkeypatch.setenv("CX_ROLE_MAP", ROLE_MAP)
    with pytest.raises(AuthRefused, match="did not send the X-Forwarded-User header"):
        _proxy({"X-Forwarded-Groups": "cx-view"}, None)
    with pytest.raises(AuthRefused, match="none of their groups \\(sales\\) has a role"):
        _proxy({"X-Forwarded-User": "s", "X-Forwarded-Groups": "sales"}, None)
    env = {**PROXY_ENV, "CX_DEFAULT_ROLE": "viewer"}
    assert _proxy({"X-Forwarded-User": "s", "X-Forwarded-Groups": "sales"}, None, env).role == (
        "viewer"
    )


def test_proxy_header_names_are_configurable(monkeypatch):
    monkeypatch.setenv("CX_ROLE_MAP", ROLE_MAP)
    env = {**PROXY_ENV, "CX_PROXY_USER_HEADER": "X-Auth-Request-Email"}
    env["CX_PROXY_GROUPS_HEADER"] = "X-Auth-Request-Groups"
    headers = {"X-Auth-Request-Email": "a@x.se", "X-Auth-Request-Groups": "cx-exp"}
    assert _proxy(headers, None, env) == Actor("a@x.se", "experimenter", "proxy")
    with pytest.raises(AuthRefused):  # the default header is no longer read
        _proxy({"X-Forwarded-User": "a", "X-Forwarded-Groups": "cx-exp"}, None, env)


def test_oidc_claims_give_email_and_role_from_the_groups_claim(monkeypatch):
    monkeypatch.setenv("CX_ROLE_MAP", ROLE_MAP)
    config = AuthConfig.from_env({"CX_AUTH": "oidc", "CX_OIDC_GROUPS_CLAIM": "roles"})
    claims = {"is_logged_in": True, "email": "eva@x.se", "roles": ["cx-exp"], "groups": ["x"]}
    assert oidc_actor(claims, config, None) == Actor("eva@x.se", "experimenter", "oidc")
    with pytest.raises(AuthRefused, match="not signed in"):
        resolve_actor(config, headers={}, remote_ip=None, user={"is_logged_in": False}, store=None)


def test_local_mode_is_one_admin_for_this_machine_only():
    actor = resolve_actor(AuthConfig(), headers={}, remote_ip=None, user=None, store=None)
    assert (actor.role, actor.source) == ("admin", "local")
    # Proxy headers mean nothing in local mode, and another machine is refused.
    with pytest.raises(AuthRefused, match="serves only the machine it runs on; this request came"):
        resolve_actor(
            AuthConfig(),
            headers={"X-Forwarded-User": "x"},
            remote_ip="192.168.1.9",
            user=None,
            store=None,
        )


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("localhost:8501", True),
        ("127.0.0.1:8501", True),
        ("[::1]:8501", True),
        ("LOCALHOST:8501", True),
        ("localhost", True),
        (None, True),  # no browser omits Host; test clients do
        ("evil.example:8501", False),  # DNS rebinding: the attacker's name, our address
        ("localhost:9999", False),
        ("127.0.0.1.nip.io:8501", False),
    ],
)
def test_host_check_local_mode(host, ok):
    problem = host_problem(host, AuthConfig(), server_address="127.0.0.1", server_port=8501)
    assert (problem is None) is ok
    if not ok:
        assert problem.startswith(f"This console does not answer to the address {host!r}")


def test_host_check_allow_list_replaces_the_default():
    config = AuthConfig.from_env({"CX_ALLOWED_HOSTS": "cx.example.se, intra:8080"})
    kw = {"server_address": "0.0.0.0", "server_port": 8501}
    assert host_problem("cx.example.se", config, **kw) is None
    assert host_problem("CX.example.se:443", config, **kw) is None
    assert host_problem("intra:8080", config, **kw) is None
    assert host_problem("intra:8081", config, **kw) is not None
    assert host_problem("localhost:8501", config, **kw) is not None
