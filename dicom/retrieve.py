"""WADO-RS out of storage (PS3.18 10.4): stored files as multipart/related parts streamed a
chunk at a time, an instance's metadata as DICOM JSON with BulkDataURIs, and its frames.

Objects go out as they were stored, in their own transfer syntax: `transfer-syntax=*` is what
viewers ask, and an Accept without one gets the same (transcoding would decode every frame);
a client asking a syntax Garde does not hold is answered 406. Frames are read from their
place in the file (the header is parsed with large values left on disk): a native frame is
its slice of Pixel Data, labelled Explicit VR Little Endian; an encapsulated one is its
fragments joined, labelled with the stored syntax, so a viewer picks its decoder by the
part's Content-Type (cornerstone reads its `transfer-syntax` parameter).
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.tag import Tag
from pydicom.uid import UID

from garde.errors import GardeError, NotFound

DICOM = "application/dicom"
OCTET = "application/octet-stream"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
CHUNK = 1 << 16
# Binary values longer than this (bytes) are BulkDataURIs in metadata, never read for it.
BULK_BYTES = 1024
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW"})
PIXEL_DATA = 0x7FE00010
# The media type of an encapsulated frame, by transfer syntax (PS3.18 Table 8.7.3-5).
FRAME_MEDIA = {
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
}


class NotAcceptable(GardeError):
    """No media type or transfer syntax the client accepts can be served (406)."""

    status = 406
    error = "not acceptable"


@dataclass(frozen=True)
class Accepted:
    """One media range of an Accept header: a multipart's part type (or the bare type) and
    the transfer syntax asked (None: not said)."""

    media_type: str
    transfer_syntax: str | None


def accepted(header: str | None) -> list[Accepted]:
    """The media ranges of an Accept header, in order; none given: anything."""
    found = []
    for item in (header or "*/*").split(","):
        media, *params = (p.strip() for p in item.split(";"))
        values = {}
        for param in params:
            name, _, value = param.partition("=")
            values[name.strip().lower()] = value.strip().strip('"')
        if media.lower() == "multipart/related":
            media = values.get("type", "*/*")
        found.append(Accepted(media.lower(), values.get("transfer-syntax")))
    return found


def covers(media_range: str, media_type: str) -> bool:
    kind, _, sub = media_range.partition("/")
    return media_range in ("*/*", "*", media_type) or (
        sub == "*" and media_type.startswith(kind + "/")
    )


def check_dicom_accepted(header: str | None, stored: Iterable[str]) -> None:
    """406 unless the client takes application/dicom in every stored transfer syntax."""
    syntaxes = set(stored)
    for item in accepted(header):
        if covers(item.media_type, DICOM) and (
            item.transfer_syntax in (None, "*") or syntaxes <= {item.transfer_syntax}
        ):
            return
    raise NotAcceptable(
        "Garde sends instances as stored",
        {"Accept": f"must take {DICOM} in {', '.join(sorted(syntaxes))} (or transfer-syntax=*)"},
    )


def new_boundary() -> str:
    return secrets.token_hex(16)


def multipart_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary="{boundary}"'


@dataclass(frozen=True)
class Part:
    content_type: str
    chunks: Iterable[bytes]


def multipart(parts: Iterable[Part], boundary: str) -> Iterator[bytes]:
    """A multipart/related body (RFC 2387), each part sent as its chunks come."""
    for part in parts:
        yield f"--{boundary}\r\nContent-Type: {part.content_type}\r\n\r\n".encode()
        yield from part.chunks
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def dicom_part(path: Path, change: Callable[[Dataset], Dataset] | None) -> Part:
    """A stored object as a part: its bytes as they are, or changed (read whole, one at a
    time) when `change` is given."""
    if change is None:
        return Part(DICOM, file_chunks(path))

    def changed() -> Iterator[bytes]:
        out = io.BytesIO()
        change(dcmread(path)).save_as(out, enforce_file_format=True)
        yield out.getvalue()

    return Part(DICOM, changed())


# Metadata ------------------------------------------------------------------------------


def metadata(
    path: Path, bulk_url: Callable[[str], str], change: Callable[[Dataset], Dataset] | None
) -> dict[str, Any]:
    """An instance's data set as DICOM JSON (PS3.18 F.2), its large binary values (Pixel Data
    among them) as BulkDataURIs made by `bulk_url` from their tag path (`7FE00010`,
    `00540016/0/00181074`). Large values stay on disk."""
    ds: Dataset = dcmread(path, defer_size=BULK_BYTES)
    syntax = str(ds.file_meta.TransferSyntaxUID)
    if change is not None:
        # Pixel Data, kept by de-identification, is set aside: changing would read it.
        pixels = ds.get_item(PIXEL_DATA, keep_deferred=True) if PIXEL_DATA in ds else None
        if pixels is not None:
            del ds[PIXEL_DATA]
        ds = change(ds)
        if pixels is not None:
            ds[PIXEL_DATA] = pixels
    found = _json(ds, [], bulk_url)
    found["00083002"] = {"vr": "UI", "Value": [syntax]}  # Available Transfer Syntax UID
    return dict(sorted(found.items()))


def _json(ds: Dataset, prefix: list[str], bulk_url: Callable[[str], str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for tag in list(ds.keys()):
        if tag.element == 0:  # group lengths: PS3.18 F.2 leaves them out
            continue
        key = f"{tag:08X}"
        element = ds.get_item(tag, keep_deferred=True)
        vr, size = _vr_and_size(element, tag)
        if vr == "SQ":
            items = ds[tag].value
            found[key] = {
                "vr": "SQ",
                "Value": [
                    _json(item, [*prefix, key, str(i)], bulk_url) for i, item in enumerate(items)
                ],
            }
        elif vr in BULK_VRS and size > BULK_BYTES:
            found[key] = {
                "vr": "OW" if vr == "OB or OW" else vr,
                "BulkDataURI": bulk_url("/".join([*prefix, key])),
            }
        else:
            found[key] = ds[tag].to_json_dict(None, 0)
    return found


def _vr_and_size(element: Any, tag: int) -> tuple[str, int]:
    if isinstance(element, RawDataElement):
        vr = element.VR
        if vr is None:  # implicit VR: the dictionary's (a private tag's is unknown)
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                vr = "UN"
        return str(vr), element.length
    value = element.value
    return str(element.VR), len(value) if isinstance(value, bytes | bytearray) else 0


# Frames and bulk data --------------------------------------------------------------------


@dataclass(frozen=True)
class Frames:
    """Frames of an instance: their transfer syntax as sent, and their bytes."""

    transfer_syntax: str
    compressed: bool
    data: Iterator[bytes]


def frame_numbers(text: str) -> list[int]:
    """`1,2,3` as numbers; ValueError unless each is a whole number from 1."""
    if not re.fullmatch(r"[1-9]\d{0,8}(,[1-9]\d{0,8})*", text):
        raise ValueError("must be frame numbers from 1, separated by commas")
    return [int(n) for n in text.split(",")]


def frame_count(path: Path) -> int:
    return int(dcmread(path, stop_before_pixels=True).get("NumberOfFrames") or 1)


def frames(path: Path, numbers: list[int]) -> Frames:
    """The frames `numbers` (from 1) of the stored object at `path`; NotFound when it has no
    pixel data or fewer frames."""
    ds = dcmread(path, defer_size=BULK_BYTES)
    if PIXEL_DATA not in ds:
        raise NotFound("this instance has no pixel data")
    count = int(ds.get("NumberOfFrames") or 1)
    beyond = [n for n in numbers if n > count]
    if beyond:
        raise NotFound(f"no frame {beyond[0]}: the instance has {count}")
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    element = ds.get_item(PIXEL_DATA, keep_deferred=True)
    if syntax.is_compressed:
        return Frames(str(syntax), True, _encapsulated(path, ds, element, numbers, count))
    return Frames(EXPLICIT_LITTLE, False, _native(path, ds, element, numbers))


def _value_reader(path: Path, element: Any) -> BinaryIO:
    """The element's value as a file positioned at its start: read from the file when the
    header left it there, else from memory."""
    if isinstance(element, RawDataElement) and element.value is None:
        f = path.open("rb")
        f.seek(element.value_tell)
        return f
    return io.BytesIO(bytes(element.value))


def _encapsulated(
    path: Path, ds: Dataset, element: Any, numbers: list[int], count: int
) -> Iterator[bytes]:
    offsets = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        offsets = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    with _value_reader(path, element) as value:
        start = value.tell()
        for n in numbers:
            value.seek(start)
            yield get_frame(value, n - 1, number_of_frames=count, extended_offsets=offsets)


def _native(path: Path, ds: Dataset, element: Any, numbers: list[int]) -> Iterator[bytes]:
    bits = int(ds.BitsAllocated)
    size_bits = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1) * bits
    with _value_reader(path, element) as value:
        start = value.tell()
        for n in numbers:
            first, last = (n - 1) * size_bits, n * size_bits
            value.seek(start + first // 8)
            data = value.read((last + 7) // 8 - first // 8)
            if first % 8:  # 1-bit frames need not start on a byte
                bits_of = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
                kept = bits_of[first % 8 : first % 8 + size_bits]
                data = np.packbits(kept, bitorder="little").tobytes()
            elif not ds.is_little_endian and bits in (16, 32):
                data = np.frombuffer(data, f">u{bits // 8}").astype(f"<u{bits // 8}").tobytes()
            yield data


def frame_media_type(header: str | None, frames: Frames) -> str:
    """The Content-Type of each frame part for this Accept header; NotAcceptable if none.
    Asked as application/octet-stream with transfer-syntax=* (OHIF), compressed frames keep
    that type, labelled with their syntax; asked as */*, they take their own image type."""
    natural = FRAME_MEDIA.get(frames.transfer_syntax, OCTET) if frames.compressed else OCTET
    labelled = f"; transfer-syntax={frames.transfer_syntax}"
    for item in accepted(header):
        syntax_ok = item.transfer_syntax in ("*", frames.transfer_syntax) or (
            item.transfer_syntax is None and (not frames.compressed or item.media_type != OCTET)
        )
        if not syntax_ok:
            continue
        if item.media_type == OCTET:
            return OCTET + labelled
        if covers(item.media_type, natural):
            return natural + labelled
    raise NotAcceptable(
        "Garde sends frames as stored",
        {
            "Accept": f"must take {natural} in {frames.transfer_syntax}"
            + " (or application/octet-stream; transfer-syntax=*)"
        },
    )


def bulk_value(path: Path, tags: list[str], change: Callable[[Dataset], Dataset] | None) -> bytes:
    """The value at a metadata tag path (not Pixel Data, served as frames); NotFound."""
    ds: Dataset = dcmread(path, stop_before_pixels=True)
    if change is not None:
        ds = change(ds)
    value: Any = ds
    try:
        for i, step in enumerate(tags):  # tag, item, tag, item ...
            value = value[int(step)] if i % 2 else value[Tag(int(step, 16))].value
    except (KeyError, IndexError, ValueError, TypeError):
        raise NotFound("no such bulk data") from None
    if not isinstance(value, bytes | bytearray):
        raise NotFound("no such bulk data")
    return bytes(value)
