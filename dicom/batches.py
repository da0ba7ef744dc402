"""Objects stored wait here, per association, until their batch is written to the index: when
the association ends, when `most` are waiting, or `every` seconds after the first one waited.
A batch the database refused stays waiting and is tried again on the next tick; its objects
stay pending on disk (dicom/storage.py) in case the process dies first."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable
from datetime import UTC, datetime

from dicom.index import OnBatch, Received, StudyBatch, index
from dicom.objects import Refused, read_object
from dicom.storage import Storage
from garde.db import SessionFactory

log = logging.getLogger(__name__)

RECOVERED = "recovered"  # the batch of what recover() finds


class Batches:
    def __init__(
        self,
        sessions: SessionFactory,
        storage: Storage,
        on_batch: OnBatch | None = None,
        every: float = 1.0,
        most: int = 500,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._on_batch = on_batch
        self._every = every
        self._most = most
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one batch at a time: they count the same studies
        self._waiting: dict[Hashable, tuple[float, list[Received]]] = {}
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="dicom-index", daemon=True)
        self._ticker.start()

    def add(self, key: Hashable, received: Received) -> None:
        """Keep `received` in the batch of `key` (an association); written when full."""
        with self._lock:
            since, items = self._waiting.setdefault(key, (time.monotonic(), []))
            items.append(received)
            full = len(items) >= self._most
        if full:
            self.flush(key)

    def flush(self, key: Hashable) -> None:
        """Write the batch of `key` now (the association ended, or the batch is full)."""
        with self._lock:
            since, items = self._waiting.pop(key, (0.0, []))
        if items and not self._write(items):
            with self._lock:
                _, newer = self._waiting.get(key, (since, []))
                self._waiting[key] = (since, items + newer)

    def close(self) -> None:
        """Write every batch waiting, and stop."""
        self._stop.set()
        self._ticker.join()
        for key in list(self._waiting):
            self.flush(key)

    def _tick(self) -> None:
        while not self._stop.wait(min(self._every, 0.25)):
            now = time.monotonic()
            with self._lock:
                due = [k for k, (since, _) in self._waiting.items() if now - since >= self._every]
            for key in due:
                self.flush(key)

    def _write(self, items: list[Received]) -> bool:
        try:
            with self._writing:
                batch = commit(self._sessions, self._storage, items)
        except Exception:
            log.exception("indexing %d objects failed; tried again shortly", len(items))
            return False
        if batch and self._on_batch is not None:
            try:
                self._on_batch(batch)
            except Exception:
                log.exception("telling the cases about %d studies failed", len(batch))
        return True


def commit(sessions: SessionFactory, storage: Storage, items: list[Received]) -> list[StudyBatch]:
    """Index `items` in one transaction; what it did to each study (for dicom.arrivals).
    Raises when the database refuses the batch: the objects then stay pending."""
    with sessions.begin() as session:
        batch = index(session, items)
    for r in items:
        storage.indexed(r.object.sop_instance_uid, r.site_id, r.calling_ae)
    return batch


def recover(storage: Storage, batches: Batches) -> int:
    """Index what a process killed before its batch was written had stored (pending/); a
    file that no longer passes the checks is dropped from pending. The count indexed."""
    count = 0
    for pending in storage.pending_objects():
        try:
            found = read_object(pending.path)
        except Refused:
            pending.path.unlink()
            continue
        received = Received(
            object=found,
            site_id=pending.site_id,
            calling_ae=pending.calling_ae,
            path=storage.relative_path(found.sop_instance_uid),
            received_at=datetime.fromtimestamp(pending.path.stat().st_mtime, UTC),
        )
        batches.add(RECOVERED, received)
        count += 1
    batches.flush(RECOVERED)
    return count
