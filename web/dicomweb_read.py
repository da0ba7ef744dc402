"""DICOMweb reads (PS3.18): QIDO-RS searches, WADO-RS retrieval of instances, metadata, frames
and bulk data, and rendered images, on one blueprint registered at three roots: `/dicomweb`
(a bearer token or the session), `/viewer/<token>/dicomweb` (a signed link to one case) and
`/share/<token>/dicomweb` (a share link's one study). Who reads what is decided once per
request, in `resolve_scope`, by web/dicomweb_access.py; every view reads only through it.

Answers are streamed a file at a time (a study is never held in memory); every URL Garde
writes into an answer (RetrieveURL, BulkDataURI) is absolute (GARDE_PUBLIC_URL), under the
root the client came through, and names UIDs only. A de-identified share sees and asks by
its own UIDs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from flask import Blueprint, Flask, Response, g, jsonify, request, stream_with_context
from pydicom.dataset import Dataset
from sqlalchemy import ColumnElement, select
from werkzeug.exceptions import HTTPException

from dicom import retrieve, search
from dicom.rendering import (
    MEDIA_TYPES,
    NotRenderable,
    Window,
    parse_viewport,
    parse_window,
    render,
    thumbnail,
)
from dicom.retrieve import DICOM, Part
from garde.errors import GardeError, InvalidInput, NotFound
from garde.models import Instance, Series, Study
from garde.shares import find_share, record_access
from web import services
from web.dicomweb_access import (
    READ_METHODS,
    ROOT,
    SHARE_ROOT,
    VIEWER_ROOT,
    Scope,
    bearer_scope,
    share_scope,
    viewer_scope,
)

bp = Blueprint("dicomweb_read", __name__)
BEARER, VIEWER, SHARE = "dicomweb_read", "viewer_dicomweb", "share_dicomweb"
JSON = "application/dicom+json"
INSTANCE = "/studies/<study>/series/<series>/instances/<instance>"


def register(app: Flask) -> None:
    """The one blueprint at its three roots."""
    app.register_blueprint(bp, url_prefix=ROOT, name=BEARER)
    app.register_blueprint(bp, url_prefix=VIEWER_ROOT, name=VIEWER)
    app.register_blueprint(bp, url_prefix=SHARE_ROOT, name=SHARE)


@bp.url_value_preprocessor
def take_token(_endpoint: str | None, values: dict[str, object] | None) -> None:
    g.dicomweb_token = values.pop("token", None) if values else None


@bp.before_request
def resolve_scope() -> None:
    if request.method not in READ_METHODS:
        return
    token = str(g.dicomweb_token or "")
    if request.blueprint == VIEWER:
        g.scope = viewer_scope(g.db, token)
    elif request.blueprint == SHARE:
        g.share = find_share(g.db, token)  # recorded below, expired or revoked too
        g.scope = share_scope(g.db, g.share)
    else:
        g.scope = bearer_scope(g.get("user"))
    # Under GARDE_PUBLIC_URL, not the Host header a client sends (some send it without port).
    path = request.path
    g.dicomweb_root = _public_url() + path[: path.index(ROOT) + len(ROOT)]


@bp.after_request
def log_share_access(response: Response) -> Response:
    """Every use of a share link is on record: what was asked and how it was answered."""
    share = g.get("share")
    if share is not None:
        what = (request.endpoint or "").rpartition(".")[2].split("_")[0]
        record_access(g.db, share, what, response.status_code, request.remote_addr)
    return response


@bp.errorhandler(GardeError)
def garde_error(e: GardeError) -> tuple[Response, int]:
    """JSON at every root (the app's handler answers pages outside /dicomweb)."""
    return jsonify({"error": e.message, "detail": e.detail}), e.status


@bp.errorhandler(HTTPException)
def http_error(e: HTTPException) -> tuple[Response, int]:
    return jsonify({"error": e.name.lower(), "detail": e.description}), e.code or 500


def _scope() -> Scope:
    scope: Scope = g.scope
    return scope


# QIDO-RS -----------------------------------------------------------------------------------


@bp.get("/studies")
def qido_studies() -> Response:
    return _search("study")


@bp.get("/series")
def qido_all_series() -> Response:
    return _search("series")


@bp.get("/instances")
def qido_all_instances() -> Response:
    return _search("instance")


@bp.get("/studies/<study>/series")
def qido_series(study: str) -> Response:
    return _search("series", study)


@bp.get("/studies/<study>/instances")
def qido_study_instances(study: str) -> Response:
    return _search("instance", study)


@bp.get("/studies/<study>/series/<series>/instances")
def qido_instances(study: str, series: str) -> Response:
    return _search("instance", study, series)


def _search(level: search.Level, study: str | None = None, series: str | None = None) -> Response:
    scope = _scope()
    query = search.parse_query(level, request.args.items(multi=True))
    # A de-identified share is searched by what it shows, never by the identity it hides.
    shown = {k: query.match.pop(k) for k in list(query.match) if k in scope.private_keys}
    for keyword in search.UID_KEYS:
        if keyword in query.match:
            query.match[keyword] = [scope.uid_in(u) or "0" for u in query.match[keyword]]
    within = _within(study, series)
    if study is not None and g.db.scalar(select(Study.id).where(within).limit(1)) is None:
        raise NotFound(f"no study {study}")
    page = search.search(g.db, query, within)
    found = search.data_sets(g.db, query, page.found, _data_dir().joinpath)
    answers = []
    for result, ds in zip(page.found, found, strict=True):
        if scope.change is not None:
            ds = scope.change(ds)
            if not all(_shows(ds, keyword, values) for keyword, values in shown.items()):
                continue
        ds.RetrieveURL = _url(result.study, result.series, result.instance)
        answers.append(ds.to_json_dict())
    response = Response(json.dumps(answers), mimetype=JSON)
    warnings = []
    if query.ignored:
        warnings.append(f"The following attributes were not matched: {', '.join(query.ignored)}")
    if page.more:
        warnings.append("There are more results: ask again with limit and offset")
    for text in warnings:
        response.headers.add("Warning", f'299 garde "{text}"')
    return response


def _shows(ds: Dataset, keyword: str, values: list[str]) -> bool:
    """Whether a de-identified data set's value matches one of the asked (`*` and `?`
    wildcards, any case): OHIF looks up a patient's other studies by the PatientID it was
    shown."""
    value = str(ds.get(keyword, "") or "")
    return any(
        re.fullmatch(re.escape(v).replace(r"\*", ".*").replace(r"\?", "."), value, re.I)
        for v in values
    )


def _within(
    study: str | None, series: str | None = None, instance: str | None = None
) -> ColumnElement[bool]:
    """The scope narrowed to the path's UIDs (as this root names them)."""
    scope = _scope()
    condition = scope.studies
    for uid, column in (
        (study, Study.study_instance_uid),
        (series, Series.series_instance_uid),
        (instance, Instance.sop_instance_uid),
    ):
        if uid is not None:
            stored = scope.uid_in(uid)
            if stored is None:
                raise NotFound(f"no such UID {uid}")
            condition = condition & (column == stored)
    return condition


def _url(study: Study, series: Series | None = None, instance: Instance | None = None) -> str:
    out = _scope().uid_out
    url = f"{g.dicomweb_root}/studies/{out(study.study_instance_uid)}"
    if series is not None:
        url += f"/series/{out(series.series_instance_uid)}"
    if instance is not None:
        url += f"/instances/{out(instance.sop_instance_uid)}"
    return url


def _data_dir() -> Path:
    return services().settings.data_dir


def _public_url() -> str:
    return services().settings.public_url


# WADO-RS -----------------------------------------------------------------------------------


def _instances(
    study: str, series: str | None = None, instance: str | None = None
) -> list[tuple[Study, Series, Instance]]:
    """The stored instances at this path in scope, in order; NotFound when none."""
    statement = (
        select(Study, Series, Instance)
        .join(Series, Series.study_id == Study.id)
        .join(Instance, Instance.series_id == Series.id)
        .where(_within(study, series, instance))
        .order_by(Series.id, Instance.id)
    )
    found = [(a, b, c) for a, b, c in g.db.execute(statement)]
    if not found:
        raise NotFound("no such study, series or instance")
    return found


@bp.get("/studies/<study>")
def wado_study(study: str) -> Response:
    return _retrieve(_instances(study))


@bp.get("/studies/<study>/series/<series>")
def wado_series(study: str, series: str) -> Response:
    return _retrieve(_instances(study, series))


@bp.get(INSTANCE)
def wado_instance(study: str, series: str, instance: str) -> Response:
    return _retrieve(_instances(study, series, instance))


def _retrieve(found: list[tuple[Study, Series, Instance]]) -> Response:
    retrieve.check_dicom_accepted(
        request.headers.get("Accept"), {i.transfer_syntax_uid for _, _, i in found}
    )
    data_dir, change = _data_dir(), _scope().change
    paths = [data_dir / i.path for _, _, i in found]
    boundary = retrieve.new_boundary()
    parts = (retrieve.dicom_part(path, change) for path in paths)
    return Response(
        stream_with_context(retrieve.multipart(parts, boundary)),
        content_type=retrieve.multipart_type(DICOM, boundary),
    )


@bp.get("/studies/<study>/metadata")
def metadata_study(study: str) -> Response:
    return _metadata(_instances(study))


@bp.get("/studies/<study>/series/<series>/metadata")
def metadata_series(study: str, series: str) -> Response:
    return _metadata(_instances(study, series))


@bp.get(f"{INSTANCE}/metadata")
def metadata_instance(study: str, series: str, instance: str) -> Response:
    return _metadata(_instances(study, series, instance))


def _metadata(found: list[tuple[Study, Series, Instance]]) -> Response:
    data_dir, change = _data_dir(), _scope().change
    urls = [_url(*row) for row in found]
    paths = [data_dir / i.path for _, _, i in found]

    def body() -> Iterator[bytes]:
        yield b"["
        for n, (path, url) in enumerate(zip(paths, urls, strict=True)):
            data = retrieve.metadata(path, _bulk_url(url), change)
            yield (b"," if n else b"") + json.dumps(data).encode()
        yield b"]"

    return Response(stream_with_context(body()), mimetype=JSON)


def _bulk_url(instance_url: str) -> Callable[[str], str]:
    return lambda tags: f"{instance_url}/bulkdata/{tags}"


@bp.get(f"{INSTANCE}/frames/<frames>")
def frames(study: str, series: str, instance: str, frames: str) -> Response:
    try:
        numbers = retrieve.frame_numbers(frames)
    except ValueError as e:
        raise InvalidInput({"frames": str(e)}) from None
    [(_, _, found)] = _instances(study, series, instance)
    return _frames(_data_dir() / found.path, numbers)


def _frames(path: Path, numbers: list[int] | None) -> Response:
    """The frames `numbers` (None: all) of the file, one part each."""
    if numbers is None:
        numbers = list(range(1, retrieve.frame_count(path) + 1))
    got = retrieve.frames(path, numbers)
    part_type = retrieve.frame_media_type(request.headers.get("Accept"), got)
    boundary = retrieve.new_boundary()
    parts = (Part(part_type, [data]) for data in got.data)
    return Response(
        stream_with_context(retrieve.multipart(parts, boundary)),
        content_type=retrieve.multipart_type(part_type.split(";")[0], boundary),
    )


@bp.get(f"{INSTANCE}/bulkdata/<path:tags>")
def bulkdata(study: str, series: str, instance: str, tags: str) -> Response:
    """A BulkDataURI of the metadata: Pixel Data as its frames, another value as one part."""
    [(_, _, found)] = _instances(study, series, instance)
    path = _data_dir() / found.path
    steps = tags.split("/")
    if steps == ["7FE00010"]:
        return _frames(path, None)
    value = retrieve.bulk_value(path, steps, _scope().change)
    boundary = retrieve.new_boundary()
    return Response(
        retrieve.multipart([Part(retrieve.OCTET, [value])], boundary),
        content_type=retrieve.multipart_type(retrieve.OCTET, boundary),
    )


# Rendered images and thumbnails ------------------------------------------------------------


@bp.get(f"{INSTANCE}/rendered")
def rendered_instance(study: str, series: str, instance: str) -> Response:
    [(_, _, found)] = _instances(study, series, instance)
    return _rendered(found, 1)


@bp.get(f"{INSTANCE}/frames/<frames>/rendered")
def rendered_frame(study: str, series: str, instance: str, frames: str) -> Response:
    [(_, _, found)] = _instances(study, series, instance)
    return _rendered(found, _one_frame(frames))


@bp.get("/studies/<study>/series/<series>/rendered")
def rendered_series(study: str, series: str) -> Response:
    return _rendered_each(_instances(study, series))


@bp.get("/studies/<study>/rendered")
def rendered_study(study: str) -> Response:
    return _rendered_each(_instances(study))


@bp.get(f"{INSTANCE}/thumbnail")
def thumbnail_instance(study: str, series: str, instance: str) -> Response:
    return _thumbnail(_instances(study, series, instance))


@bp.get(f"{INSTANCE}/frames/<frames>/thumbnail")
def thumbnail_frame(study: str, series: str, instance: str, frames: str) -> Response:
    [(_, _, found)] = _instances(study, series, instance)
    return _rendered(found, _one_frame(frames), small=True)


@bp.get("/studies/<study>/series/<series>/thumbnail")
def thumbnail_series(study: str, series: str) -> Response:
    return _thumbnail(_instances(study, series))


@bp.get("/studies/<study>/thumbnail")
def thumbnail_study(study: str) -> Response:
    return _thumbnail(_instances(study))


def _one_frame(frames: str) -> int:
    try:
        numbers = retrieve.frame_numbers(frames)
    except ValueError as e:
        raise InvalidInput({"frames": str(e)}) from None
    if len(numbers) != 1:
        raise InvalidInput({"frames": "a rendered frame is one frame"})
    return numbers[0]


def _image_type() -> str:
    """PNG or JPEG as the Accept header prefers (PNG for anything); 406 for neither."""
    for item in retrieve.accepted(request.headers.get("Accept")):
        for media_type in MEDIA_TYPES:
            if retrieve.covers(item.media_type, media_type):
                return media_type
    raise retrieve.NotAcceptable(
        "Garde renders PNG or JPEG", {"Accept": f"must take {' or '.join(MEDIA_TYPES)}"}
    )


def _size() -> int:
    """A thumbnail's square side: the larger of PS3.18's `viewport=width,height`; 128."""
    raw = request.args.get("viewport")
    if raw is None:
        return 128
    try:
        return max(parse_viewport(raw))
    except ValueError as e:
        raise InvalidInput({"viewport": str(e)}) from None


def _viewport_and_window() -> tuple[tuple[int, int] | None, Window | None]:
    """PS3.18's `viewport=width,height` and `window=center,width,function`, when given."""
    viewport = window = None
    try:
        if (raw := request.args.get("viewport")) is not None:
            viewport = parse_viewport(raw)
        if (raw := request.args.get("window")) is not None:
            window = parse_window(raw)
    except ValueError as e:
        name = "viewport" if viewport is None and "viewport" in request.args else "window"
        raise InvalidInput({name: str(e)}) from None
    return viewport, window


def _drawn(draw: Callable[[], bytes]) -> bytes:
    try:
        return draw()
    except NotRenderable as e:
        raise InvalidInput({"instance": str(e)}) from None


def _rendered(found: Instance, frame: int, small: bool = False) -> Response:
    """One frame drawn; as a thumbnail, fitted in a `viewport` square without a window."""
    media_type = _image_type()
    viewport: tuple[int, int] | None
    if small:
        viewport, window = (_size(), _size()), None
    else:
        viewport, window = _viewport_and_window()
    path = _data_dir() / found.path
    image = _drawn(
        lambda: render(path, frame=frame, viewport=viewport, window=window, media_type=media_type)
    )
    return Response(image, mimetype=media_type)


def _rendered_each(found: list[tuple[Study, Series, Instance]]) -> Response:
    """Each instance's first frame rendered, one part each, drawn as they are sent."""
    media_type = _image_type()
    viewport, window = _viewport_and_window()
    paths = [_data_dir() / i.path for _, _, i in found]

    def drawn(path: Path) -> bytes:
        return _drawn(lambda: render(path, viewport=viewport, window=window, media_type=media_type))

    boundary = retrieve.new_boundary()
    parts = (Part(media_type, [drawn(path)]) for path in paths)
    return Response(
        stream_with_context(retrieve.multipart(parts, boundary)),
        content_type=retrieve.multipart_type(media_type, boundary),
    )


def _thumbnail(found: list[tuple[Study, Series, Instance]]) -> Response:
    """The middle instance of the (first) series, as a viewer's series thumbnail."""
    media_type, size = _image_type(), _size()
    first_series = [i for _, s, i in found if s.id == found[0][1].id]
    path = _data_dir() / first_series[len(first_series) // 2].path
    image = _drawn(lambda: thumbnail(path, size=size, media_type=media_type))
    return Response(image, mimetype=media_type)
