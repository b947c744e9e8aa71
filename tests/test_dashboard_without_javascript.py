"""The dashboard page in a real browser with JavaScript off: it says so, and where the data is."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from pipeline.settings import settings_from
from pipeline.storage.sqlite_store import SqliteStore
from tests.servers import skip_or_fail
from web_app import create_web_app

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def test_without_javascript_the_page_says_it_needs_it_and_links_to_the_api(sqlite_store: SqliteStore) -> None:
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not executable:
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed")
    with TestClient(create_web_app(store=sqlite_store, settings=settings_from({}))) as client:
        page_html = client.get("/").text
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            context = browser.new_context(java_script_enabled=False)
            page = context.new_page()
            page.set_content(page_html)
            shown = page.inner_text("body")
            assert "needs JavaScript" in shown, shown
            assert "No summaries yet" not in shown, shown
            assert page.locator("a[href='/api/sensors']").is_visible()
        finally:
            browser.close()
