"""What Garde sends to Temporal is encrypted (garde/payload_codec.py): keys rotate, an unknown
key is an error naming it, and payloads from before encryption are read as they are."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

import pytest
import temporalio.converter
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from garde.payload_codec import ENCODING, KEY_ID, EncryptionCodec, PayloadKeyError
from garde.settings import Settings
from garde.temporal import data_converter

QUESTION = "Chute sous anticoagulants, hématome sous-dural ?"


def keys(*ids: str) -> str:
    """GARDE_PAYLOAD_KEYS with a fresh random key per id."""
    return ",".join(f"{i}:{base64.b64encode(os.urandom(32)).decode()}" for i in ids)


def settings(tmp_path: Path, payload_keys: str | None = None) -> Settings:
    env = {"GARDE_DATA_DIR": str(tmp_path), "GARDE_SECRET_KEY": "test"}
    return Settings.from_env(env | ({"GARDE_PAYLOAD_KEYS": payload_keys} if payload_keys else {}))


def test_payloads_are_sealed_per_payload_and_old_keys_still_open_them(tmp_path: Path) -> None:
    old_keys = keys("2025")
    old = data_converter(settings(tmp_path, old_keys))
    report = {"findings": "Hématome sous-dural aigu", "case_id": 7}
    [sealed] = asyncio.run(old.encode([QUESTION]))
    [again] = asyncio.run(old.encode([QUESTION]))
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"2025"
    assert QUESTION.encode() not in sealed.SerializeToString()
    assert b"sous-dural" not in sealed.SerializeToString()
    assert sealed.data != again.data  # a fresh nonce each time: equal texts do not show
    assert asyncio.run(old.decode([sealed, again], [str, str])) == [QUESTION, QUESTION]

    # Rotation: a new key first encrypts from now on; the old one, still listed, decrypts.
    rotated = data_converter(settings(tmp_path, keys("2026") + "," + old_keys))
    [newer] = asyncio.run(rotated.encode([report]))
    assert newer.metadata[KEY_ID] == b"2026"
    assert asyncio.run(rotated.decode([sealed, newer], [str, dict])) == [QUESTION, report]

    # The old key dropped too soon: an error naming the key, never a payload read as another.
    dropped = data_converter(settings(tmp_path, keys("2026")))
    with pytest.raises(PayloadKeyError, match="'2025'.*GARDE_PAYLOAD_KEYS"):
        asyncio.run(dropped.decode([sealed], [str]))
    # Another key under the old id does not open it either.
    impostor = EncryptionCodec(settings(tmp_path, keys("2025")).payload_keys)
    with pytest.raises(PayloadKeyError, match="does not open with the key '2025'"):
        impostor.decrypt(sealed)

    # A failure's message may quote patient text (a database error its values): sealed too.
    failure = Failure()
    asyncio.run(rotated.encode_failure(ApplicationError(f"refused: {QUESTION}"), failure))
    assert b"anticoagulants" not in failure.SerializeToString()
    assert QUESTION in str(asyncio.run(rotated.decode_failure(failure)))

    # Written before encryption (old histories, cases started before the key): read as is.
    [plain] = asyncio.run(temporalio.converter.default().encode([QUESTION]))
    assert asyncio.run(rotated.payload_codec.decode([plain])) == [plain]  # type: ignore[union-attr]
    assert asyncio.run(rotated.decode([plain], [str])) == [QUESTION]


def test_a_fresh_data_folder_gets_one_private_key_and_bad_keys_are_named(tmp_path: Path) -> None:
    first = settings(tmp_path).payload_keys
    assert stat.S_IMODE((tmp_path / "payload_keys").stat().st_mode) == 0o600
    assert settings(tmp_path).payload_keys == first  # kept: histories stay readable
    assert len(first) == 1 and len(first[0].secret) == 32

    for given, reason in (
        ("k1", "entry 1 must be ID:BASE64KEY"),
        (keys("k1") + ",k2:bm90IGEga2V5", r"entry 2 \(k2\): the key must be 32 bytes"),
        ("k1:not base64!", r"entry 1 \(k1\): the key is not base64"),
        (keys("k1", "k1"), "the key id k1 is given twice"),
    ):
        with pytest.raises(ValueError, match=f"GARDE_PAYLOAD_KEYS: {reason}"):
            settings(tmp_path, given)
