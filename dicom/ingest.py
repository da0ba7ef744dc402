"""The one way an object comes in, whoever brings it (the gateway's C-STORE, STOW-RS, an
upload): checked, stored once by its UID, and handed back ready for the index. A refusal is
logged with its reason and where the object came from, never with what it holds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from dicom.index import Received
from dicom.objects import OUT_OF_RESOURCES, Refused, read_object
from dicom.storage import Storage

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """Where objects come from: a site, and the AE title it called from (empty for STOW-RS
    and uploads)."""

    site_id: int
    calling_ae: str = ""

    def __str__(self) -> str:
        return f"site {self.site_id}" + (f" (AE {self.calling_ae})" if self.calling_ae else "")


@dataclass(frozen=True)
class Stored:
    """An object kept: `received` goes to the index (dicom.batches); `new` is False when an
    object of this SOP Instance UID was stored before (the stored one is unchanged)."""

    received: Received
    new: bool


def ingest(
    path: Path,
    source: Source,
    storage: Storage,
    max_bytes: int,
    sop_class_uid: str | None = None,
    sop_instance_uid: str | None = None,
    study_instance_uid: str | None = None,
) -> Stored:
    """Check and store the DICOM file at `path` (a file in storage.incoming is linked into
    place, not copied; the caller removes `path`). Refused with the status and reason when
    it fails a check. A C-STORE passes the UIDs its command named, a STOW-RS to one study
    that study's."""
    try:
        if path.stat().st_size > max_bytes:
            raise Refused(OUT_OF_RESOURCES, f"larger than the {max_bytes} bytes allowed")
        found = read_object(path, sop_class_uid, sop_instance_uid, study_instance_uid)
    except Refused as refused:
        log.warning("refused an object from %s: %s", source, refused.reason)
        raise
    new = storage.keep(path, found.sop_instance_uid, source.site_id, source.calling_ae)
    received = Received(
        object=found,
        site_id=source.site_id,
        calling_ae=source.calling_ae,
        path=storage.relative_path(found.sop_instance_uid),
        received_at=datetime.now(UTC),
    )
    return Stored(received, new)


def ingest_stream(
    stream: BinaryIO,
    source: Source,
    storage: Storage,
    max_bytes: int,
    study_instance_uid: str | None = None,
) -> Stored:
    """Check and store a DICOM file read from `stream` (a STOW-RS part, an uploaded file),
    written to disk as it is read, never held whole in memory."""
    with storage.receiving() as path:
        with path.open("wb") as out:
            copied = 0
            while chunk := stream.read(CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    log.warning("refused an object from %s: larger than allowed", source)
                    raise Refused(OUT_OF_RESOURCES, f"larger than the {max_bytes} bytes allowed")
                out.write(chunk)
        return ingest(path, source, storage, max_bytes, study_instance_uid=study_instance_uid)
