"""One frame of a stored instance drawn as a PNG or JPEG for a person (WADO-RS /rendered and
/thumbnail, PS3.18 8.3.5): pydicom's pixel pipeline, the window the modality stored.

The pipeline, as PS3.3 C.11 orders it: decode one frame (the installed permissive plugins:
pydicom's RLE, pylibjpeg-openjpeg, pyjpegls, python-gdcm; never the GPL pylibjpeg-libjpeg);
colour (RGB, YBR converted by pydicom, PALETTE COLOR through its LUT) is drawn as it is;
greyscale goes through the modality LUT (rescale), then a VOI: the caller's window, else the
stored one (the first Window Center/Width, else the VOI LUT Sequence), else the frame's own
range of values (min-max). No modality preset (a CT soft-tissue window, say) is guessed: it
would show a lung or bone series as a white or black square, while min-max always shows the
anatomy, if flat. MONOCHROME1 is inverted last. Pixels that are not square (Pixel Spacing,
Pixel Aspect Ratio) are drawn as they are. An enhanced multi-frame object's rescale, window
and spacing are read from its functional groups, per frame.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, pixel_array

MEDIA_TYPES = ("image/png", "image/jpeg")  # the first is the default
_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
# PS3.18's names of the VOI LUT functions (query parameter `window`), and PS3.3's.
WINDOW_FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}
_PIXEL_DATA = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_FRAME_GROUPS = ("PixelValueTransformationSequence", "FrameVOILUTSequence", "PixelMeasuresSequence")
# Larger elements are read from the file only when asked for: the pixel data is read a
# frame at a time by pixel_array.
_DEFER_BYTES = 4096


class NotRenderable(ValueError):
    """The instance cannot be drawn: it has no pixel data, its frame does not exist, or its
    transfer syntax cannot be decoded here; the message says which."""


class Window(NamedTuple):
    """A VOI window: PS3.3 C.11.2.1.2, `function` LINEAR, LINEAR_EXACT or SIGMOID."""

    center: float
    width: float
    function: str = "LINEAR"


def parse_window(raw: str) -> Window:
    """PS3.18's `window=center,width,function` (function linear, linear-exact or sigmoid)."""
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 3:
        raise ValueError(f"window: expected center,width,function, not {raw!r}")
    try:
        center, width = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"window: center and width must be numbers, not {raw!r}") from None
    function = WINDOW_FUNCTIONS.get(parts[2].lower())
    if function is None:
        raise ValueError(f"window: function must be one of {', '.join(WINDOW_FUNCTIONS)}")
    return _checked(Window(center, width, function))


def parse_viewport(raw: str) -> tuple[int, int]:
    """PS3.18's `viewport=vw,vh`: the image is scaled to fit, its aspect ratio kept (the
    source-region form vw,vh,sx,sy,sw,sh is not supported)."""
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 2 or not all(p.isdigit() and 0 < int(p) <= 8192 for p in parts):
        raise ValueError(f"viewport: expected width,height in pixels (1-8192), not {raw!r}")
    return int(parts[0]), int(parts[1])


def render(
    path: Path,
    *,
    frame: int = 1,
    viewport: tuple[int, int] | None = None,
    window: tuple[float, float] | Window | None = None,
    media_type: str = "image/png",
) -> bytes:
    """Frame `frame` (from 1) of the instance at `path`, as `media_type`; `viewport` scales it
    to fit (width, height) keeping its aspect ratio; `window` replaces the stored VOI (of a
    greyscale image: colour is drawn as stored)."""
    _check_media_type(media_type)
    ds = _header(path)
    image = _draw(path, ds, frame, None if window is None else _checked(Window(*window)))
    return _encoded(_shown(image, _pixel_aspect(ds), viewport), media_type)


def thumbnail(path: Path, *, size: int = 128, media_type: str = "image/png") -> bytes:
    """The instance's middle frame (a multi-frame object's most telling, as a viewer's series
    thumbnail), fitted in a `size` x `size` square."""
    _check_media_type(media_type)
    ds = _header(path)
    image = _draw(path, ds, (_frame_count(ds) + 1) // 2, None)
    return _encoded(_shown(image, _pixel_aspect(ds), (size, size)), media_type)


def _check_media_type(media_type: str) -> None:
    if media_type not in _FORMATS:
        raise ValueError(f"media_type: {media_type!r} is not one of {', '.join(MEDIA_TYPES)}")


def _encoded(image: Image.Image, media_type: str) -> bytes:
    out = io.BytesIO()
    if _FORMATS[media_type] == "JPEG":
        image.save(out, "JPEG", quality=90)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def _header(path: Path) -> Dataset:
    try:
        return dcmread(path, defer_size=_DEFER_BYTES)
    except (InvalidDicomError, EOFError) as e:
        raise NotRenderable(f"not a readable DICOM file: {e}") from None


def _frame_count(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames") or 1)


def _draw(path: Path, ds: Dataset, frame: int, window: Window | None) -> Image.Image:
    if not any(name in ds for name in _PIXEL_DATA):
        what = getattr(ds.get("SOPClassUID"), "name", "this object")
        raise NotRenderable(f"no pixel data to draw ({what})")
    frames = _frame_count(ds)
    if not 1 <= frame <= frames:
        raise NotRenderable(f"frame {frame} does not exist: the instance has {frames}")
    syntax = ds.file_meta.get("TransferSyntaxUID")
    try:
        # Only that frame is read from the file and decoded (a deflated file is inflated
        # whole: it cannot be read in place); YBR is converted to RGB.
        source = dcmread(path) if syntax is not None and syntax.is_deflated else path
        pixels = pixel_array(source, index=frame - 1)
    except (NotImplementedError, RuntimeError, ValueError) as e:
        name = getattr(syntax, "name", syntax)
        why = " ".join(str(e).split())
        raise NotRenderable(f"its pixel data ({name}) cannot be decoded: {why}") from None
    _frame_functional_groups(ds, frame - 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR":
        return Image.fromarray(_to_8_bits(apply_color_lut(pixels, ds)), "RGB")
    if pixels.ndim == 3:  # RGB, or YBR that pydicom converted
        return Image.fromarray(_to_8_bits(pixels, int(ds.get("BitsStored") or 8)), "RGB")
    grey = _voi(apply_modality_lut(pixels, ds), ds, window)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return Image.fromarray(grey, "L")


def _frame_functional_groups(ds: Dataset, index: int) -> None:
    """An enhanced multi-frame object keeps its rescale, window and pixel spacing per frame (or
    shared by all) in functional groups: they are set on `ds` as a single-frame object has
    them."""
    groups = [g[0] for g in (ds.get("SharedFunctionalGroupsSequence"),) if g]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and index < len(per_frame):
        groups.append(per_frame[index])
    for group in groups:  # the frame's own after the shared: it wins
        for sequence in _FRAME_GROUPS:
            for item in group.get(sequence) or []:
                for element in item:
                    ds[element.tag] = element


def _voi(values: np.ndarray, ds: Dataset, window: Window | None) -> np.ndarray:
    """The modality LUT's output `values` as 8-bit grey, through the chosen VOI."""
    if window is None and "WindowCenter" in ds and "WindowWidth" in ds:
        window = _stored_window(ds)
    if window is None and ds.get("VOILUTSequence"):
        return _through_voi_lut(values, ds)
    if window is None:
        low, high = float(values.min()), float(values.max())
        if high <= low:
            return np.zeros(values.shape, np.uint8)
        window = Window((low + high) / 2, high - low, "LINEAR_EXACT")
    return _windowed(values, window)


def _stored_window(ds: Dataset) -> Window | None:
    """The first of the stored windows; None when it is unusable (a zero width)."""
    center, width = ds["WindowCenter"].value, ds["WindowWidth"].value
    center = center[0] if ds["WindowCenter"].VM > 1 else center
    width = width[0] if ds["WindowWidth"].VM > 1 else width
    function = str(ds.get("VOILUTFunction") or "LINEAR").strip().upper()
    try:
        return _checked(Window(float(center), float(width), function))
    except (TypeError, ValueError):
        return None


def _checked(window: Window) -> Window:
    function = window.function.upper()
    if function not in WINDOW_FUNCTIONS.values():
        raise ValueError(
            f"window: function {window.function!r} is not one of LINEAR, LINEAR_EXACT, SIGMOID"
        )
    center, width = float(window.center), float(window.width)
    if not (math.isfinite(center) and math.isfinite(width)):
        raise ValueError("window: center and width must be finite numbers")
    if function == "LINEAR" and width < 1:
        raise ValueError(f"window: a linear window's width must be at least 1, not {width:g}")
    if width <= 0:
        raise ValueError(f"window: width must be above 0, not {width:g}")
    return Window(center, width, function)


def _windowed(values: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2-3, onto 0-255: the window's low end is 0, its high end 255."""
    x = values.astype(np.float64)
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        y = 1 / (1 + np.exp(-4 * (x - c) / w))
    elif window.function == "LINEAR_EXACT":
        y = (x - c) / w + 0.5
    elif w == 1:
        y = (x > c - 0.5).astype(np.float64)
    else:
        y = (x - (c - 0.5)) / (w - 1) + 0.5
    return np.rint(np.clip(y, 0, 1) * 255).astype(np.uint8)


def _through_voi_lut(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """The first VOI LUT, its output scaled to 0-255 by the bits its entries use (a LUT
    declared 16-bit often holds 12-bit values, as dcmtk also allows for)."""
    mapped = apply_voi(np.rint(values).astype(np.int64), ds)
    descriptor = ds.VOILUTSequence[0].LUTDescriptor
    entries = apply_voi(np.arange(descriptor[1], descriptor[1] + (descriptor[0] or 65536)), ds)
    top = 2 ** max(int(entries.max()).bit_length(), 8) - 1
    return np.rint(mapped.astype(np.float64) * 255 / top).astype(np.uint8)


def _to_8_bits(pixels: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Colour samples of `bits` bits (their dtype's when None) as 8-bit."""
    bits = bits or pixels.dtype.itemsize * 8
    if bits <= 8:
        return pixels.astype(np.uint8)
    return (pixels.astype(np.uint64) >> (bits - 8)).astype(np.uint8)


def _pixel_aspect(ds: Dataset) -> float:
    """A pixel's width over its height: from Pixel Spacing (row spacing, column spacing), else
    Pixel Aspect Ratio (vertical, horizontal); 1 when neither says it usably."""
    for keyword in ("PixelSpacing", "PixelAspectRatio"):
        value = ds.get(keyword)
        try:
            height, width = float(value[0]), float(value[1])
        except (TypeError, ValueError, IndexError):
            continue
        if height > 0 and width > 0:
            return width / height
    return 1.0


def _shown(image: Image.Image, aspect: float, viewport: tuple[int, int] | None) -> Image.Image:
    """The image as it should look: pixels that are not square stretched to be (none of the
    image is lost: the shorter side grows); scaled, up or down, to fit the viewport."""
    width, height = image.width * max(aspect, 1), image.height / min(aspect, 1)
    if viewport is not None:
        scale = min(viewport[0] / width, viewport[1] / height)
        width, height = width * scale, height * scale
    size = (max(1, round(width)), max(1, round(height)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)
