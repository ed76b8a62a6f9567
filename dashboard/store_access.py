"""The app's one place for data access: the shared store and caches keyed on its data version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from metrics.store import Store, default_db_path, open_store

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return open_store(path)


def get_store() -> Store:
    """The process-wide store for $CX_DB (or data/cx.duckdb), opened and migrated once."""
    return _store(str(default_db_path()))


@st.cache_data(show_spinner=False, max_entries=512)
def _cached_call(
    _fn: Callable[..., Any],
    fn_key: str,
    store_path: str,
    data_version: int,
    args: tuple,
    kwargs_items: tuple,
) -> Any:
    return _fn(_store(store_path), *args, **dict(kwargs_items))


def cached(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call fn(store, *args, **kwargs), cached until the store's data changes.

    Arguments must be hashable by Streamlit (plain values, tuples, dataclasses of them).
    The store's path and data version in the key are what invalidate every cached query
    after an ingest (or when CX_DB points elsewhere).
    """
    store = get_store()
    key = f"{fn.__module__}.{fn.__qualname__}"
    return _cached_call(
        fn, key, str(store.path), store.data_version(), args, tuple(sorted(kwargs.items()))
    )
