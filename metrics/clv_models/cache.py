"""The CLV fit as a background job, its result kept in model_cache."""

from __future__ import annotations

from typing import Any, Literal

from metrics.background import JobStatus, job_status, start_job
from metrics.clv_models import ClvModelError, ProgressFn
from metrics.clv_models.fit import ClvFit, fit_clv
from metrics.store import Store

CLV_KIND = "clv"


def clv_cache_key(method: str) -> str:
    return f"clv:{method}"


def start_clv_fit(
    store: Store, *, method: str = "map", wait: bool = False, force: bool = False
) -> JobStatus:
    """Start (or reuse) the cached CLV fit for `method`; see metrics.background.start_job."""
    if method not in ("map", "nuts"):
        raise ClvModelError(f"method must be 'map' or 'nuts', got {method!r}")

    fit_method: Literal["map", "nuts"] = "nuts" if method == "nuts" else "map"

    def job(progress: ProgressFn) -> dict[str, Any]:
        return fit_clv(store, method=fit_method, progress=progress).to_json()

    return start_job(store, clv_cache_key(method), CLV_KIND, job, wait=wait, force=force)


def cached_clv(store: Store, method: str = "map") -> tuple[ClvFit | None, JobStatus | None]:
    """The cached fit for `method` (None until one finished) and its job status."""
    status = job_status(store, clv_cache_key(method))
    fit = None
    if status is not None and status.usable and status.result is not None:
        fit = ClvFit.from_json(status.result)
    return fit, status
