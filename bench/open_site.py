"""The site's case page as a logged-in site user's browser fetches it: the status it shows.

One login (the HTML form, with its CSRF token) gives the session cookie; each thread then
fetches pages on a keep-alive connection of its own carrying that cookie.
"""

from __future__ import annotations

import re
import threading
import time

import requests

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
STATUS = re.compile(r'<h1>[^<]*<span class="badge status-([a-z_]+)"')
# The page is polled every POLL_FRACTION of the time waited so far, never more often than
# POLL_MIN_S: a fine resolution while the offer is due, and no flood of page loads (each a
# full render) when the system falls behind.
POLL_MIN_S = 0.05
POLL_FRACTION = 0.1


class SitePage:
    def __init__(self, base_url: str, username: str, password: str, timeout: float = 60) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._local = threading.local()
        with requests.Session() as login:
            form = login.get(f"{base_url}/login", timeout=timeout)
            found = CSRF.search(form.text)
            if found is None:
                raise RuntimeError(f"no CSRF token in the login page ({form.status_code})")
            answer = login.post(
                f"{base_url}/login",
                data={"username": username, "password": password, "csrf_token": found.group(1)},
                timeout=timeout,
                allow_redirects=False,
            )
            if answer.status_code != 302:
                raise RuntimeError(f"site login refused: {answer.status_code}")
            self._cookies = login.cookies.get_dict()

    def status(self, case_id: int) -> str:
        """The status the case page's heading shows."""
        page = self._session().get(f"{self._base_url}/site/cases/{case_id}", timeout=self._timeout)
        found = STATUS.search(page.text) if page.status_code == 200 else None
        if found is None:
            raise RuntimeError(f"case page {case_id}: {page.status_code}, no status shown")
        return found.group(1)

    def wait_offered(
        self, case_id: int, sent: float, wait_s: float, stop: threading.Event
    ) -> float | None:
        """When (wall clock, the page's answer received) the page first showed the case past
        "requested"; None when it did not within `wait_s` of `sent`."""
        while True:
            status = self.status(case_id)
            now = time.time()
            if status != "requested":
                return now
            waited = now - sent
            if waited > wait_s or stop.wait(max(POLL_MIN_S, POLL_FRACTION * waited)):
                return None

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.cookies.update(self._cookies)
        return session
