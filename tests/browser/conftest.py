"""A real browser on the real stack: Playwright driving Debian's `chromium`, headless.

One browser per test module, closed with it: while Playwright's sync API runs, the thread
holds its event loop, and the rest of the suite calls `asyncio.run` (Stack.view). Each test
gets a fresh context (no cookies) at one of four looks: French or English (the browser's
language, which the pages follow for a login that chose none), at a desktop or a phone's
width. Without `chromium` on the PATH the browser tests are skipped with the reason, unless
GARDE_REQUIRE_BROWSER=1 (as in CI: `.ci/run`), where that is a failure. Screenshots land in
the test's temporary folder, the CI's artifacts.

The journeys run on SQLite only (each module says so): they read the pages, which the web
tests already cover on both databases.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.support import Translations
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from tests.browser.visit import Visit
from tests.conftest import Stack

TRANSLATIONS = Path(__file__).parents[2] / "web" / "translations"
LOCALES = {"fr": "fr-FR", "en": "en-GB"}
WIDTHS: dict[str, dict[str, object]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
# What a page waits on (a worker's answer, an event stream) may take a while under load.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="session", autouse=True)
def chromium_path() -> str:
    """Checked before anything starts, so a machine without it skips at once."""
    found = shutil.which("chromium")
    if found is None:
        reason = "no `chromium` on the PATH (`make system-packages` installs it)"
        if os.environ.get("GARDE_REQUIRE_BROWSER"):
            pytest.fail(reason + " and GARDE_REQUIRE_BROWSER is set")
        pytest.skip(reason + "; the browser tests need it")
    return found


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(chromium_path: str, playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=chromium_path, args=["--headless", "--no-sandbox", "--disable-gpu"]
    )
    yield launched
    launched.close()


@pytest.fixture(
    params=[(lang, width) for lang in LOCALES for width in WIDTHS],
    ids=lambda look: "-".join(look),
)
def visit(
    request: pytest.FixtureRequest, browser: Browser, stack: Stack, tmp_path: Path
) -> Iterator[Visit]:
    language, width = request.param
    context = browser.new_context(base_url=stack.url, locale=LOCALES[language], **WIDTHS[width])
    page = context.new_page()
    words = Translations.load(str(TRANSLATIONS), [language])
    visit = Visit(page, language, width, tmp_path, words)
    yield visit
    context.close()
    assert not visit.script_errors, f"the pages' scripts failed: {visit.script_errors}"
