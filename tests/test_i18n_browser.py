"""The Swedish UI in a real browser: a ?lang=sv link, the sidebar switch, and a refresh."""

from __future__ import annotations

import re

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, ERRORS, _settle, served_app  # noqa: F401

pytestmark = pytest.mark.browser


def _nav_titles(page) -> list[str]:
    # Each link's text is the Material icon's name, a newline, then the title.
    return [
        t.strip().split("\n")[-1]
        for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    ]


def test_browser_swedish_link_switch_and_refresh(served_app):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served_app + "/?lang=sv", wait_until="domcontentloaded")
            page.wait_for_selector("h1:has-text('Översikt')", timeout=90_000)
            page.wait_for_selector('[data-testid="stMetric"]', timeout=90_000)
            _settle(page)
            assert page.get_by_text("Aktuell period").count() >= 1
            assert page.get_by_text("Lösta vid första kontakt").count() >= 1
            assert _nav_titles(page)[:3] == ["Översikt", "Utforska", "Churn & CLV"]
            assert page.locator(ERRORS).count() == 0
            # Shares with a decimal comma and a space before %, as a Swedish reader writes them.
            values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
            assert any(re.fullmatch(r"\d{1,3},\d %", v.strip()) for v in values), values
            assert not any(re.fullmatch(r"\d{1,3}\.\d %", v.strip()) for v in values), values

            # The switch turns it English and writes the choice into the URL.
            page.locator('[data-testid="stSidebar"] label', has_text="English").click()
            page.wait_for_selector("h1:has-text('Overview')", timeout=60_000)
            _settle(page)
            assert "lang=en" in page.url
            assert _nav_titles(page)[:2] == ["Overview", "Explore"]
            values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
            assert any(re.fullmatch(r"\d{1,3}\.\d %", v.strip()) for v in values), values

            # Back to Swedish; a refresh (a new session) keeps it through the URL.
            page.locator('[data-testid="stSidebar"] label', has_text="Svenska").click()
            page.wait_for_selector("h1:has-text('Översikt')", timeout=60_000)
            _settle(page)
            assert "lang=sv" in page.url
            page.reload(wait_until="domcontentloaded")
            page.wait_for_selector("h1:has-text('Översikt')", timeout=90_000)
            _settle(page)

            # Another page keeps the language.
            page.locator('[data-testid="stSidebarNav"] a', has_text="Utforska").click()
            page.wait_for_selector("h1:has-text('Utforska')", timeout=60_000)
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
            _settle(page)
            assert page.get_by_text("Dela upp per").count() >= 1
            assert page.locator(ERRORS).count() == 0
            # The trend's date ticks in Swedish (Plotly's locale, passed with each chart).
            ticks = page.locator(".js-plotly-plot").first.locator(".xtick text")
            months = " ".join(ticks.nth(i).text_content() or "" for i in range(ticks.count()))
            assert re.search(r"\b(jan|mar|maj|jul|sep|nov)\b", months), months
            assert not re.search(r"\b(Jan|Mar|May|Jul|Sep|Nov)\b", months), months
        finally:
            browser.close()
