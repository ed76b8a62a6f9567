"""Slow fits in a background thread, with progress and results kept in `model_cache`.

Generic: any `fn(progress) -> dict` (JSON-serialisable) runs under a cache key; the row
records the data version it was started on, so a result is "current" only while the
store's data is unchanged. Pages call `start_job` from a button and `job_status` on
every rerun; nothing is fitted on a page load. Writes here do not bump the data version
(they are bookkeeping, not data), so progress updates never invalidate the app's caches.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metrics.store import Store

ProgressFn = Callable[[float, str], None]
JobFn = Callable[[ProgressFn], dict[str, Any]]

# Threads started by this process, by cache key. A "running" row without a live thread
# here was left by a process that ended mid-fit (DuckDB lets one process write the file).
_THREADS: dict[str, threading.Thread] = {}
_LOCK = threading.RLock()
# At most one progress write per this many seconds: each write holds the store file
# read-write for a moment, which other programs (a `cx ingest`) then wait for.
_PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class JobStatus:
    cache_key: str
    kind: str
    data_version: int
    status: str  # running | done | failed | interrupted
    progress: float
    message: str | None
    result: dict[str, Any] | None
    error: str | None
    updated_at: datetime | None
    current: bool  # fitted on the store's present data version

    @property
    def usable(self) -> bool:
        return self.status == "done" and self.result is not None


def job_status(store: Store, cache_key: str) -> JobStatus | None:
    """The job's row, or None when it never ran. `current` says whether the data changed since."""
    rows = (
        store.cursor()
        .execute(
            "SELECT kind, data_version, status, progress, result, error, updated_at "
            "FROM model_cache WHERE cache_key = ?",
            [cache_key],
        )
        .fetchall()
    )
    if not rows:
        return None
    kind, version, status, progress, result, error, updated = rows[0]
    payload = json.loads(result) if isinstance(result, str) else result
    message = None
    if status == "running":
        message = (payload or {}).get("_message")
        payload = None
        with _LOCK:
            thread = _THREADS.get(cache_key)
        if thread is None or not thread.is_alive():
            status = "interrupted"
    return JobStatus(
        cache_key=cache_key,
        kind=kind,
        data_version=int(version),
        status=status,
        progress=float(progress or 0.0),
        message=message,
        result=payload,
        error=error,
        updated_at=updated,
        current=int(version) == store.data_version(),
    )


def start_job(
    store: Store,
    cache_key: str,
    kind: str,
    fn: JobFn,
    *,
    wait: bool = False,
    force: bool = False,
) -> JobStatus:
    """Start `fn` in a background thread unless a current result or live run exists.

    Returns the status right after the decision: the existing job when it is running or
    done on the present data, else the new "running" row. wait=True runs in the calling
    thread instead (the CLI), still recording progress and the result in model_cache.
    force=True refits even over a current result (never over a live run).
    """
    with _LOCK:
        existing = job_status(store, cache_key)
        if (
            existing is not None
            and existing.current
            and (existing.status == "running" or (existing.status == "done" and not force))
        ):
            return existing
        version = store.data_version()
        _write(store, cache_key, kind, version, "running", 0.0, {"_message": "starting"}, None)
        if wait:
            thread = None
            _THREADS[cache_key] = threading.current_thread()  # live while it runs here
        else:
            thread = threading.Thread(
                target=_run,
                args=(store, cache_key, kind, version, fn),
                name=f"job:{cache_key}",
                daemon=True,
            )
            _THREADS[cache_key] = thread
    if thread is None:
        _run(store, cache_key, kind, version, fn)
    else:
        thread.start()
    status = job_status(store, cache_key)
    assert status is not None
    return status


def _run(store: Store, cache_key: str, kind: str, version: int, fn: JobFn) -> None:
    last = [0.0]

    def progress(frac: float, message: str) -> None:
        # The job has read its data by the time it reports progress: let go of the store
        # so a long fit never keeps other programs (or the app's own writes) waiting.
        store.release()
        now = time.monotonic()
        if now - last[0] < _PROGRESS_EVERY_S and frac < 1.0:
            return
        last[0] = now
        _write(
            store,
            cache_key,
            kind,
            version,
            "running",
            min(max(frac, 0.0), 1.0),
            {"_message": message},
            None,
        )

    try:
        result = fn(progress)
        _write(store, cache_key, kind, version, "done", 1.0, result, None)
    except Exception as exc:  # noqa: BLE001 - any failure must end as a readable row
        _write(store, cache_key, kind, version, "failed", 0.0, None, f"{type(exc).__name__}: {exc}")
    finally:
        store.release()
        with _LOCK:
            _THREADS.pop(cache_key, None)


def _write(
    store: Store,
    cache_key: str,
    kind: str,
    version: int,
    status: str,
    progress: float,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    with store.write(bump_version=False) as cur:
        cur.execute(
            "INSERT INTO model_cache (cache_key, kind, data_version, status, progress, result, "
            "error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp) "
            "ON CONFLICT (cache_key) DO UPDATE SET kind = excluded.kind, "
            "data_version = excluded.data_version, status = excluded.status, "
            "progress = excluded.progress, result = excluded.result, error = excluded.error, "
            "updated_at = excluded.updated_at",
            [
                cache_key,
                kind,
                version,
                status,
                progress,
                None if result is None else json.dumps(_finite(result), default=_json_default),
                error,
            ],
        )


def _finite(value: Any) -> Any:
    # JSON has no NaN or Infinity; an undefined figure is stored as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def wait_for(store: Store, cache_key: str, timeout_s: float = 60.0) -> JobStatus | None:
    """Block until the job is no longer running (tests, scripts); returns its last status."""
    deadline = time.monotonic() + timeout_s
    with _LOCK:
        thread = _THREADS.get(cache_key)
    if thread is not None:
        thread.join(max(0.0, deadline - time.monotonic()))
    return job_status(store, cache_key)
