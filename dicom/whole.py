"""Is a DICOM file whole? pydicom reads a truncated file without a word (a value cut short,
a sequence without its end), so the data set's elements are walked here, header by header,
seeking past their values: each value must end inside the file, each undefined length must
meet its delimiter. Values are never read, so a large image costs a few hundred seeks."""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
# Explicit VR: these VRs have two reserved bytes and a 32-bit length.
LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}


class Broken(Exception):
    """The file ends before its data set does, or its encoding is not what it says."""


def check_whole(
    fp: BinaryIO, start: int, size: int, explicit: bool, deflated: bool, big_endian: bool
) -> None:
    """Walk the data set from `start` (after the File Meta Information) to `size`."""
    if deflated:
        _check_deflated(fp, start)
        return
    walker = _Walker(fp, size, ">" if big_endian else "<")
    walker.elements(start, size, explicit and walker.explicit_at(start), until_item_end=False)


def data_set_start(fp: BinaryIO) -> int:
    """The offset after the File Meta Information (group 0002, explicit VR little endian,
    after the 128-byte preamble and "DICM"), whether or not it gives its group length."""
    walker = _Walker(fp, 1 << 62, "<")
    at = 132
    while walker._number(at, 2) == 0x0002:
        vr = walker._read(at + 4, 2)
        if vr in LONG_VRS:
            at += 12 + walker._number(at + 8, 4)
        else:
            at += 8 + walker._number(at + 6, 2)
    return at


def _check_deflated(fp: BinaryIO, start: int) -> None:
    """A deflated data set is whole when its raw deflate stream ends."""
    fp.seek(start)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    while chunk := fp.read(1 << 20):
        try:
            inflater.decompress(chunk, 0)
        except zlib.error as e:
            raise Broken(f"deflated data set is corrupt ({e})") from None
        if inflater.eof:
            return
    raise Broken("deflated data set ends early")


class _Walker:
    def __init__(self, fp: BinaryIO, size: int, order: str) -> None:
        self.fp = fp
        self.size = size
        self.order = order

    def _number(self, at: int, n: int) -> int:
        value: int = struct.unpack(self.order + ("H" if n == 2 else "I"), self._read(at, n))[0]
        return value

    def _read(self, at: int, n: int) -> bytes:
        self.fp.seek(at)
        data = self.fp.read(n)
        if len(data) != n:
            raise Broken(f"file ends inside an element header at byte {at}")
        return data

    def explicit_at(self, at: int) -> bool:
        """Some writers say explicit VR and write implicit: read as written, as pydicom does."""
        self.fp.seek(at + 4)
        vr = self.fp.read(2)
        return len(vr) < 2 or (vr.isalpha() and vr.isupper())

    def elements(self, at: int, end: int, explicit: bool, until_item_end: bool) -> int:
        """Walk elements from `at`; the offset after the last (or after the item delimiter
        when `until_item_end`)."""
        while at < end:
            group, element = self._number(at, 2), self._number(at + 2, 2)
            tag = group << 16 | element
            if tag == ITEM_END:
                if not until_item_end:
                    raise Broken(f"item delimiter outside an item at byte {at}")
                return at + 8
            if group == 0xFFFE or not explicit:
                vr, length, header = b"", self._number(at + 4, 4), 8
            else:
                vr = self._read(at + 4, 2)
                if vr in LONG_VRS:
                    length, header = self._number(at + 8, 4), 12
                else:
                    length, header = self._number(at + 6, 2), 8
            at += header
            if length == UNDEFINED:
                # A sequence or encapsulated pixel data: items up to the sequence delimiter.
                # UN of undefined length holds an implicit VR sequence.
                at = self.items(at, explicit and vr != b"UN")
            else:
                at += length
            if at > end:
                raise Broken(f"a value of ({group:04X},{element:04X}) ends past the file")
        if until_item_end:
            raise Broken("file ends inside an item of undefined length")
        return at

    def items(self, at: int, explicit: bool) -> int:
        while True:
            tag = self._number(at, 2) << 16 | self._number(at + 2, 2)
            length = self._number(at + 4, 4)
            at += 8
            if tag == SEQUENCE_END:
                return at
            if tag != ITEM:
                raise Broken(f"expected an item at byte {at - 8}")
            if length == UNDEFINED:
                at = self.elements(at, self.size, explicit, until_item_end=True)
            else:
                at += length
                if at > self.size:
                    raise Broken("an item ends past the file")
