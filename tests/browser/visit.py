"""What a person's browser holds in a journey: the page, its language and width, the words the
page should show in that language (read from the app's own catalogue), and the screenshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from babel.support import NullTranslations
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from tests.conftest import PASSWORD


@dataclass
class Visit:
    """One person's browser, in one language at one width, and the words they should read."""

    page: Page
    language: str
    width: str
    shots: Path
    words: NullTranslations
    # Scripts that threw, and what the Content-Security-Policy refused: none on any page.
    script_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("pageerror", lambda error: self.script_errors.append(str(error)))
        self.page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.script_errors.append(message.text)

    def _(self, text: str, **values: object) -> str:
        """`text` as the page shows it in this visit's language (the app's own catalogue)."""
        return self.words.gettext(text) % values if values else self.words.gettext(text)

    def p_(self, context: str, text: str) -> str:
        return self.words.pgettext(context, text)

    def login(self, username: str, password: str = PASSWORD) -> None:
        self.page.goto("/login")
        self.page.get_by_label(self._("Username"), exact=True).fill(username)
        self.page.get_by_label(self._("Password"), exact=True).fill(password)
        self.page.get_by_role("button", name=self._("Log in"), exact=True).click()
        expect(self.log_out(username)).to_be_visible()

    def log_out(self, username: str) -> Locator:
        return self.page.get_by_role(
            "button", name=self._("Log out %(username)s", username=username)
        )

    def reads_its_language(self) -> None:
        """The page is in this visit's language and fits its width: the header and its way out
        are on screen without scrolling sideways, on a phone as on a laptop."""
        expect(self.page.locator("html")).to_have_attribute("lang", self.language)
        overflow = self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{self.page.url} is {overflow}px wider than the {self.width}"

    def shoot(self, journey: str, step: str = "") -> Path:
        """A full-page screenshot in the test's folder, named by journey, language and width."""
        path = self.shots / (
            "-".join(filter(None, (journey, self.language, self.width, step))) + ".png"
        )
        self.page.screenshot(path=path, full_page=True)
        return path
