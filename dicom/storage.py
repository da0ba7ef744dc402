"""Where received objects live: `<data_dir>/dicom/`, one file per SOP Instance UID, named by
the SHA-256 of the UID (never by text a sender chose), written once.

An object is received into `incoming/` (on the same file system), then hard-linked into place:
the link either makes the whole file appear under its name or fails because the name is
taken, so a reader never sees half a file and a repeated UID never changes what is stored.
It is linked into `pending/` too, named with its site and calling AE title, until the index
has committed it: a gateway killed between the two indexes it when it starts again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FOLDER = "dicom"


@dataclass(frozen=True)
class Pending:
    """An object stored and not yet indexed, and where it came from."""

    path: Path
    site_id: int
    calling_ae: str


class Storage:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / FOLDER
        self.incoming = self.root / "incoming"
        self.pending = self.root / "pending"
        for folder in (self.root, self.incoming, self.pending):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def relative_path(self, sop_instance_uid: str) -> str:
        """The object's path under the data folder, as the index keeps it."""
        digest = hashlib.sha256(sop_instance_uid.encode("ascii")).hexdigest()
        return f"{FOLDER}/{digest[:2]}/{digest[2:4]}/{digest}.dcm"

    def path(self, relative: str) -> Path:
        return self.data_dir / relative

    @contextlib.contextmanager
    def receiving(self) -> Iterator[Path]:
        """A new file in incoming/ to write an object into; removed afterwards (what was kept
        is a second link to it)."""
        handle, name = tempfile.mkstemp(suffix=".dcm", dir=self.incoming)
        os.close(handle)
        try:
            yield Path(name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def keep(self, received: Path, sop_instance_uid: str, site_id: int, calling_ae: str) -> bool:
        """Link a whole received file into place and into pending/; False when an object of
        this UID was already stored (the stored one stays as it is)."""
        relative = self.relative_path(sop_instance_uid)
        final = self.path(relative)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.link(received, final)
            new = True
        except FileExistsError:
            new = False
        marker = self.pending / f"{site_id}_{calling_ae.encode('ascii').hex()}_{final.name}"
        with contextlib.suppress(FileExistsError):
            os.link(final, marker)
        return new

    def indexed(self, sop_instance_uid: str, site_id: int, calling_ae: str) -> None:
        """The index committed the object: it is no longer pending."""
        name = Path(self.relative_path(sop_instance_uid)).name
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pending / f"{site_id}_{calling_ae.encode('ascii').hex()}_{name}")

    def pending_objects(self) -> list[Pending]:
        found = []
        for path in sorted(self.pending.iterdir()):
            site, ae, _ = path.name.split("_", 2)
            found.append(Pending(path, int(site), bytes.fromhex(ae).decode("ascii")))
        return found

    def sweep_incoming(self, idle_s: float) -> None:
        """Remove what an association aborted (or a process killed) left half received: a
        file no one wrote to for `idle_s`, longer than any receive waits for data."""
        limit = time.time() - idle_s
        for path in self.incoming.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < limit:
                    path.unlink()
