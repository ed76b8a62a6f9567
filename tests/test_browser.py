"""Real-browser test: the app served by `streamlit run`, driven by Debian chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'

pytestmark = pytest.mark.browser


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)  # CI installs it: a missing browser there is a broken build
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s")


@pytest.fixture
def served_app(sample_db: Path, tmp_path: Path) -> Iterator[str]:
    _require_chromium()
    db = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, db)
    port = _free_port()
    env = {**os.environ, "CX_DB": str(db)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.serve",  # as `make run` starts it
         "--server.headless", "true", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        # Only the process this fixture started.
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _settle(page) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)


def test_browser_overview_then_explore_filter_renders_plotly_without_errors(served_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served_app, wait_until="domcontentloaded")
            # Overview: the cards come over the websocket once the script has run.
            page.wait_for_selector('[data-testid="stMetric"]', timeout=90_000)
            _settle(page)
            assert page.locator('[data-testid="stMetric"]').count() >= 10
            assert page.get_by_text("Current period").count() >= 1
            assert page.locator(ERRORS).count() == 0
            # The cards' sparklines are st.metric's own charts, drawn inside the cards, and
            # the page loads no Plotly (the channel mix is Vega-Lite like the sparklines).
            page.wait_for_function(
                "() => document.querySelectorAll("
                '\'[data-testid="stMetric"] [data-testid="stMetricChart"] path\').length >= 10',
                timeout=60_000,
            )
            assert page.locator('[data-testid="stMetricChart"]').count() >= 10
            page.wait_for_selector('[data-testid="stVegaLiteChart"]', timeout=60_000)
            assert page.locator(".js-plotly-plot").count() == 0
            # .streamlit/config.toml: viewer toolbar (no Deploy button, no developer menu).
            assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
            page.get_by_test_id("stMainMenu").click()
            menu = page.get_by_test_id("stMainMenuList")
            menu.wait_for(timeout=10_000)
            assert "Clear cache" not in menu.inner_text() and "Rerun" not in menu.inner_text()
            page.keyboard.press("Escape")
            # The table's files are made when a button is clicked (dashboard/downloads.py),
            # not on every run: the click still brings the whole file.
            button = page.locator('[data-testid="stDownloadButton"] button')
            for label, head in (("Download CSV", b"\xef\xbb\xbfKPI,"), ("Download XLSX", b"PK")):
                with page.expect_download(timeout=60_000) as download:
                    button.filter(has_text=label).first.click()
                body = Path(download.value.path()).read_bytes()
                assert body.startswith(head) and len(body) > 100, (label, body[:40])
            _settle(page)
            assert page.locator(ERRORS).count() == 0

            page.locator('[data-testid="stSidebarNav"] a', has_text="Explore").click()
            page.wait_for_selector("h1:has-text('Explore')", timeout=60_000)
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
            _settle(page)

            # The breakdown bars (second Plotly chart) list every channel before the filter.
            bars = "() => document.querySelectorAll('.js-plotly-plot')[1].data[0].y"
            page.wait_for_function(
                "() => { const p = document.querySelectorAll('.js-plotly-plot')[1];"
                " return p && p.data && p.data[0].y.length > 3; }",
                timeout=60_000,
            )
            _settle(page)

            channel = page.locator('[data-testid="stMultiSelect"]', has_text="Channel")
            channel.locator("input").click()
            page.keyboard.type("phone")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            channel.get_by_text("Phone", exact=True).wait_for(timeout=30_000)  # shown in words
            _settle(page)
            page.wait_for_function(
                "() => { const p = document.querySelectorAll('.js-plotly-plot')[1];"
                " return p && p.data && p.data[0].y.length === 1; }",
                timeout=60_000,
            )
            assert page.evaluate(bars) == ["phone"]
            assert page.locator(".js-plotly-plot .main-svg").count() >= 2
            assert page.locator(ERRORS).count() == 0

            # A deep link opens the page inside the router: its sections and titles, not a
            # folder listing of scripts (which is what a dashboard/pages/ folder would give).
            page.goto(served_app.rstrip("/") + "/churn", wait_until="domcontentloaded")
            page.wait_for_selector("h1:has-text('Churn')", timeout=90_000)
            _settle(page)
            nav = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
            # Each link's text is the Material icon's name, a newline, then the title.
            titles = [t.strip().split("\n")[-1] for t in nav]
            assert titles[:3] == ["Overview", "Explore", "Churn & CLV"]
            assert page.locator(ERRORS).count() == 0
            # The monthly churn's share axis: ticks a quarter point apart read apart ("2.5%"),
            # not all "3%" (".0%" rounded them alike).
            page.wait_for_selector(".js-plotly-plot .ytick text", timeout=60_000)
            ticks = page.locator(".js-plotly-plot").first.locator(".ytick text")
            labels = [ticks.nth(i).text_content() for i in range(ticks.count())]
            assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
        finally:
            browser.close()


def _selected(page, label: str) -> str:
    """The shown choice of the selectbox labelled `label` (its text, or its combobox input)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.get_by_text(label, exact=True)
    )
    inputs = box.locator("input")
    if inputs.count():
        value = inputs.first.get_attribute("value") or inputs.first.input_value()
        if value:
            return value
    return box.inner_text().split("\n")[-1].strip()


def test_browser_deep_link_opens_explore_view_survives_reload_and_page_switch(served_app):
    from playwright.sync_api import sync_playwright

    link = served_app.rstrip("/") + "/explore?kpi=fcr&grain=quarter&channel=chat"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for visit in ("link", "reload"):
                if visit == "link":
                    page.goto(link, wait_until="domcontentloaded")
                else:
                    page.reload(wait_until="domcontentloaded")
                page.wait_for_selector("h1:has-text('Explore')", timeout=90_000)
                page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
                _settle(page)
                assert _selected(page, "KPI") == "First contact resolution", visit
                assert _selected(page, "Grain") == "quarter", visit
                channel = page.locator('[data-testid="stMultiSelect"]', has_text="Channel")
                assert "Chat" in channel.inner_text(), visit
                # The period was added to the URL; the link's own parameters stay.
                url = page.url
                assert "kpi=fcr" in url and "grain=quarter" in url and "channel=chat" in url
                assert "from=2026-09-01" in url and "to=2026-09-30" in url
                assert page.locator(ERRORS).count() == 0

            # Another page keeps the shared part (filters, period), not Explore's KPI.
            page.locator('[data-testid="stSidebarNav"] a', has_text="Overview").click()
            page.wait_for_selector('[data-testid="stMetric"]', timeout=90_000)
            _settle(page)
            page.wait_for_function("() => location.search.includes('channel=chat')", timeout=30_000)
            assert "kpi=" not in page.url and "from=2026-09-01" in page.url
            channel = page.locator('[data-testid="stMultiSelect"]', has_text="Channel")
            assert "Chat" in channel.inner_text()
            assert page.locator(ERRORS).count() == 0
        finally:
            browser.close()


def test_browser_experiment_readout_downloads_when_clicked(served_app, tmp_path):
    """The HTML readout is made when its button is clicked (on a Streamlit worker thread,
    dashboard/views/experiment_list.py), not on every visit: the click brings the whole file,
    and the page lets go of the store after (a `cx` write is not blocked)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(
                served_app.rstrip("/") + "/experiment_list?experiment=callback_vs_queue",
                wait_until="domcontentloaded",
            )
            button = page.locator(
                '[data-testid="stDownloadButton"] button', has_text="Download HTML readout"
            )
            button.wait_for(timeout=90_000)
            _settle(page)
            with page.expect_download(timeout=90_000) as download:
                button.click()
            body = Path(download.value.path()).read_text(encoding="utf-8")
            assert (
                body.lower().startswith("<!doctype html>")
                and "Callback instead of phone queue" in body
            )
            assert len(body) > 100_000  # the figures are in it
            _settle(page)
            assert page.locator(ERRORS).count() == 0
            # The worker thread that made the file let go of the store: a write gets in.
            cx = Path(sys.executable).with_name("cx")
            env = {**os.environ, "CX_STORE_TIMEOUT": "5"}
            args = [
                str(cx),
                "settings",
                "set",
                "ui.currency",
                "EUR",
                "--db",
                str(tmp_path / "cx.duckdb"),
            ]
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        finally:
            browser.close()
