"""The app's one place for data access: the shared store and caches keyed on its data version."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st

from metrics.engine import engine_cache_token
from metrics.store import Store, default_db_path, open_store, store_timeout

T = TypeVar("T")

# A page that needs fresh data while another program writes says so after this long (the
# router shows the sentence) instead of waiting for the whole write; cached pages render.
PAGE_READ_WAIT_S = float(os.environ.get("CX_PAGE_READ_WAIT", "5"))


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    # shared: the app holds the file only while it reads or writes, so `cx` commands (and
    # other app processes) can use it in between; create=False: a mistyped CX_DB must not
    # leave an empty store behind (`cx init` / `cx sample` create one).
    # Opening reads the store's meta: during another program's write it waits only the page
    # read wait (a failed open is not cached: the next run tries again); the app's own
    # writes then wait their turn for the full store timeout.
    store = open_store(path, shared=True, create=False, timeout=PAGE_READ_WAIT_S)
    store.timeout = store_timeout()
    return store


def get_store() -> Store:
    """The process-wide store for $CX_DB (or data/cx.duckdb), checked and migrated once."""
    return _store(str(default_db_path()))


@contextmanager
def page_reads() -> Iterator[None]:
    """Around one page run: its reads wait at most PAGE_READ_WAIT_S for a writer elsewhere."""
    with get_store().patience(PAGE_READ_WAIT_S):
        yield


def release_store() -> None:
    """Let go of the store at the end of a page run (other programs may then write)."""
    try:
        store = _store(str(default_db_path()))
    except Exception:  # noqa: BLE001 - no store, nothing held
        return
    store.release()


@st.cache_data(show_spinner=False, max_entries=512)
def _cached_call(
    _fn: Callable[..., Any],
    fn_key: str,
    store_path: str,
    version: tuple,
    args: tuple,
    kwargs_items: tuple,
) -> Any:
    return _fn(_store(store_path), *args, **dict(kwargs_items))


def cached(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call fn(store, *args, **kwargs), cached until the store's data changes.

    Arguments must be hashable by Streamlit (plain values, tuples, dataclasses of them).
    The key holds the store's path and its version token (data version and file identity,
    read from a side file without opening the store): a hit never touches the store, so
    pages keep serving while another program writes, and every cached query is recomputed
    after a write (or when CX_DB points elsewhere). With CX_ENGINE=spark the key also holds
    the engine's token: aggregates of the Spark tables are kept for one TTL bucket
    (CX_SPARK_CACHE_TTL, default 300 s), so a page never repeats Spark round trips it made.
    """
    store = get_store()
    key = f"{fn.__module__}.{fn.__qualname__}"
    return _cached_call(
        fn,
        key,
        str(store.path),
        (store.version_token(), engine_cache_token()),
        args,
        tuple(sorted(kwargs.items())),
    )
