"""OHIF's viewer at /ohif, on Garde's own origin, reading Garde's DICOMweb.

The files are those `make ohif` unpacked (web/ohif_install.py), served read-only; without
them /ohif is not found. Its configuration, app-config.js, is Garde's, written per request:

- the default data source is /dicomweb on the origin the browser came by, which the session
  cookie opens (a coordinator, a site, an expert: web/access.py's rule);
- a signed viewer link's or a share link's root (/viewer/TOKEN/dicomweb,
  /share/TOKEN/dicomweb), which no cookie opens, is read through OHIF's `dicomwebproxy` data
  source: /ohif/viewer/dicomwebproxy?url=/ohif/datasource.json?root=ROOT&studyInstanceUIDs=UID,
  where datasource.json describes that root. `viewer_url` writes those links.

OHIF needs what Garde's pages are refused: WebAssembly and workers (its image decoders), blob:
and data: images, two inline scripts in its page (allowed by their hashes). Its policy is its
own and lets it reach Garde's origin only, so a crafted `url=` cannot point it elsewhere.
Its files hold no patient data: they may be cached (the bundles' names carry their hash).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    has_request_context,
    request,
    send_from_directory,
)

from garde.errors import InvalidInput
from garde.settings import Settings
from web import services

bp = Blueprint("ohif", __name__, url_prefix="/ohif")

# The roots Garde serves DICOMweb at (web/dicomweb_read.py), as paths on its origin.
DICOMWEB_ROOT = re.compile(r"/(?:dicomweb|(?:viewer|share)/[A-Za-z0-9._~-]+/dicomweb)")
# A day: a new version has new bundle names; the page itself is asked for again each time.
FILES_MAX_AGE_S = 86400
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def served(settings: Settings) -> Path | None:
    """The folder OHIF is served from, None when `make ohif` has not unpacked it there."""
    folder = settings.ohif_dir
    return folder if folder is not None and (folder / "index.html").is_file() else None


def viewer_url(settings: Settings, study_uid: str, dicomweb_root: str) -> str | None:
    """Garde's OHIF opening one study from a DICOMweb root of Garde's (/dicomweb, a viewer or
    a share link's), absolute from GARDE_PUBLIC_URL; None when no OHIF is served."""
    if served(settings) is None:
        return None
    base = f"{settings.public_url}/ohif/viewer"
    study = quote(study_uid, safe="")
    if _root_path(dicomweb_root, settings) == "/dicomweb":
        return f"{base}?StudyInstanceUIDs={study}"
    source = f"/ohif/datasource.json?root={quote(dicomweb_root, safe='')}"
    # dicomwebproxy reads its study from `studyInstanceUIDs`, spelt so (OHIF 3.13).
    return f"{base}/dicomwebproxy?url={quote(source, safe='')}&studyInstanceUIDs={study}"


@bp.before_request
def unpacked() -> None:
    if served(services().settings) is None:
        abort(404)


@bp.after_request
def policy(response: Response) -> Response:
    """OHIF's own Content-Security-Policy (web/security_headers.py keeps a view's own)."""
    folder = served(services().settings)
    if folder is not None:  # else a 404 page of Garde's, under Garde's policy
        response.headers["Content-Security-Policy"] = _policy(folder / "index.html")
    return response


@bp.get("/app-config.js")
def app_config() -> Response:
    """Garde's configuration for OHIF: its DICOMweb, and the proxy for token roots."""
    root = request.host_url.rstrip("/")
    config = {
        "routerBasename": "/ohif",
        "extensions": [],
        "modes": [],
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showLoadingIndicator": True,
        "showCPUFallbackMessage": True,
        "showWarningMessageForCrossOrigin": False,
        "strictZSpacingForVolumeViewport": True,
        # OHIF's banner "for investigational use" would greet every expert at every study.
        "investigationalUseDialog": {"option": "never"},
        # Nor would its guided tour, over the image, at each new browser.
        "customizationService": {"ohif.tours": {"$set": []}},
        "defaultDataSourceName": "garde",
        "dataSources": [
            _source("garde", "Garde", f"{root}/dicomweb"),
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomwebproxy",
                "sourceName": "dicomwebproxy",
                "configuration": {"friendlyName": "Garde (link)", "name": "dicomwebproxy"},
            },
        ],
    }
    body = f"window.config = {json.dumps(config, indent=1)};\n"
    return Response(body, mimetype="text/javascript")


@bp.get("/datasource.json")
def datasource() -> Response:
    """What OHIF's dicomwebproxy reads: one of Garde's DICOMweb roots as a data source."""
    root = request.args.get("root", "")
    if _root_path(root, services().settings) is None:
        raise InvalidInput(
            {
                "root": "must be one of Garde's DICOMweb roots: /dicomweb, /viewer/TOKEN/dicomweb "
                "or /share/TOKEN/dicomweb, as a path or on Garde's address"
            }
        )
    absolute = root if root.startswith("http") else request.host_url.rstrip("/") + root
    source = _source("link", "Garde (link)", absolute)["configuration"]
    return Response(json.dumps({"servers": {"dicomWeb": [source]}}), mimetype="application/json")


@bp.get("/", defaults={"path": "index.html"})
@bp.get("/<path:path>")
def files(path: str) -> Response:
    """OHIF's files; any other path is one of its pages (/ohif/viewer...): its index.html."""
    folder = served(services().settings)
    assert folder is not None, "checked before the request"
    if path != "index.html" and (folder / path).is_file():
        return send_from_directory(folder, path, max_age=FILES_MAX_AGE_S)
    return send_from_directory(folder, "index.html", max_age=0)


def _source(name: str, friendly: str, root: str) -> dict[str, object]:
    """A DICOMweb data source at `root`, as Garde's DICOMweb answers (web/dicomweb_read.py):
    QIDO with includefield and fuzzy matching, WADO-RS frames and metadata with absolute
    BulkDataURIs."""
    return {
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": name,
        "configuration": {
            "friendlyName": friendly,
            "name": name,
            "qidoRoot": root,
            "wadoRoot": root,
            "wadoUriRoot": root,
            "qidoSupportsIncludeField": True,
            "supportsFuzzyMatching": True,
            "supportsWildcard": True,
            "supportsReject": False,
            "dicomUploadEnabled": False,
            "imageRendering": "wadors",
            "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True,
            "staticWado": False,
            "bulkDataURI": {"enabled": True},
        },
    }


def _root_path(root: str, settings: Settings) -> str | None:
    """The path of `root` when it is one of Garde's DICOMweb roots, given as a path or an
    absolute URL on Garde's public or requested address; None otherwise."""
    parts = urlsplit(root)
    if parts.scheme or parts.netloc:
        origins = {_origin(settings.public_url)}
        if has_request_context():
            origins.add(_origin(request.host_url))
        if _origin(root) not in origins:
            return None
    if parts.query or parts.fragment or not DICOMWEB_ROOT.fullmatch(parts.path):
        return None
    return parts.path


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _policy(page: Path) -> str:
    return _policy_of(page, page.stat().st_mtime_ns)


@functools.cache
def _policy_of(page: Path, _version: int) -> str:
    """The policy for OHIF's page, as unpacked (its modification time keys the cache)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(page.read_text())
    )
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'wasm-unsafe-eval' {hashes}",
            "worker-src 'self' blob:",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
