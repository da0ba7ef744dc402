"""WADO-RS rendered and thumbnail resources: PNG or JPEG as asked, of the size asked, at
instance, frame, series and study level (dicom/rendering.py draws them)."""

from __future__ import annotations

import io

from PIL import Image

from tests.conftest import Stack
from tests.dicomweb.conftest import Pushed, client, multipart


def _image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_rendered_and_thumbnails(stack: Stack, pushed: Pushed) -> None:
    http = client(stack, pushed.region.site_token)
    ct = pushed.ct[0]
    png = http.retrieve_instance_rendered(
        pushed.study, ct.SeriesInstanceUID, ct.SOPInstanceUID, media_types=("image/png",)
    )
    assert (_image(png).format, _image(png).size) == ("PNG", (128, 128))
    api = stack.api(pushed.region.site_token)
    instance = f"/dicomweb/studies/{pushed.study}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    jpeg = api.get(
        f"{instance}/rendered?viewport=64,64&window=40,400,linear", headers={"Accept": "image/jpeg"}
    )
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    assert (_image(jpeg.content).format, _image(jpeg.content).size) == ("JPEG", (64, 64))
    rgb = pushed.rgb
    frame = api.get(
        f"/dicomweb/studies/{pushed.study2}/series/{rgb.SeriesInstanceUID}/instances/{rgb.SOPInstanceUID}/frames/2/rendered"
    )
    assert frame.status_code == 200 and _image(frame.content).mode == "RGB"
    for path in (
        f"{instance}/thumbnail",
        f"{instance}/frames/1/thumbnail",
        f"/dicomweb/studies/{pushed.study}/series/{ct.SeriesInstanceUID}/thumbnail",
        f"/dicomweb/studies/{pushed.study}/thumbnail",
    ):
        small = api.get(f"{path}?viewport=32,32")
        assert small.status_code == 200, (path, small.text)
        assert small.headers["Content-Type"] == "image/png"
        assert max(_image(small.content).size) == 32
    series = multipart(
        api.get(f"/dicomweb/studies/{pushed.study}/series/{ct.SeriesInstanceUID}/rendered")
    )
    assert [headers["content-type"] for headers, _ in series.parts] == ["image/png"] * 2
    bad = api.get(f"{instance}/rendered?window=40")
    assert bad.status_code == 400 and "window" in bad.json()["detail"]
    assert api.get(f"{instance}/rendered", headers={"Accept": "image/gif"}).status_code == 406
