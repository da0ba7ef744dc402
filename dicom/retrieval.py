"""The gateway's Query/Retrieve SCP for a site's PACS restoring from Garde: C-FIND over the
index (dicom.query), C-GET over the same association, C-MOVE to one of the site's own AE
titles at the host and port the registry gives it. A site queries and retrieves its own
studies only.

Objects are sent as stored, in their own transfer syntax, unless the peer accepted their SOP
class uncompressed only: then they are decompressed (same UIDs), so that a PACS taking no JPEG
still gets its images. One that cannot be sent either way is counted as a failed
sub-operation. One object is in memory at a time, read when its turn comes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import Association, evt
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
)
from sqlalchemy import select

from dicom.query import UNABLE_TO_PROCESS, BadIdentifier, Level, Stored, find, level_of, to_retrieve
from dicom.storage import Storage
from garde.db import SessionFactory
from garde.models import SiteAeTitle

log = logging.getLogger(__name__)

PENDING = 0xFF00
CANCELLED = 0xFE00
SUCCESS = 0x0000
# PS3.7 allows 128 presentation contexts in an association request.
MOST_CONTEXTS = 128
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
PATIENT_ROOT = {
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
}

Answer = tuple[int, Dataset | None]


class QueryRetrieve:
    """The C-FIND, C-GET and C-MOVE handlers; `site_of` names the site of a calling AE title
    (None: it belongs to none now)."""

    def __init__(
        self,
        sessions: SessionFactory,
        storage: Storage,
        site_of: Callable[[str], int | None],
        ae_title: str,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._site_of = site_of
        self._ae_title = ae_title

    def on_find(self, event: Any) -> Iterator[Answer]:
        """EVT_C_FIND: Pending (0xFF00) with each match, then Success; Cancel (0xFE00) when
        the peer cancels; 0xA900 for an identifier Garde cannot match, 0xC000 for a calling AE
        title that no longer belongs to a site (an index that cannot be read: pynetdicom
        answers the handler's error, 0xC311)."""
        try:
            site_id, identifier, level = self._request(event)
            with self._sessions() as s:
                for answer in find(
                    s, site_id, identifier, level, self._ae_title, self._storage.path
                ):
                    if event.is_cancelled:
                        yield CANCELLED, None
                        return
                    yield PENDING, answer
        except BadIdentifier as e:
            log.warning("C-FIND refused: %s", e)
            yield e.status, None
            return
        yield SUCCESS, None

    def on_get(self, event: Any) -> Iterator[int | Answer]:
        """EVT_C_GET: the number of objects, then each sent over the association (Pending with
        the remaining, completed and failed counts, which pynetdicom keeps), then Success, or
        Warning 0xB000 when some failed, Failure 0xA702 when all did; 0xA900 or 0xC000 (as
        for C-FIND) before any is sent."""
        try:
            stored = self._to_retrieve(event)
        except BadIdentifier as e:
            log.warning("C-GET refused: %s", e)
            yield 1
            yield e.status, None
            return
        yield len(stored)
        yield from self._sub_operations(event, stored, lambda: event.assoc)

    def on_move(self, event: Any) -> Iterator[Any]:
        """EVT_C_MOVE: the destination, which must be an AE title of the calling site with a
        host and port (else 0xA801, Move Destination unknown), the number of objects, then
        each sent on an association to the destination, as for C-GET. An identifier Garde
        cannot match fails with 0xC514 (the handler's error) before any association."""
        try:
            stored = self._to_retrieve(event)
        except BadIdentifier as e:
            log.warning("C-MOVE refused: %s", e)
            raise  # pynetdicom answers 0xC514
        destination = (event.move_destination or "").strip()
        address = self._destination(self._site_of(event.assoc.requestor.ae_title), destination)
        if address is None:
            log.warning("C-MOVE refused: %s is not a destination of the calling site", destination)
            yield None, None
            return
        # pynetdicom opens the association to the destination; its contexts, once accepted,
        # say which objects go as stored and which decompressed.
        peer: list[Association] = []
        accepted = [(evt.EVT_ACCEPTED, lambda e: peer.append(e.assoc))]
        yield (*address, {"contexts": contexts_for(stored), "evt_handlers": accepted})
        yield len(stored)
        yield from self._sub_operations(event, stored, lambda: peer[0] if peer else None)

    def _request(self, event: Any) -> tuple[int, Dataset, Level]:
        calling_ae = event.assoc.requestor.ae_title
        site_id = self._site_of(calling_ae)
        if site_id is None:
            raise BadIdentifier(f"AE {calling_ae} no longer belongs to a site", UNABLE_TO_PROCESS)
        identifier = event.identifier
        patient_root = event.context.abstract_syntax in PATIENT_ROOT
        return site_id, identifier, level_of(identifier, patient_root=patient_root)

    def _to_retrieve(self, event: Any) -> list[Stored]:
        site_id, identifier, level = self._request(event)
        with self._sessions() as s:
            return to_retrieve(s, site_id, identifier, level)

    def _destination(self, site_id: int | None, ae_title: str) -> tuple[str, int] | None:
        with self._sessions() as s:
            row = s.execute(
                select(SiteAeTitle.host, SiteAeTitle.port).where(
                    SiteAeTitle.ae_title == ae_title, SiteAeTitle.site_id == site_id
                )
            ).first()
        if row is None or row.host is None or row.port is None:
            return None
        return row.host, row.port

    def _sub_operations(
        self, event: Any, stored: list[Stored], peer: Callable[[], Association | None]
    ) -> Iterator[Answer]:
        for item in stored:
            if event.is_cancelled:
                yield CANCELLED, None
                return
            yield PENDING, fitted(self._read(item), peer())

    def _read(self, item: Stored) -> Dataset:
        """The stored object; one that cannot be read goes as its UIDs alone, which no
        presentation context carries: pynetdicom counts it failed and lists its UID."""
        path: Path = self._storage.path(item.path)
        try:
            return dcmread(path)
        except (OSError, ValueError) as e:
            log.error("a stored object could not be read for a retrieve: %s", type(e).__name__)
            placeholder = Dataset()
            placeholder.SOPClassUID = item.sop_class_uid
            placeholder.SOPInstanceUID = item.sop_instance_uid
            return placeholder


def fitted(ds: Dataset, peer: Association | None) -> Dataset:
    """The object as stored, or decompressed when the peer accepted its SOP class in an
    uncompressed syntax only; one that cannot be decoded goes as stored (and fails)."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if peer is None or syntax is None or not syntax.is_compressed:
        return ds
    accepted = {
        cx.transfer_syntax[0]
        for cx in peer.accepted_contexts
        if cx.abstract_syntax == ds.get("SOPClassUID") and cx.as_scu
    }
    if syntax in accepted or not accepted & set(UNCOMPRESSED):
        return ds
    try:
        ds.decompress(generate_instance_uid=False)
    except Exception as e:  # no decoder for it, or broken pixel data
        log.warning("an object could not be decompressed for a retrieve: %s", type(e).__name__)
    return ds


def contexts_for(stored: list[Stored]) -> list[PresentationContext]:
    """The presentation contexts to propose to a C-MOVE destination: one per SOP class and
    stored transfer syntax, and the uncompressed ones for each SOP class (a compressed object
    is decompressed when only those are accepted), at most 128; the objects of the rest fail."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for i in stored:
        pairs.setdefault((i.sop_class_uid, ""), list(UNCOMPRESSED))
        if i.transfer_syntax_uid not in UNCOMPRESSED:
            pairs.setdefault((i.sop_class_uid, i.transfer_syntax_uid), [i.transfer_syntax_uid])
    return [
        build_context(sop_class, syntaxes)
        for (sop_class, _), syntaxes in list(pairs.items())[:MOST_CONTEXTS]
    ]
