"""Storage by UID: a path from a hash (never from the sender's text), written once, pending
until indexed, and what an aborted receive leaves swept once idle."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dicom.storage import Storage


def _received(storage: Storage, content: bytes) -> Path:
    path = storage.incoming / f"{content.hex()}.part"
    path.write_bytes(content)
    return path


def test_an_object_is_kept_once_under_the_hash_of_its_uid(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    uid = "1.2.3.4.5.6.7.8.9"
    relative = storage.relative_path(uid)
    assert relative.startswith("dicom/") and uid not in relative and ".." not in relative

    first = _received(storage, b"first")
    assert storage.keep(first, uid, 7, "PACS1") is True
    again = _received(storage, b"second")
    assert storage.keep(again, uid, 7, "PACS1") is False
    assert storage.path(relative).read_bytes() == b"first"

    [pending] = storage.pending_objects()
    assert (pending.site_id, pending.calling_ae) == (7, "PACS1")
    assert pending.path.read_bytes() == b"first"
    storage.indexed(uid, 7, "PACS1")
    assert storage.pending_objects() == []
    assert storage.path(relative).read_bytes() == b"first"


def test_what_an_aborted_receive_left_is_swept_once_idle(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    idle = _received(storage, b"half an object")
    past = time.time() - 600
    os.utime(idle, (past, past))
    busy = _received(storage, b"still arriving")
    storage.sweep_incoming(300)
    assert list(storage.incoming.iterdir()) == [busy]
