"""The audit log: who changed what, when, written in the same transaction as the change."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

if TYPE_CHECKING:
    import duckdb

    from metrics.store import Store


class Who(Protocol):
    """What the log needs of an actor (metrics.auth.Actor; not imported: auth imports this)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def source(self) -> str: ...


# Actions written by the write paths (documented for `cx audit --action`).
ACTIONS: tuple[str, ...] = (
    "ingest",
    "undo",
    "experiment.create",
    "experiment.edit",
    "experiment.launch",
    "experiment.decide",
    "experiment.learnings",
    "target.set",
    "target.reset",
    "settings.set",
    "followup.mark",
    "roles.set",
)

COLUMNS: tuple[str, ...] = (
    "audit_id",
    "logged_at",
    "actor",
    "role",
    "source",
    "action",
    "target",
    "details",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def record(
    cur: duckdb.DuckDBPyConnection,
    actor: Who,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry with the cursor of the write's own transaction.

    Written inside the write, so an entry exists exactly when the change was committed:
    a rolled-back write leaves no entry, and no committed write lacks one.
    """
    cur.execute(
        "INSERT INTO audit_log (logged_at, actor, role, source, action, target, details) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            datetime.now(UTC).replace(tzinfo=None),
            actor.name,
            actor.role,
            actor.source,
            action,
            target,
            json.dumps(details or {}, default=_plain, ensure_ascii=False),
        ],
    )


def entries(
    store: Store,
    *,
    limit: int | None = 100,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
) -> pl.DataFrame:
    """The newest entries first (UTC times); filters match exactly, `target` also as a prefix.

    The target prefix answers "who changed this": `target="experiment:"` lists every
    experiment change, `target="experiment:callback-test"` that one experiment's.
    """
    where, params = [], []
    if action:
        where.append("action = ?")
        params.append(action)
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if target:
        where.append("(target = ? OR starts_with(target, ?))")
        params += [target, target]
    args: list[object] = list(params)
    sql = f"SELECT {', '.join(COLUMNS)} FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY audit_id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    frame = store.cursor().sql(sql, params=args or None).pl()
    return frame.with_columns(pl.col("details").cast(pl.Utf8))
