"""Who is acting and what their role allows: actors, roles, permissions and the group → role map."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from metrics.audit import record

if TYPE_CHECKING:
    from metrics.store import Store

# Ordered: each role may do everything the ones before it may.
ROLES: tuple[str, ...] = ("viewer", "analyst", "experimenter", "admin")

# permission -> (the least role that has it, what it lets a person do: for refusals)
PERMISSIONS: dict[str, tuple[str, str]] = {
    "view": ("viewer", "see dashboards and reports"),
    "download": ("viewer", "download tables"),
    "ingest": ("analyst", "load files into the store"),
    "mapping": ("analyst", "save column mappings"),
    "undo": ("analyst", "undo a loaded batch"),
    "followup": ("analyst", "mark detractor follow-ups"),
    "experiment.plan": ("experimenter", "create or edit experiment plans"),
    "experiment.launch": ("experimenter", "start experiments"),
    "experiment.decide": ("experimenter", "record experiment decisions and learnings"),
    "targets": ("admin", "change KPI targets"),
    "settings": ("admin", "change settings"),
    "roles": ("admin", "change who gets which role"),
    "audit": ("admin", "read the audit log"),
}

ROLE_MAP_ENV = "CX_ROLE_MAP"
ROLE_MAP_SETTING = "auth.role_map"


class PermissionDenied(PermissionError):
    """An actor tried something their role does not allow; the message says who, what, and which role would."""


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a name, a role from ROLES, and where the identity came from.

    source: "local" (the app without sign-in), "cli" (a `cx` command: the OS user),
    "proxy" (trusted-proxy headers), "oidc" (Streamlit's OpenID Connect sign-in),
    "process" (library code run outside the app and the CLI, e.g. a script or a test).
    """

    name: str
    role: str
    source: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")
        if not self.name.strip():
            raise ValueError("an actor needs a name")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers): still say something true
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def cli_actor() -> Actor:
    """A `cx` command: the operating-system user, with every right (they can write the file anyway)."""
    return Actor(_os_user(), "admin", "cli")


def local_actor() -> Actor:
    """The app in local mode (no sign-in, bound to 127.0.0.1): the one user, everything allowed."""
    return Actor(_os_user(), "admin", "local")


_CURRENT: ContextVar[Actor | None] = ContextVar("cx_actor", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Make `actor` the one write functions check and record, for this thread's block.

    The app's router wraps every page run in it, so a write a page forgets to attribute is
    still checked against the signed-in person's role, never run with more rights.
    """
    token = _CURRENT.set(actor)
    try:
        yield actor
    finally:
        _CURRENT.reset(token)


_SOURCES: list[Callable[[], Actor | None]] = []


def register_actor_source(source: Callable[[], Actor | None]) -> None:
    """Add a way to find the actor outside `acting_as` (the app: the session's signed-in person).

    Streamlit runs widget callbacks before the router's `acting_as`: without this, a write in
    a callback would fall back to the process's own user, with every right.
    """
    if source not in _SOURCES:
        _SOURCES.append(source)


def current_actor() -> Actor:
    """The actor set by `acting_as`, else a registered source's, else the process's own user
    (scripts, tests, `cx`)."""
    actor = _CURRENT.get()
    for source in _SOURCES if actor is None else ():
        actor = source()
        if actor is not None:
            break
    return actor if actor is not None else Actor(_os_user(), "admin", "process")


def role_rank(role: str) -> int:
    return ROLES.index(role)


def can(actor: Actor, permission: str) -> bool:
    """Whether the actor's role includes `permission` (a key of PERMISSIONS)."""
    least, _what = PERMISSIONS[permission]
    return role_rank(actor.role) >= role_rank(least)


def require(actor: Actor | None, permission: str) -> Actor:
    """The actor (current_actor() when None) if allowed; PermissionDenied otherwise.

    Called first by every write function, so a hidden button is not the only guard: a
    crafted request, a stale page or a page that forgot to hide its button is refused here.
    """
    who = actor if actor is not None else current_actor()
    if not can(who, permission):
        least, what = PERMISSIONS[permission]
        raise PermissionDenied(
            f"{who.name} (role {who.role}) may not {what}: that needs the role {least} or "
            "higher. Nothing was changed; ask an admin for the role"
        )
    return who


# -- group → role ----------------------------------------------------------------------------
def parse_role_map(text: str, *, source: str = ROLE_MAP_ENV) -> dict[str, str]:
    """'group=role, group2=role' → {group: role}; ValueError naming every bad entry.

    Groups are compared as written (case-sensitive), as identity providers send them.
    """
    mapping: dict[str, str] = {}
    problems = []
    for n, entry in enumerate(e.strip() for e in text.replace(";", ",").split(",")):
        if not entry:
            continue
        group, sep, role = entry.rpartition("=")
        group, role = group.strip(), role.strip().lower()
        if not sep or not group:
            problems.append(f"entry {n + 1} {entry!r} is not GROUP=ROLE")
        elif role not in ROLES:
            problems.append(f"entry {n + 1} {entry!r}: role must be one of {', '.join(ROLES)}")
        else:
            mapping[group] = role
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    return mapping


def format_role_map(mapping: Mapping[str, str]) -> str:
    return ", ".join(f"{g}={r}" for g, r in mapping.items())


def role_for_groups(groups: Iterable[str], mapping: Mapping[str, str]) -> str | None:
    """The highest role any of `groups` maps to, None when none is mapped."""
    roles = [mapping[g] for g in groups if g in mapping]
    return max(roles, key=role_rank) if roles else None


def split_groups(value: object) -> list[str]:
    """Groups from a header ('a,b', as oauth2-proxy sends them) or a claim (a list or a string).

    Only commas separate: group names may contain spaces ("CX Admins").
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, Iterable):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def load_role_map(store: Store | None) -> tuple[dict[str, str], str]:
    """The group → role map and where it came from: $CX_ROLE_MAP wins over the stored one.

    The environment wins so a deployment can pin roles in its configuration; the stored map
    (edited by admins on the Audit & roles page) applies when the variable is unset.
    """
    text = os.environ.get(ROLE_MAP_ENV, "").strip()
    if text:
        return parse_role_map(text), ROLE_MAP_ENV
    if store is None:
        return {}, "none"
    rows = (
        store.cursor()
        .execute("SELECT value FROM settings WHERE key = ?", [ROLE_MAP_SETTING])
        .fetchall()
    )
    if not rows:
        return {}, "none"
    raw = json.loads(rows[0][0]) if isinstance(rows[0][0], str) else rows[0][0]
    # A hand-edited bad map must fail closed (no roles), not grant anything by accident.
    if not isinstance(raw, dict) or any(r not in ROLES for r in raw.values()):
        return {}, "store (invalid, ignored)"
    return {str(g): str(r) for g, r in raw.items()}, "store"


def save_role_map(store: Store, mapping: Mapping[str, str], *, actor: Actor | None = None) -> None:
    """Store the group → role map (admins only); audited with the map before and after."""
    who = require(actor, "roles")
    bad = {g: r for g, r in mapping.items() if r not in ROLES or not str(g).strip()}
    if bad:
        raise ValueError(
            f"role map: {format_role_map(bad)}: each group needs a role among {', '.join(ROLES)}"
        )
    with store.write() as cur:
        rows = cur.execute(
            "SELECT value FROM settings WHERE key = ?", [ROLE_MAP_SETTING]
        ).fetchall()
        before = json.loads(rows[0][0]) if rows else {}
        cur.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [ROLE_MAP_SETTING, json.dumps(dict(mapping))],
        )
        record(
            cur,
            who,
            "roles.set",
            f"settings:{ROLE_MAP_SETTING}",
            {"before": before, "after": dict(mapping)},
        )
