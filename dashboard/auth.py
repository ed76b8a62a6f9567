"""Who is using the app: local mode, a trusted proxy's headers, or Streamlit's OIDC sign-in; and the Host check.

Configuration (environment, read on every page run so a restart is not needed to tighten it):

- CX_AUTH: "local" (default: one user, everything allowed, for 127.0.0.1), "proxy" or "oidc".
- CX_TRUSTED_PROXY: proxy mode only, comma-separated addresses the proxy connects from;
  headers from any other address are refused. Streamlit reports a loopback peer as no
  address, so 127.0.0.1 and ::1 both match a loopback connection.
- CX_PROXY_USER_HEADER / CX_PROXY_GROUPS_HEADER: header names (default X-Forwarded-User,
  X-Forwarded-Groups, as oauth2-proxy sets them).
- CX_OIDC_PROVIDER: the [auth.NAME] section of .streamlit/secrets.toml to sign in with
  (default: the plain [auth] section); CX_OIDC_GROUPS_CLAIM: the claim holding groups
  (default "groups").
- CX_ROLE_MAP: "group=role,..." (else the map admins store on the Audit & roles page);
  CX_DEFAULT_ROLE: role of a signed-in person whose groups map to none (default: refused).
- CX_ALLOWED_HOSTS: comma-separated Host values (name or name:port) the app answers to.
  In local mode the default is localhost, 127.0.0.1 and [::1] on the served port.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

import duckdb
import streamlit as st

from dashboard.i18n import t
from dashboard.safe_text import md_escape
from metrics.auth import (
    ROLES,
    Actor,
    load_role_map,
    local_actor,
    register_actor_source,
    role_for_groups,
    split_groups,
)
from metrics.store import Store, StoreError, describe_store_error

MODES = ("local", "proxy", "oidc")
LOOPBACK = ("127.0.0.1", "::1")


class AuthRefused(Exception):
    """The request may not use the app; the message is shown as it is (no secrets in it)."""


@dataclass(frozen=True)
class AuthConfig:
    mode: str = "local"
    trusted_proxies: tuple[str, ...] = ()
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    oidc_provider: str | None = None
    groups_claim: str = "groups"
    default_role: str | None = None
    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthConfig:
        """Read the CX_* variables; AuthRefused naming the variable for a bad value (fail closed)."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip()

        def items(name: str) -> tuple[str, ...]:
            return tuple(p.strip() for p in get(name).split(",") if p.strip())

        mode = get("CX_AUTH").lower() or "local"
        if mode not in MODES:
            raise AuthRefused(f"CX_AUTH={mode!r} is not one of {', '.join(MODES)}")
        proxies = items("CX_TRUSTED_PROXY")
        for p in proxies:
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError:
                raise AuthRefused(
                    f"CX_TRUSTED_PROXY: {p!r} is not an IP address or network"
                ) from None
        if mode == "proxy" and not proxies:
            raise AuthRefused(
                "CX_AUTH=proxy needs CX_TRUSTED_PROXY, the address(es) of the proxy: without "
                "it anyone could send the user headers"
            )
        default_role = get("CX_DEFAULT_ROLE").lower() or None
        if default_role is not None and default_role not in ROLES:
            raise AuthRefused(f"CX_DEFAULT_ROLE={default_role!r} is not one of {', '.join(ROLES)}")
        return cls(
            mode=mode,
            trusted_proxies=proxies,
            user_header=get("CX_PROXY_USER_HEADER") or "X-Forwarded-User",
            groups_header=get("CX_PROXY_GROUPS_HEADER") or "X-Forwarded-Groups",
            oidc_provider=get("CX_OIDC_PROVIDER") or None,
            groups_claim=get("CX_OIDC_GROUPS_CLAIM") or "groups",
            default_role=default_role,
            allowed_hosts=tuple(h.lower() for h in items("CX_ALLOWED_HOSTS")),
        )


# -- Host check (DNS rebinding) ---------------------------------------------------------------
def _split_host(value: str) -> tuple[str, str | None]:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8501
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, port
    return value, None


def host_problem(
    host_header: str | None,
    config: AuthConfig,
    *,
    server_address: str | None,
    server_port: int | None,
) -> str | None:
    """Why a request's Host is refused, or None when it may be served.

    A DNS-rebinding page reaches a local app under the attacker's own name, so its Host is
    that name: only the names the app is served under are accepted. A request without a
    Host header (no browser sends one; tests do) is let through.
    """
    if host_header is None or not host_header.strip():
        return None
    host, port = _split_host(host_header)
    if config.allowed_hosts:
        for allowed in config.allowed_hosts:
            a_host, a_port = _split_host(allowed)
            if a_host == host and (a_port is None or a_port == port):
                return None
    elif config.mode == "local":
        names = {"localhost", "127.0.0.1", "::1"}
        if server_address and server_address not in ("0.0.0.0", "::"):
            names.add(server_address.lower().strip("[]"))
        if host in names and (port is None or server_port is None or port == str(server_port)):
            return None
    else:
        return None  # proxy / OIDC without an allow-list: the proxy or provider fronts it
    return (
        f"This console does not answer to the address {host_header.strip()!r}. Open it at the "
        "address it is served on (or add this name to CX_ALLOWED_HOSTS)."
    )


# -- who is asking ----------------------------------------------------------------------------
def _peer_allowed(ip: str | None, trusted: tuple[str, ...]) -> bool:
    peers = LOOPBACK if ip is None else (ip,)
    for peer in peers:
        try:
            addr = ipaddress.ip_address(peer)
        except ValueError:
            continue
        for cidr in trusted:
            net = ipaddress.ip_network(cidr, strict=False)
            if addr.version == net.version and addr in net:
                return True
    return False


def _role(groups: list[str], config: AuthConfig, store: Store | None, who: str) -> str:
    try:
        mapping, _source = load_role_map(store)
    except ValueError as exc:
        raise AuthRefused(f"The role map is invalid, so nobody gets a role: {exc}") from None
    role = role_for_groups(groups, mapping) or config.default_role
    if role is None:
        raise AuthRefused(
            f"{who} is signed in but none of their groups "
            f"({', '.join(groups) or 'none sent'}) has a role here. Ask an admin to map one "
            "of them (CX_ROLE_MAP or the Audit & roles page)."
        )
    return role


def proxy_actor(
    headers: Mapping[str, str],
    remote_ip: str | None,
    config: AuthConfig,
    store: Store | None,
) -> Actor:
    """The person the trusted proxy names; AuthRefused if the peer is not the proxy."""
    if not _peer_allowed(remote_ip, config.trusted_proxies):
        raise AuthRefused(
            f"This console only accepts requests through its sign-in proxy; this one came "
            f"from {remote_ip or 'this machine (loopback)'}, which is not in CX_TRUSTED_PROXY."
        )
    lower = {k.lower(): v for k, v in headers.items()}
    user = (lower.get(config.user_header.lower()) or "").strip()
    if not user:
        raise AuthRefused(
            f"The sign-in proxy did not send the {config.user_header} header: sign in again, "
            "or check the proxy's settings (it must pass the user to the app)."
        )
    groups = split_groups(lower.get(config.groups_header.lower()))
    return Actor(user, _role(groups, config, store, user), "proxy")


def oidc_actor(user: Mapping[str, object], config: AuthConfig, store: Store | None) -> Actor:
    """The signed-in person from st.user's claims (email, else name, else sub)."""
    name = str(user.get("email") or user.get("preferred_username") or user.get("name") or "")
    name = name or str(user.get("sub") or "")
    if not name:
        raise AuthRefused("The identity provider sent no email, name or subject for you.")
    groups = split_groups(user.get(config.groups_claim))
    return Actor(name, _role(groups, config, store, name), "oidc")


def resolve_actor(
    config: AuthConfig,
    *,
    headers: Mapping[str, str],
    remote_ip: str | None,
    user: Mapping[str, object] | None,
    store: Store | None,
) -> Actor:
    """The actor for this request in the configured mode (AuthRefused when there is none)."""
    if config.mode == "proxy":
        return proxy_actor(headers, remote_ip, config, store)
    if config.mode == "oidc":
        if not user or not user.get("is_logged_in"):
            raise AuthRefused("not signed in")
        return oidc_actor(user, config, store)
    if remote_ip is not None:
        # Local mode gives everyone admin: only this machine may have it, even if the app
        # was started with --server.address 0.0.0.0 by mistake.
        raise AuthRefused(
            f"This console runs without sign-in and serves only the machine it runs on; "
            f"this request came from {remote_ip}. To share it, set CX_AUTH=proxy or "
            "CX_AUTH=oidc (see the README, Sign-in and roles)."
        )
    return local_actor()


# -- the Streamlit side: read the request, sign in, show refusals -------------------------------
def request_headers() -> Mapping[str, str]:
    """Headers of the request that opened this session (empty under AppTest)."""
    try:
        return dict(st.context.headers)
    except Exception:  # noqa: BLE001 - no request context (bare script run)
        return {}


def request_ip() -> str | None:
    """The peer address; None for loopback (Streamlit hides 127.0.0.1 and ::1) or no request."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001
        return None
    # AppTest's stand-in client is not a string: no peer, as for a loopback connection.
    return ip if isinstance(ip, str) else None


def _user_claims() -> dict[str, object]:
    try:
        return dict(st.user.to_dict())
    except Exception:  # noqa: BLE001 - no [auth] section: nobody is signed in
        return {}


def _page_wait() -> float:
    from dashboard.store_access import PAGE_READ_WAIT_S

    return PAGE_READ_WAIT_S


def _role_store() -> Store | None:
    # The stored role map needs the store; a missing store must not lock everyone out
    # when CX_ROLE_MAP is set (and without either, nobody gets a role: fail closed).
    from dashboard.store_access import get_store

    try:
        return get_store()
    except Exception as exc:  # noqa: BLE001
        logging.getLogger("cx.auth").warning("role map: store unavailable: %s", exc)
        return None


def _sign_in_screen(config: AuthConfig) -> None:
    st.title("CX Console")
    st.write("Sign in with your organisation's account to continue.")
    if st.button("Sign in", type="primary"):
        try:
            if config.oidc_provider:
                st.login(config.oidc_provider)
            else:
                st.login()
        except Exception as exc:  # no [auth] secrets, no Authlib: say so, not a traceback
            logging.getLogger("cx.auth").error("st.login failed: %s", exc)
            refuse(
                f"Sign-in is not set up on this server ({type(exc).__name__}: {exc}). "
                "See the README, Sign-in and roles: .streamlit/secrets.toml [auth] and "
                "pip install -e '.[oidc]'."
            )
    st.stop()


SESSION_KEY = "_cx_actor"


def _session_actor() -> Actor | None:
    # Only inside a Streamlit script run (a widget callback runs before the router's gate).
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    try:
        actor = st.session_state.get(SESSION_KEY)
    except Exception:  # noqa: BLE001 - no session
        return None
    return actor if isinstance(actor, Actor) else None


register_actor_source(_session_actor)


def refuse(message: str) -> None:
    """Show why this request cannot use the app and end the run (no page runs).

    The message may quote a Host, a user or group name sent by the client: escaped, never
    rendered as Markdown.
    """
    st.session_state.pop(SESSION_KEY, None)  # a refused session keeps no earlier identity
    st.title("CX Console")
    st.error(md_escape(message))
    st.stop()


def gate() -> Actor:
    """The router's door: Host check, then who is asking and their role; refuses and stops otherwise."""
    try:
        config = AuthConfig.from_env()
    except AuthRefused as exc:
        logging.getLogger("cx.auth").error("auth configuration: %s", exc)
        refuse(f"Sign-in is misconfigured, so nobody is let in: {exc}")
    headers = request_headers()
    host = next((v for k, v in headers.items() if k.lower() == "host"), None)
    problem = host_problem(
        host,
        config,
        server_address=st.get_option("server.address"),
        server_port=st.get_option("server.port"),
    )
    if problem:
        logging.getLogger("cx.auth").warning("refused Host %r", host)
        refuse(problem)
    user = _user_claims() if config.mode == "oidc" else None
    if config.mode == "oidc" and not user.get("is_logged_in"):
        _sign_in_screen(config)
    store = _role_store() if config.mode != "local" else None
    try:
        # A stored role map is read with a page's patience for another program's write.
        with store.patience(_page_wait()) if store is not None else nullcontext():
            actor = resolve_actor(
                config, headers=headers, remote_ip=request_ip(), user=user, store=store
            )
    except AuthRefused as exc:
        logging.getLogger("cx.auth").warning("refused: %s", exc)
        actor = None
        reason = str(exc)
    except (StoreError, duckdb.Error) as exc:  # busy or broken store: fail closed, say why
        logging.getLogger("cx.auth").warning("role map unreadable: %s", exc)
        actor = None
        reason = f"Your role cannot be read now: {describe_store_error(exc)}"
    finally:
        if store is not None:
            store.release()  # the map was read before the router's try: let go of the file now
    if actor is None:
        refuse(reason)
    st.session_state[SESSION_KEY] = actor  # for widget callbacks of the next run
    return actor


def sidebar_identity(actor: Actor) -> None:
    """Who is signed in, as what; a sign-out button for OIDC."""
    words = t("app.signed_in", name=actor.name, role=actor.role, source=actor.source)
    st.sidebar.caption(md_escape(words))
    if actor.source == "oidc" and st.sidebar.button(t("app.sign_out"), key="cx_sign_out"):
        st.logout()
