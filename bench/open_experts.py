"""Simulated experts at their phones: each case's first offer SMS that reaches the Twilio double
is accepted through the API after a short delay, and the case is reported final.

The SMS names the case by its number and the offer by its code (no patient data), and its
phone names the expert: the benchmark reads nothing from the database to play the experts.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.api import Api
from tests.twilio_double import SentMessage

# The offer's text in English or French (garde/texts/*/offer.txt), as the expert's language is.
OFFER = re.compile(r"\b(?:case|cas) (\d+)\.\s+(?:Reply YES|Répondez OUI) \S+")
FINAL_REPORT = {
    "kind": "final",
    "findings": "No bleed.",
    "impression": "Normal CT.",
    "critical": False,
}


class Inbox(list[SentMessage]):
    """The double's list of messages received, also queued as each arrives (the double
    appends to it), so that the experts answer at once rather than by polling."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: queue.Queue[SentMessage] = queue.Queue()

    def append(self, message: SentMessage) -> None:
        super().append(message)
        self.arrived.put(message)


class Experts:
    """Reads the inbox on a thread of its own; answers each offer on a pool of threads."""

    def __init__(self, api: Api, tokens_by_phone: dict[str, str], delay_s: float) -> None:
        self._api = api
        self._tokens = tokens_by_phone
        self._delay_s = delay_s
        self._pool = ThreadPoolExecutor(64, thread_name_prefix="simulated-expert")
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        # By case number: when its first offer SMS reached the double (wall clock), and what
        # went wrong when accepting or reporting it.
        self.offer_sms: dict[int, float] = {}
        self.failures: dict[int, str] = {}

    def start(self, inbox: Inbox) -> Experts:
        self._reader = threading.Thread(target=self._read, args=(inbox,), daemon=True)
        self._reader.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _read(self, inbox: Inbox) -> None:
        while not self._stop.is_set():
            try:
                message = inbox.arrived.get(timeout=0.2)
            except queue.Empty:
                continue
            offer = OFFER.search(message.body)
            token = self._tokens.get(message.to)
            if offer is None or token is None:
                continue  # a confirmation, or a text to the site
            case_id = int(offer.group(1))
            if case_id in self.offer_sms:
                continue  # a later offer of the same case: its first expert takes it
            received = message.date_created.timestamp()
            self.offer_sms[case_id] = received
            self._pool.submit(self._answer, case_id, token, received)

    def _answer(self, case_id: int, token: str, received: float) -> None:
        """Accept once the expert has read the SMS, then file the final report."""
        if self._stop.wait(max(0.0, received + self._delay_s - time.time())):
            return
        try:
            self._api.call("POST", f"/api/v1/cases/{case_id}/accept", token)
            self._api.call("POST", f"/api/v1/cases/{case_id}/report", token, FINAL_REPORT, 201)
        except Exception as e:  # counted against the case; the run goes on
            self.failures[case_id] = f"case {case_id}: {type(e).__name__}: {e}"
