"""Patient data kept out of Temporal's store: what a Garde client sends is encrypted before it
leaves the process (AES-256-GCM) and decrypted when it comes back.

A case's start, its signals, updates, queries and results carry the clinical question and the
report text as payloads: Temporal's database, its UI and whoever reads a history see only
ciphertext. Keys come from GARDE_PAYLOAD_KEYS, `id:base64key` entries separated by commas: the
first encrypts, every one decrypts, so a key is rotated by putting a new one first and keeping
the old ones as long as histories they encrypted live. Unset, one key is generated into the
data folder, as the session key is. A payload written before encryption (without the
`binary/encrypted` encoding) is read as it is: old histories replay and running cases go on.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENV_VAR = "GARDE_PAYLOAD_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class PayloadKey:
    id: str
    secret: bytes = field(repr=False)

    def entry(self) -> str:
        """As written in GARDE_PAYLOAD_KEYS."""
        return f"{self.id}:{base64.b64encode(self.secret).decode()}"


class PayloadKeyError(ValueError):
    """A payload that cannot be decrypted: never read as something else, never skipped."""


def parse_payload_keys(raw: str, source: str = ENV_VAR) -> tuple[PayloadKey, ...]:
    """`id:base64key,...`, the encrypting key first; an error names the entry and the reason,
    never a key."""
    keys: list[PayloadKey] = []
    for number, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        key_id, colon, encoded = entry.partition(":")
        where = f"{source}: entry {number}"
        if not colon or not KEY_ID_PATTERN.fullmatch(key_id):
            raise ValueError(
                f"{where} must be ID:BASE64KEY, the ID 1-64 letters, digits, '.', '_' or '-'"
            )
        try:
            secret = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"{where} ({key_id}): the key is not base64") from None
        if len(secret) != KEY_BYTES:
            raise ValueError(f"{where} ({key_id}): the key must be {KEY_BYTES} bytes, base64")
        if any(k.id == key_id for k in keys):
            raise ValueError(f"{source}: the key id {key_id} is given twice")
        keys.append(PayloadKey(key_id, secret))
    return tuple(keys)


def payload_keys(data_dir: Path, given: str | None) -> tuple[PayloadKey, ...]:
    """The configured keys; without any, the one generated into the data folder at first start
    (owner only), so that `garde up` works on a fresh machine and its histories stay readable
    after a restart. Several machines must share GARDE_PAYLOAD_KEYS instead."""
    if given:
        return parse_payload_keys(given)
    path = data_dir / "payload_keys"
    if path.exists():
        return parse_payload_keys(path.read_text().strip(), str(path))
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = PayloadKey(f"local-{secrets.token_hex(4)}", AESGCM.generate_key(bit_length=256))
    # Written whole under another name, then linked in: the worker and the web app starting
    # together on a fresh folder both read the one key that got there first.
    draft = path.with_name(f".payload_keys.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(key.entry() + "\n")
    try:
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
    return parse_payload_keys(path.read_text().strip(), str(path))


class EncryptionCodec(PayloadCodec):
    """Each payload serialized whole (its metadata too) and sealed with a fresh random nonce;
    the key's id travels in the clear, to pick the key that opens it."""

    def __init__(self, keys: Sequence[PayloadKey]) -> None:
        if not keys:
            raise ValueError(f"{ENV_VAR}: at least one key is needed")
        self._key_id = keys[0].id
        self._ciphers = {k.id: AESGCM(k.secret) for k in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._key_id].encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption, or by Temporal itself
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(self._ciphers)
            raise PayloadKeyError(
                f"a payload is encrypted with the key {key_id!r}, which is not among "
                f"{ENV_VAR} ({known}): put the key back in the list to read it"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, None))
        except InvalidTag:
            raise PayloadKeyError(
                f"a payload does not open with the key {key_id!r}: altered, or that id names "
                "another key than the one that encrypted it"
            ) from None
