"""Objects a site brings over HTTP (STOW-RS, an upload on its case page): each checked and
stored by dicom.ingest as it is read, then the request's objects indexed as one batch, their
studies linked to cases and the cases' workflows told, as the gateway does after an
association (dicom.batches.commit, dicom.arrivals.link and announce)."""

from __future__ import annotations

import logging
from typing import BinaryIO

from dicom import arrivals
from dicom.batches import commit
from dicom.index import Received, StudyBatch
from dicom.ingest import Source, Stored, ingest_stream
from dicom.objects import OUT_OF_RESOURCES, Refused
from dicom.storage import Storage
from garde.messages import StudyArrival
from web import services

log = logging.getLogger(__name__)

# Telling the workflows waits no longer than this: the objects are kept and linked whatever
# Temporal does, and the reconciler tells a case again what it missed.
ANNOUNCE_WAIT_S = 5.0


class Receiving:
    """One request's objects, for the site `site_id`."""

    def __init__(self, site_id: int) -> None:
        settings = services().settings
        self._storage = Storage(settings.data_dir)
        self._source = Source(site_id)
        self._max_bytes = settings.dicom_max_object_bytes
        self._received: list[Received] = []

    def take(self, stream: BinaryIO, study_instance_uid: str | None = None) -> Stored:
        """Check and store the object read from `stream`; Refused with the status and reason
        when it fails a check or cannot be written."""
        try:
            stored = ingest_stream(
                stream, self._source, self._storage, self._max_bytes, study_instance_uid
            )
        except OSError as e:
            log.error("could not store an object from %s: %s", self._source, e.strerror)
            raise Refused(OUT_OF_RESOURCES, "could not be written") from None
        self._received.append(stored.received)
        return stored

    def finish(self) -> list[StudyBatch]:
        """Index what was stored as one batch, link its studies and tell their cases; what
        the batch did to each study."""
        if not self._received:
            return []
        sessions = services().sessions
        batch = commit(sessions, self._storage, self._received)
        self._received = []
        with sessions() as s:  # link commits what it links
            found = arrivals.link(s, batch)
        if found:
            _announce(found)
        return batch


def _announce(found: list[StudyArrival]) -> None:
    try:
        services().temporal.run(lambda c: arrivals.announce(c, found), ANNOUNCE_WAIT_S)
    except Exception:
        log.exception("telling %d cases of their images failed", len(found))
