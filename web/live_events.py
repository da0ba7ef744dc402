"""`GET /events`: tells an open page that what its user may see has changed, so that the
board, the worklist and the case pages refresh by themselves (web/static/js/live.js).

The record is the source: every ~2 s one query reads a small "version" of what this user may
see (`web/access.py`'s one rule): the newest timeline entry, offer and report among the
visible cases and how many there are; staff see every case, and the alerts too. The stream
opens with `event: change` and that version, then sends another each time it moves; the page
then fetches itself again. It carries numbers only, never a case's content. A comment every ~15 s keeps proxies from
closing an idle stream; after a few minutes the stream ends and the browser reconnects (the
`retry:` hint), so the session is checked again: a logged-out, disabled or password-changed
user is refused then, and the user's row is re-read at every check meanwhile.

Waitress: it flushes every write at once (its `send_bytes` is 1 since 3.0), but each open
stream holds one of its threads for its whole life. So `garde web` runs `MAX_STREAMS` more
threads than before, and at most `MAX_STREAMS` streams are open at a time in a process: the
next one gets a 503 and its page falls back to polling every 15 s. Normal requests always keep
their 16 threads. Waitress's `channel_request_lookahead` lets a stream see that its browser
went away (`waitress.client_disconnected`), so a closed page frees its thread within ~2 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.accounts import user_for_session
from garde.domain import STAFF, Role
from garde.models import Alert, Case, CaseEvent, Offer, Report, User
from web import services
from web.access import current_user, visible_cases

bp = Blueprint("live_events", __name__)
F = TypeVar("F", bound=Callable[..., Any])

MAX_STREAMS = 16
CHECK_EVERY_S = 2.0
HEARTBEAT_EVERY_S = 15.0
STREAM_FOR_S = 180.0
RETRY_MS = 3000

_slots = threading.BoundedSemaphore(MAX_STREAMS)


@bp.get("/events")
def events() -> Response:
    user = current_user()  # 401 (or the login page) when not logged in
    if not _slots.acquire(blocking=False):
        return Response(
            "too many live pages open; the page polls instead\n",
            status=503,
            mimetype="text/plain",
            headers={"Retry-After": "60"},
        )
    gone = request.environ.get("waitress.client_disconnected", lambda: False)
    stream = Stream(user.id, user.session_epoch, gone)
    return Response(
        stream,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def live_page(view: F) -> F:
    """Marks a page that keeps itself up to date (its template calls the `live` macro): the
    version of what its user may see is read before the page reads anything, and the page
    carries it, so that a change made while the page is drawn, or before its stream opens,
    still arrives as a different first version and refreshes it."""

    @wraps(view)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        g.live_version = version(g.db, current_user())
        return view(*args, **kwargs)

    return cast(F, drawn)


def page_version() -> str:
    """The version the `live` macro puts in the page: the one `live_page` read first; a form
    shown again with its errors (drawn by its POST view) reads it now."""
    found = g.get("live_version") or version(g.db, current_user())
    return str(found)


bp.add_app_template_global(page_version, "live_version")


def version(db: Session, user: User) -> str:
    """What changes whenever something this user may see changes: numbers only, in one query
    (an expert's takeable cases take one more, as on the worklist)."""
    if Role(user.role) in STAFF:
        # Staff see every case: the newest rows say it all, each read from its index's end.
        parts = [
            select(func.max(CaseEvent.id)),
            select(func.max(Offer.id)),
            select(func.max(Report.id)),
            select(func.max(Alert.id)),
            select(func.count(Alert.id)).where(Alert.resolved_at.is_(None)),
        ]
    else:
        seen = visible_cases(db, user).order_by(None).with_only_columns(Case.id)
        parts = [
            select(func.max(CaseEvent.id)).where(CaseEvent.case_id.in_(seen)),
            select(func.max(Offer.id)).where(Offer.case_id.in_(seen)),
            select(func.max(Report.id)).where(Report.case_id.in_(seen)),
            # A case leaving the user's sight (taken by another expert) moves only this.
            select(func.count()).select_from(seen.subquery()),
        ]
    row = db.execute(select(*(p.scalar_subquery() for p in parts))).one()
    return ".".join(str(v or 0) for v in row)


class Stream:
    """The event stream of one page; its `close` (called by the server when the response
    ends, however it ends) gives back the slot."""

    def __init__(self, user_id: int, epoch: int, gone: Callable[[], bool]) -> None:
        self.user_id, self.epoch, self.gone = user_id, epoch, gone
        self.sessions = services().sessions
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        last = self.check()
        if last is None:
            return
        # The page compares the first version with the one it was rendered from, and after a
        # reconnection with the last it had: a different one means something happened meanwhile.
        yield f"retry: {RETRY_MS}\nevent: change\ndata: {last}\n\n".encode()
        beat = started = time.monotonic()
        while time.monotonic() - started < STREAM_FOR_S:
            time.sleep(CHECK_EVERY_S)
            if self.gone():
                return
            now = self.check()
            if now is None:
                return
            if now != last:
                last = now
                beat = time.monotonic()
                yield f"event: change\ndata: {now}\n\n".encode()
            elif time.monotonic() - beat >= HEARTBEAT_EVERY_S:
                beat = time.monotonic()
                yield b": still here\n\n"

    def check(self) -> str | None:
        """The version now, or None once the user may no longer have this stream. A session
        of its own for each check: no database connection is held while the stream waits."""
        with self.sessions() as db:
            user = user_for_session(db, self.user_id, self.epoch)
            return None if user is None else version(db, user)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            _slots.release()
