"""dicom/rendering.py draws a stored instance as the /rendered and /thumbnail routes serve it:
every transfer syntax the permissive decoders read, the stored window or the caller's (its low
end black, its high end white), MONOCHROME1 inverted, colour kept, one frame of many, scaled
to a viewport with its aspect ratio; what cannot be drawn is refused saying why. pydicom's
bundled test files and small objects written here; no stack."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from dicom.rendering import (
    NotRenderable,
    Window,
    parse_viewport,
    parse_window,
    render,
    thumbnail,
)


def bundled(name: str) -> Path:
    found = get_testdata_file(name, download=False)
    assert found is not None, f"{name} is bundled with pydicom"
    return Path(str(found))


def image(data: bytes, format: str = "PNG") -> Image.Image:
    drawn = Image.open(io.BytesIO(data))
    assert drawn.format == format
    return drawn


def grey(data: bytes) -> np.ndarray:
    drawn = image(data)
    assert drawn.mode == "L"
    return np.asarray(drawn)


def written(tmp_path: Path, values: list[list[int]], **attributes: object) -> Path:
    """A signed 16-bit greyscale object of `values` (rows), with `attributes` set."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    pixels = np.array(values, dtype=np.int16)
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = pixels.tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


MR_SMALL_SYNTAXES = [
    "MR_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",  # pydicom's RLE
    "MR_small_jp2klossless.dcm",  # pylibjpeg-openjpeg
    "MR_small_jpeg_ls_lossless.dcm",  # pyjpegls
]


def test_every_lossless_syntax_draws_the_same_picture() -> None:
    drawn = [grey(render(bundled(name))) for name in MR_SMALL_SYNTAXES]
    assert drawn[0].shape == (64, 64)
    for name, picture in zip(MR_SMALL_SYNTAXES[1:], drawn[1:], strict=True):
        assert np.array_equal(picture, drawn[0]), name


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("CT_small.dcm", "L"),
        ("JPEG2000.dcm", "L"),  # JPEG 2000 lossy, 256 x 1024
        ("693_J2KI.dcm", "L"),
        ("image_dfl.dcm", "L"),  # deflated: read whole
        ("SC_rgb_jpeg_gdcm.dcm", "RGB"),  # JPEG lossless (python-gdcm)
        ("SC_rgb_dcmtk_+eb+cy+s2.dcm", "RGB"),  # JPEG baseline, YBR_FULL_422
        ("examples_jpeg2k.dcm", "RGB"),  # JPEG 2000 lossless, YBR_RCT
        ("SC_rgb_jls_lossy_sample.dcm", "RGB"),  # JPEG-LS near-lossless
        ("SC_rgb_rle_16bit.dcm", "RGB"),  # 16 bits a sample
    ],
)
def test_a_png_of_the_image_size(name: str, mode: str) -> None:
    ds = dcmread(bundled(name), stop_before_pixels=True)
    drawn = image(render(bundled(name)))
    assert (drawn.size, drawn.mode) == ((ds.Columns, ds.Rows), mode)
    assert len(set(np.asarray(drawn).flatten().tolist())) > 2, "an image, not a blank"


def test_colour_is_kept_whatever_its_encoding() -> None:
    """The same red, green, blue bands stored as RGB, as JPEG YBR_FULL_422 and in 16 bits."""
    reference = np.asarray(image(render(bundled("SC_rgb_dcmtk_+eb+cr.dcm")))).astype(int)
    assert reference[5, 50].tolist() == [255, 0, 0]
    for name in ("SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb_rle_16bit.dcm", "SC_rgb_jpeg_gdcm.dcm"):
        drawn = np.asarray(image(render(bundled(name)))).astype(int)
        assert np.abs(drawn - reference).mean() < 3, name
    # A window is for greyscale: colour is drawn as stored.
    path = bundled("SC_rgb_dcmtk_+eb+cr.dcm")
    assert render(path, window=(10, 20)) == render(path)


def test_a_palette_is_drawn_through_its_colour_table() -> None:
    path = bundled("examples_palette.dcm")
    expected = apply_color_lut(pixel_array(path), dcmread(path))
    drawn = np.asarray(image(render(path)))
    assert drawn.shape == (350, 800, 3)
    assert np.array_equal(drawn, expected >> 8 if expected.dtype == np.uint16 else expected)


def test_the_stored_window_low_end_black_high_end_white(tmp_path: Path) -> None:
    # CT rescale: HU = stored - 1024; a 40/400 window runs from -160 to 240 HU.
    hu = [-1000, -160, -159, 40, 239, 240, 1000]
    path = written(
        tmp_path,
        [[v + 1024 for v in hu]],
        RescaleSlope=1,
        RescaleIntercept=-1024,
        WindowCenter=[40, 400],  # the first window is the one drawn
        WindowWidth=[400, 2000],
    )
    drawn = grey(render(path))[0].tolist()
    assert drawn[:2] == [0, 0] and drawn[-2:] == [255, 255]
    assert drawn[2] in (0, 1) and drawn[4] in (254, 255) and 126 <= drawn[3] <= 129
    assert drawn == sorted(drawn)

    # MONOCHROME1: the same values, white for low.
    inverted = written(
        tmp_path,
        [[v + 1024 for v in hu]],
        RescaleSlope=1,
        RescaleIntercept=-1024,
        WindowCenter=40,
        WindowWidth=400,
        PhotometricInterpretation="MONOCHROME1",
    )
    assert grey(render(inverted))[0].tolist() == [255 - v for v in drawn]


def test_a_window_asked_for_replaces_the_stored_one(tmp_path: Path) -> None:
    path = written(tmp_path, [[-200, 0, 100, 200, 1000]], WindowCenter=40, WindowWidth=400)
    assert grey(render(path, window=(100, 200)))[0].tolist()[:2] == [0, 0]
    assert grey(render(path, window=(100, 200)))[0].tolist()[3:] == [255, 255]
    exact = grey(render(path, window=Window(100, 200, "LINEAR_EXACT")))[0].tolist()
    assert exact[:3] == [0, 0, 128] and exact[3:] == [255, 255]
    sigmoid = grey(render(path, window=parse_window("100,200,sigmoid")))[0].tolist()
    assert sigmoid[2] == 128 and 0 < sigmoid[1] < 128 < sigmoid[3] < 255
    with pytest.raises(ValueError, match="window: a linear window's width must be at least 1"):
        render(path, window=(40, 0.5))


def test_with_no_stored_window_the_values_span_black_to_white(tmp_path: Path) -> None:
    path = written(tmp_path, [[-50, 0, 25, 150]])
    assert grey(render(path))[0].tolist() == [0, 64, 96, 255]
    flat = written(tmp_path, [[7, 7], [7, 7]])
    assert grey(render(flat)).tolist() == [[0, 0], [0, 0]]


def test_a_voi_lut_sequence_maps_the_values(tmp_path: Path) -> None:
    lut = Dataset()
    lut.add_new("LUTDescriptor", "US", [4, 0, 16])  # four entries, the first for value 0
    lut.add_new("LUTData", "US", [0, 1000, 3000, 4095])  # 12 bits used of 16 declared
    path = written(tmp_path, [[0, 1, 2, 3, 9]], VOILUTSequence=Sequence([lut]))
    assert grey(render(path))[0].tolist() == [0, 62, 187, 255, 255]


def test_one_frame_of_many(tmp_path: Path) -> None:
    path = bundled("rtdose.dcm")  # 15 frames of 10 x 10
    for frame in (1, 8, 15):
        values = pixel_array(path, index=frame - 1).astype(float)
        expected = np.rint((values - values.min()) / (values.max() - values.min()) * 255)
        assert np.array_equal(grey(render(path, frame=frame)), expected), frame
    with pytest.raises(NotRenderable, match="frame 16 does not exist: the instance has 15"):
        render(path, frame=16)
    # An enhanced object's window per frame, in its functional groups.
    groups = []
    for center in (10, 30):
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 20
        group = Dataset()
        group.FrameVOILUTSequence = Sequence([voi])
        groups.append(group)
    enhanced = written(
        tmp_path,
        [[[0, 20, 40]], [[0, 20, 40]]],
        PerFrameFunctionalGroupsSequence=Sequence(groups),
    )
    assert grey(render(enhanced, frame=1))[0].tolist()[1:] == [255, 255]
    assert grey(render(enhanced, frame=2))[0].tolist()[:2] == [0, 0]


def test_a_viewport_keeps_the_aspect_ratio() -> None:
    tall = bundled("JPEG2000.dcm")  # 256 wide, 1024 high
    assert image(render(tall, viewport=(128, 128))).size == (32, 128)
    assert image(render(tall, viewport=(1000, 2048))).size == (512, 2048)
    assert image(render(tall, viewport=parse_viewport("64,512"))).size == (64, 256)
    wide = image(thumbnail(bundled("examples_palette.dcm")))  # 800 x 350
    assert (wide.size, wide.mode) == ((128, 56), "RGB")
    assert image(thumbnail(bundled("CT_small.dcm"), size=64)).size == (64, 64)


def test_pixels_that_are_not_square_are_drawn_as_they_are(tmp_path: Path) -> None:
    values = [[0, 10, 20, 30], [40, 50, 60, 70]]  # 4 wide, 2 high
    tall = written(tmp_path, values, PixelSpacing=[2, 1])  # rows 2 mm apart, columns 1 mm
    assert image(render(tall)).size == (4, 4)
    assert image(render(tall, viewport=(16, 8))).size == (8, 8)
    wide = written(tmp_path, values, PixelAspectRatio=[1, 2])  # each pixel twice as wide
    assert image(render(wide)).size == (8, 2)
    assert image(thumbnail(wide, size=64)).size == (64, 16)
    square = written(tmp_path, values, PixelSpacing=[0.7, 0.7])
    assert np.array_equal(grey(render(square)), grey(render(written(tmp_path, values))))
    # An enhanced object's spacing, in its shared functional group.
    measures = Dataset()
    measures.PixelSpacing = [2, 1]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    enhanced = written(tmp_path, values, SharedFunctionalGroupsSequence=Sequence([shared]))
    assert image(render(enhanced)).size == (4, 4)


def test_a_multi_frame_thumbnail_is_its_middle_frame() -> None:
    path = bundled("rtdose.dcm")
    assert np.array_equal(
        grey(thumbnail(path, size=10)), grey(render(path, frame=8, viewport=(10, 10)))
    )


def test_jpeg_when_asked_png_otherwise() -> None:
    path = bundled("CT_small.dcm")
    assert image(render(path, media_type="image/jpeg"), "JPEG").size == (128, 128)
    assert image(thumbnail(path, media_type="image/jpeg"), "JPEG").size == (128, 128)
    with pytest.raises(ValueError, match="media_type: 'image/gif' is not one of image/png"):
        render(path, media_type="image/gif")


def test_what_cannot_be_drawn_is_refused_saying_why(tmp_path: Path) -> None:
    with pytest.raises(NotRenderable, match=r"no pixel data to draw \(Comprehensive SR Storage\)"):
        render(bundled("test-SR.dcm"))
    # 12-bit JPEG Extended: only the GPL libjpeg plugin reads it, and it is not installed.
    with pytest.raises(NotRenderable, match=r"JPEG Extended \(Process 2 and 4\)\) cannot be"):
        render(bundled("JPEG-lossy.dcm"))
    with pytest.raises(NotRenderable, match="cannot be decoded: cannot reshape"):
        render(bundled("MR_truncated.dcm"))
    text = tmp_path / "notes.dcm"
    text.write_text("not an image")
    with pytest.raises(NotRenderable, match="not a readable DICOM file"):
        thumbnail(text)
    copy = tmp_path / "ct.dcm"
    shutil.copy(bundled("CT_small.dcm"), copy)
    with pytest.raises(NotRenderable, match="frame 0 does not exist"):
        render(copy, frame=0)
    assert issubclass(NotRenderable, ValueError)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("40,400", "window: expected center,width,function"),
        ("a,400,linear", "window: center and width must be numbers"),
        ("40,400,cubic", "window: function must be one of linear, linear-exact, sigmoid"),
        ("40,0,linear-exact", "window: width must be above 0"),
        ("40,inf,linear", "window: center and width must be finite"),
    ],
)
def test_a_bad_window_is_named(raw: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_window(raw)


@pytest.mark.parametrize("raw", ["128", "0,128", "128,128,0,0,64,64", "a,b", "9000,10"])
def test_a_bad_viewport_is_named(raw: str) -> None:
    with pytest.raises(ValueError, match="viewport: expected width,height"):
        parse_viewport(raw)


def test_good_window_and_viewport_parse() -> None:
    assert parse_window(" 40, 400, LINEAR-EXACT") == Window(40.0, 400.0, "LINEAR_EXACT")
    assert parse_viewport("512,256") == (512, 256)
