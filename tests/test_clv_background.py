"""metrics.background: jobs run off the caller's thread, report progress, cache by data version."""

from __future__ import annotations

import threading

import pytest

from metrics import background
from metrics.background import job_status, start_job, wait_for


def test_start_job_runs_in_background_and_records_progress_then_result(store):
    gate = threading.Event()
    seen: list[float] = []

    def fn(progress):
        progress(0.5, "half way")
        gate.wait(10)
        return {"answer": 42, "undefined": float("nan")}

    version = store.data_version()
    status = start_job(store, "t:1", "test", fn)
    assert status.status == "running"
    # While blocked the row says running with the last progress message.
    for _ in range(2000):  # up to 20 s on a busy machine
        now = job_status(store, "t:1")
        seen.append(now.progress)
        if now.progress == 0.5:
            break
        threading.Event().wait(0.01)
    assert now.status == "running" and now.message == "half way"
    gate.set()
    done = wait_for(store, "t:1", timeout_s=10)
    assert done.status == "done" and done.progress == 1.0
    assert done.result == {"answer": 42, "undefined": None}  # NaN stored as null
    assert done.current and store.data_version() == version


def test_start_job_failure_is_recorded_with_message(store):
    def fn(progress):
        raise ValueError("invoices.amount: expected a number in row 7")

    start_job(store, "t:2", "test", fn)
    status = wait_for(store, "t:2", timeout_s=10)
    assert status.status == "failed"
    assert status.error == "ValueError: invoices.amount: expected a number in row 7"
    assert status.result is None


def test_start_job_reuses_current_result_and_refits_after_data_change(store):
    calls = []

    def fn(progress):
        calls.append(1)
        return {"n": len(calls)}

    start_job(store, "t:3", "test", fn, wait=True)
    assert start_job(store, "t:3", "test", fn, wait=True).result == {"n": 1}
    assert len(calls) == 1
    with store.write() as cur:  # any committed data write makes the result stale
        cur.execute("INSERT INTO targets (kpi, target) VALUES ('nps', 20)")
    assert not job_status(store, "t:3").current
    assert start_job(store, "t:3", "test", fn, wait=True).result == {"n": 2}
    assert start_job(store, "t:3", "test", fn, wait=True, force=True).result == {"n": 3}


def test_running_row_without_live_thread_reads_interrupted_and_can_restart(store):
    # A process that died mid-fit leaves "running" behind; this process has no thread for it.
    background._write(
        store, "t:4", "test", store.data_version(), "running", 0.3, {"_message": "sampling"}, None
    )
    assert job_status(store, "t:4").status == "interrupted"
    status = start_job(store, "t:4", "test", lambda p: {"ok": True}, wait=True)
    assert status.status == "done" and status.result == {"ok": True}


def test_job_status_unknown_key_is_none(store):
    assert job_status(store, "never") is None


@pytest.mark.parametrize("frac", [-1.0, 2.0])
def test_progress_is_clamped_to_unit_interval(store, frac):
    box = {}

    def fn(progress):
        progress(frac, "odd")
        box["status"] = job_status(store, "t:5")
        return {}

    start_job(store, "t:5", "test", fn, wait=True, force=True)
    assert 0.0 <= box["status"].progress <= 1.0
