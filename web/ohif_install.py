"""`make ohif`: OHIF's prebuilt viewer, the npm package @ohif/app at a pinned version, unpacked
where `garde web` serves it, at /ohif (web/ohif.py).

The package's `dist/` is built to be served from a site's root: its page, scripts and style
sheets name their files from "/". They are rewritten to /ohif/ as they are unpacked, so the
viewer shares Garde's origin (the session cookie reaches /dicomweb, no CORS) without building
OHIF from source. Its own app-config.js (a demo server's) is left out: Garde writes its own
per request. So is its service worker and the web hosts' files. npm's cache keeps the package:
a second run, or a second machine's after the first, does not download it again.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from garde.settings import Settings

VERSION = "3.13.2"
PACKAGE = f"@ohif/app@{VERSION}"
PREFIX = "/ohif/"
# Written into the folder last: a folder without it is an interrupted install.
STAMP = ".ohif-version"
# Garde's app-config.js replaces the package's; a service worker would cache a study's pages;
# the rest configures other web hosts (Netlify, `serve`).
LEFT_OUT = frozenset(
    {"app-config.js", "sw.js", "init-service-worker.js", "_headers", "_redirects", "serve.json"}
)
# Every bundle's webpack runtime loads its chunks, workers and WebAssembly from here.
PUBLIC_PATH = b'__webpack_require__.p = "/";'
SERVICE_WORKER_TAG = re.compile(r'<script[^>]*src="/init-service-worker\.js"[^>]*></script>')


class PackageChanged(Exception):
    """The package no longer looks as this module expects: its version was changed by hand."""


def install(target: Path) -> bool:
    """OHIF unpacked into `target`; False when that version is there already."""
    stamp = target / STAMP
    if stamp.is_file() and stamp.read_text().strip() == VERSION:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as work:
        tarball = _pack(Path(work))
        unpacked = Path(work) / "dist"
        _unpack(tarball, unpacked)
        (unpacked / STAMP).write_text(VERSION + "\n")
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    return True


def _pack(into: Path) -> Path:
    """`npm pack`: the package's tarball, from npm's cache when it holds it."""
    done = subprocess.run(
        ["npm", "pack", PACKAGE, "--prefer-offline", "--loglevel=error"]
        + ["--pack-destination", str(into)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = " ".join(done.stderr.strip().splitlines()[:4])  # npm's code, then its reason
        raise RuntimeError(f"npm pack {PACKAGE} failed: {said}")
    return into / done.stdout.strip().splitlines()[-1]


def _unpack(tarball: Path, into: Path) -> None:
    rewritten_bundles = 0
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            parts = PurePosixPath(member.name).parts
            if parts[:2] != ("package", "dist") or not member.isfile():
                continue
            relative = PurePosixPath(*parts[2:])
            if ".." in relative.parts or str(relative) in LEFT_OUT:
                continue
            source = archive.extractfile(member)
            assert source is not None, "a regular file has contents"
            data = source.read()
            if relative.suffix == ".js" and PUBLIC_PATH in data:
                data = data.replace(PUBLIC_PATH, f'__webpack_require__.p = "{PREFIX}";'.encode())
                rewritten_bundles += 1
            elif relative.suffix == ".css":
                data = data.replace(b"url(/", f"url({PREFIX}".encode())
            elif str(relative) == "index.html":
                data = _page(data.decode()).encode()
            path = into.joinpath(*relative.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if not rewritten_bundles or not (into / "index.html").is_file():
        raise PackageChanged(
            f"{PACKAGE} has no index.html or no bundle setting its public path to /: "
            "it cannot be served at /ohif by rewriting"
        )


def _page(html: str) -> str:
    """index.html naming its files under /ohif/, without the service worker's script."""
    html = SERVICE_WORKER_TAG.sub("", html)
    html = html.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{PREFIX}"')
    return re.sub(r'(href|src|content)="/(?!/)', rf'\1="{PREFIX}', html)


def main() -> int:
    target = Settings.from_env().ohif_dir
    assert target is not None, "from_env always names the folder"
    if shutil.which("npm") is None:
        print("npm is missing: no OHIF viewer at /ohif (Debian: apt-get install npm)")
        return 0
    try:
        fresh = install(target)
    except (RuntimeError, PackageChanged) as e:
        print(f"OHIF not installed: {e}", file=sys.stderr)
        return 1
    print(f"OHIF {VERSION} {'unpacked into' if fresh else 'already in'} {target}, at {PREFIX}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
