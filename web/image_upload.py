"""A site's upload of images on its case page: DICOM files, or .zip archives of them, each
object checked and stored by dicom.ingest and the upload indexed as one batch (web/received.py),
as for STOW-RS. What was kept and what was refused, and why, is said in the user's language.

An archive is checked whole before anything is taken from it. One whose names climb out of
their folder (`../`) or start from the root (a zip slip), or that would unpack to too much
(a zip bomb: too many entries, too many bytes, or bytes too many for its size) is refused with
nothing stored from it. Entries are never written under their own names anyway: each object is
stored by its UID (dicom/storage.py).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from dicom.objects import Refused
from garde.models import Study
from web import services
from web.received import Receiving

MAX_ENTRIES = 10_000
MAX_UNZIPPED_BYTES = 4 << 30
# A DICOM archive unpacks to a few times its size; a zip bomb to thousands.
MAX_RATIO = 100
# The DICOMDIR of a CD or a USB key indexes its images: it is none itself.
MEDIA_INDEX = "DICOMDIR"
DRIVE = re.compile(r"^[A-Za-z]:")
ENCRYPTED = 0x1  # general purpose bit 0


class ArchiveRefused(Exception):
    """Nothing is taken from the archive; the reason is in the reader's language."""


@dataclass
class Uploaded:
    """What an upload did: objects newly kept, objects kept before, what was refused (a file
    or an archive's entry, and why), and studies left waiting for their own request."""

    stored: int = 0
    known: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    elsewhere: int = 0


def upload(site_id: int, case_id: int, files: list[FileStorage]) -> Uploaded:
    done = Uploaded()
    receiving = Receiving(site_id)
    try:
        for file in files:
            name = file.filename or ""
            stream = cast(BinaryIO, file.stream)
            if zipfile.is_zipfile(stream):
                stream.seek(0)
                _archive(receiving, name, stream, done)
            else:
                stream.seek(0)
                _one(receiving, name, stream, done)
    finally:
        batch = receiving.finish()
    if batch:
        with services().sessions() as s:
            linked = s.scalars(
                select(Study.case_id).where(Study.id.in_([b.study_id for b in batch]))
            )
            done.elsewhere = sum(1 for found in linked if found != case_id)
    return done


def _one(receiving: Receiving, name: str, stream: BinaryIO, done: Uploaded) -> None:
    try:
        stored = receiving.take(stream)
    except Refused as refused:
        done.refused.append((name, _reason(refused)))
        return
    if stored.new:
        done.stored += 1
    else:
        done.known += 1


def _archive(receiving: Receiving, name: str, stream: BinaryIO, done: Uploaded) -> None:
    try:
        with zipfile.ZipFile(stream) as archive:
            entries = checked(archive, _size(stream))
            for entry in entries:
                where = f"{name}: {entry.filename}"
                if entry.flag_bits & ENCRYPTED:
                    done.refused.append((where, _("encrypted: send it unprotected")))
                    continue
                try:
                    with archive.open(entry) as member:
                        _one(receiving, where, cast(BinaryIO, member), done)
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
                    done.refused.append((where, _("damaged in the archive")))
    except ArchiveRefused as e:
        done.refused.append((name, _("%(reason)s; nothing was taken from it", reason=str(e))))
    except zipfile.BadZipFile:
        done.refused.append((name, _("not a readable zip archive; nothing was taken from it")))


def checked(archive: zipfile.ZipFile, size: int) -> list[zipfile.ZipInfo]:
    """The archive's files to take, once the whole archive passed: ArchiveRefused when a
    name leaves its folder or the archive would unpack to too much."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise ArchiveRefused(_("more than %(n)s entries", n=MAX_ENTRIES))
    for entry in entries:
        path = entry.filename.replace("\\", "/")
        if path.startswith("/") or DRIVE.match(path) or ".." in path.split("/"):
            raise ArchiveRefused(_("a name leaves the archive's folder (../ or /)"))
    total = sum(e.file_size for e in entries)
    if total > MAX_UNZIPPED_BYTES:
        raise ArchiveRefused(
            _("it would unpack to more than %(gb)s GB", gb=MAX_UNZIPPED_BYTES >> 30)
        )
    if total > MAX_RATIO * max(size, 1):
        raise ArchiveRefused(_("it would unpack to more than %(n)s times its size", n=MAX_RATIO))
    return [
        e
        for e in entries
        if not e.is_dir() and e.filename.replace("\\", "/").rsplit("/", 1)[-1] != MEDIA_INDEX
    ]


def _size(stream: BinaryIO) -> int:
    stream.seek(0, 2)
    return stream.tell()


def _reason(refused: Refused) -> str:
    """Why dicom.ingest refused an object, in the reader's words (its reason is for logs)."""
    reason = refused.reason
    if reason.startswith("larger than"):
        mb = services().settings.dicom_max_object_bytes >> 20
        return _("larger than the %(mb)s MB allowed", mb=mb)
    if reason == "not a DICOM file":
        return _("not a DICOM file")
    if reason.startswith("not whole"):
        return _("incomplete: the file ends before its data")
    if reason.startswith("no ") and reason.endswith("UID"):
        return _("no %(uid)s", uid=reason.removeprefix("no "))
    if reason.endswith("is not a valid UID"):
        return _("its %(uid)s is not a valid UID", uid=reason.removesuffix(" is not a valid UID"))
    if reason == "could not be written":
        return _("could not be stored now; try again in a moment")
    return _("cannot be read as DICOM")
