"""Real server + chromium: a DNS-rebinding Host is refused; trusted-proxy headers give the role."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _require_chromium, _wait_healthy

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.browser


def _serve(db: Path, env_extra: dict[str, str]) -> Iterator[int]:
    port = _free_port()
    env = {**os.environ, "CX_DB": str(db), **env_extra}
    for name in ("CX_AUTH", "CX_ALLOWED_HOSTS", "CX_ROLE_MAP", "CX_TRUSTED_PROXY"):
        if name not in env_extra:
            env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.serve",  # as `make run` starts it
         "--server.headless", "true", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield port
    finally:
        proc.terminate()  # only the process this fixture started
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def db(sample_db: Path, tmp_path: Path) -> Path:
    _require_chromium()
    path = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, path)
    return path


def _browser(pw, *extra_args: str):
    return pw.chromium.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args], headless=True
    )


def test_browser_dns_rebinding_host_is_refused_localhost_is_served(db):
    from playwright.sync_api import sync_playwright

    for port in _serve(db, {}):
        with sync_playwright() as pw:
            # The attacker's name resolving to our loopback address: what DNS rebinding does.
            browser = _browser(pw, "--host-resolver-rules=MAP rebind.attacker.test 127.0.0.1")
            try:
                page = browser.new_page()
                page.goto(f"http://rebind.attacker.test:{port}/", wait_until="domcontentloaded")
                page.get_by_text("This console does not answer to the address").wait_for(
                    timeout=90_000
                )
                assert page.locator('[data-testid="stMetric"]').count() == 0
                assert page.locator('[data-testid="stSidebarNav"]').count() == 0
                page.goto(f"http://localhost:{port}/", wait_until="domcontentloaded")
                page.wait_for_selector('[data-testid="stMetric"]', timeout=90_000)
                assert page.get_by_text("does not answer").count() == 0
            finally:
                browser.close()


def test_browser_proxy_headers_give_a_viewer_only_the_view_pages(db):
    from playwright.sync_api import sync_playwright

    env = {
        "CX_AUTH": "proxy",
        "CX_TRUSTED_PROXY": "127.0.0.1",
        "CX_ROLE_MAP": "cx-view=viewer,cx-analysts=analyst",
    }
    for port in _serve(db, env):
        with sync_playwright() as pw:
            browser = _browser(pw)
            try:
                # The browser plays the proxy on loopback: it adds the user headers itself.
                context = browser.new_context(
                    extra_http_headers={"X-Forwarded-User": "vera", "X-Forwarded-Groups": "cx-view"}
                )
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                page.wait_for_selector('[data-testid="stMetric"]', timeout=90_000)
                page.get_by_text("Signed in as vera (viewer, proxy)").wait_for(timeout=30_000)
                nav = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
                titles = {t.strip().split("\n")[-1] for t in nav}
                assert {"Overview", "Experiments"} <= titles
                assert not titles & {"Data", "Targets", "Plan an experiment", "Audit & roles"}
                # A deep link to a page the role may not use does not run it.
                page.goto(f"http://127.0.0.1:{port}/data", wait_until="domcontentloaded")
                page.wait_for_timeout(3000)
                assert page.locator("h1:has-text('Data')").count() == 0
                context.close()
                # Without the proxy's headers: refused, nothing shown.
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                page.get_by_text("did not send the X-Forwarded-User header").wait_for(
                    timeout=90_000
                )
            finally:
                browser.close()
