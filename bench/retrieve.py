"""`make bench`: DICOMweb retrieval from Garde's web app, against Orthanc (with its DICOMweb
plugin) serving the same files, in the same run.

    .venv/bin/python -m bench.retrieve [--instances 1000] [--series 4] [--threads 4]
                                       [--rounds 3] [--servers garde,orthanc] [--keep]

One study is written once to a temporary folder: `--instances` copies of pydicom's
CT_small.dcm (128x128, 16 bits) under new SOP Instance UIDs, in `--series` series. Each server
starts empty and is given the study by STOW-RS (untimed), then, `--rounds` times: WADO-RS of
the whole study on one request, its multipart body parsed as it streams in; and frame 1 of
every instance, one request each, from `--threads` client threads. What came back is counted:
a short count fails the run. See bench/README.md for how to read the table.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from bench.stack import GARDE, Processes, free_port, say, stop_on_signals
from garde.accounts import add_user, create_token
from garde.db import make_engine, make_session_factory, upgrade
from garde.domain import Role
from garde.registry import create_site
from garde.temporal import wait_for_port
from web.multipart_related import parts

INSTANCES = 1000
SERIES = 4
THREADS = 4
STOW_BATCH = 100  # instances per STOW-RS request
SERVERS = ("garde", "orthanc")
ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")  # orthanc-dicomweb
STUDY_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
TIMEOUT_S = 300


@dataclass(frozen=True)
class Written:
    """The study written for the run."""

    study_uid: str
    files: list[Path]
    uids: list[tuple[str, str]]  # (series, instance) per file
    size_bytes: int


def write_study(folder: Path, instances: int, series: int) -> Written:
    """CT_small.dcm, `instances` times under new SOP Instance UIDs, in one study."""
    template = get_testdata_file("CT_small.dcm")
    if template is None:
        raise RuntimeError("pydicom's test file CT_small.dcm is missing")
    ds = dcmread(template)
    ds.StudyInstanceUID = generate_uid()
    ds.AccessionNumber = "BENCHRETR"
    series_uids = [generate_uid() for _ in range(series)]
    folder.mkdir(parents=True)
    files, uids = [], []
    for n in range(instances):
        ds.SeriesInstanceUID = series_uids[n * series // instances]
        ds.SeriesNumber = n * series // instances + 1
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = n + 1
        path = folder / f"{n:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
        uids.append((ds.SeriesInstanceUID, ds.SOPInstanceUID))
    return Written(ds.StudyInstanceUID, files, uids, sum(p.stat().st_size for p in files))


class Server:
    """A DICOMweb server started empty: its root URL and the headers a client sends."""

    name: str
    root: str
    headers: dict[str, str]

    def start(self, folder: Path, processes: Processes) -> None:
        raise NotImplementedError


class Garde(Server):
    """`garde web` as deployed, with a data folder and SQLite database of its own; one site,
    whose bearer token stores the study and reads it back (a site reads its own studies)."""

    name = "garde"

    def start(self, folder: Path, processes: Processes) -> None:
        url = f"sqlite:///{folder / 'garde.db'}"
        upgrade(url)
        sessions = make_session_factory(make_engine(url))
        with sessions.begin() as s:
            create_site(s, {"code": "bench", "name": "Bench", "ae_titles": ["BENCHPACS"]})
            user = add_user(s, "bench-site", secrets.token_urlsafe(16), Role.SITE, "bench")
            token = create_token(s, user)
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GARDE_")},
            "GARDE_DATA_DIR": str(folder / "data"),
            "GARDE_DATABASE_URL": url,
            "GARDE_WEB_HOST": "127.0.0.1",
            "GARDE_WEB_PORT": str(port),
            "GARDE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            # No case to tell: nothing listens there.
            "GARDE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        }
        web = processes.start(self.name, [*GARDE, "web"], env)
        wait_for_port("127.0.0.1", port, web)
        self.root = f"http://127.0.0.1:{port}/dicomweb"
        self.headers = {"Authorization": f"Bearer {token}"}


class Orthanc(Server):
    """Orthanc with its DICOMweb plugin (Debian package orthanc-dicomweb) and its defaults
    otherwise; loopback only, so no login."""

    name = "orthanc"

    def start(self, folder: Path, processes: Processes) -> None:
        http = free_port()
        config = folder / "orthanc.json"
        config.write_text(
            json.dumps(
                {
                    "Name": "bench",
                    "StorageDirectory": str(folder / "storage"),
                    "IndexDirectory": str(folder / "index"),
                    "DicomPort": free_port(),
                    "HttpPort": http,
                    "RemoteAccessAllowed": False,
                    "Plugins": [str(ORTHANC_PLUGIN)],
                    "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
                }
            )
        )
        process = processes.start(self.name, ["Orthanc", str(config)], os.environ.copy())
        wait_for_port("127.0.0.1", http, process)
        self.root = f"http://127.0.0.1:{http}/dicom-web"
        self.headers = {}


MAKERS: dict[str, Callable[[], Server]] = {"garde": Garde, "orthanc": Orthanc}


def store(server: Server, study: Written) -> None:
    """STOW-RS, STOW_BATCH instances a request; any failure stops the run."""
    for start in range(0, len(study.files), STOW_BATCH):
        boundary = secrets.token_hex(16)
        body = bytearray()
        for path in study.files[start : start + STOW_BATCH]:
            body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            body += path.read_bytes() + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        answer = requests.post(
            f"{server.root}/studies",
            data=bytes(body),
            headers={
                **server.headers,
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Accept": "application/dicom+json",
            },
            timeout=TIMEOUT_S,
        )
        if answer.status_code != 200:
            raise RuntimeError(
                f"STOW-RS to {server.name}: {answer.status_code} {answer.text[:500]}"
            )


@dataclass(frozen=True)
class Got:
    """What one retrieval brought back."""

    seconds: float
    items: int  # DICOM instances, or frames
    size_bytes: int  # the parts' content


def _boundary(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"')
    raise RuntimeError(f"no boundary in {content_type!r}")


def _parts(answer: requests.Response) -> Iterator[bytes]:
    """The content of each part of a multipart answer, parsed as it streams in."""
    if answer.status_code != 200:
        raise RuntimeError(f"GET {answer.url}: {answer.status_code} {answer.text[:500]}")
    answer.raw.decode_content = True
    for part in parts(answer.raw, _boundary(answer.headers["Content-Type"])):
        yield part.read()


def retrieve_study(server: Server, study: Written) -> Got:
    """WADO-RS of the whole study on one request; a part counts when it is a DICOM file."""
    start = time.perf_counter()
    items = size = 0
    with requests.get(
        f"{server.root}/studies/{study.study_uid}",
        headers={**server.headers, "Accept": STUDY_ACCEPT},
        stream=True,
        timeout=TIMEOUT_S,
    ) as answer:
        for content in _parts(answer):
            items += content[128:132] == b"DICM"
            size += len(content)
    return Got(time.perf_counter() - start, items, size)


def retrieve_frames(server: Server, study: Written, threads: int) -> Got:
    """Frame 1 of every instance, one request each, from `threads` keep-alive clients."""
    urls = [
        f"{server.root}/studies/{study.study_uid}/series/{series}/instances/{instance}/frames/1"
        for series, instance in study.uids
    ]
    headers = {**server.headers, "Accept": FRAME_ACCEPT}

    def fetch(share: list[str]) -> tuple[int, int]:
        items = size = 0
        with requests.Session() as session:
            for url in share:
                with session.get(url, headers=headers, stream=True, timeout=TIMEOUT_S) as answer:
                    frames = list(_parts(answer))
                items += len(frames) == 1
                size += sum(map(len, frames))
        return items, size

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        done = list(pool.map(fetch, [urls[t::threads] for t in range(threads)]))
    seconds = time.perf_counter() - start
    return Got(seconds, sum(items for items, _ in done), sum(size for _, size in done))


KINDS = ("study", "frames")


def measure(
    names: list[str], study: Written, threads: int, rounds: int, folder: Path, processes: Processes
) -> dict[tuple[str, str], list[Got]]:
    """Each server started and given the study, then both retrievals `rounds` times."""
    runs: dict[tuple[str, str], list[Got]] = {}
    for name in names:
        server = MAKERS[name]()
        here = folder / name
        here.mkdir(parents=True)
        server.start(here, processes)
        try:
            say(f"storing {len(study.files)} instances into {name} by STOW-RS ...")
            store(server, study)
            for r in range(rounds):
                say(f"round {r + 1}/{rounds}: {name} ...")
                runs.setdefault((name, "study"), []).append(retrieve_study(server, study))
                got = retrieve_frames(server, study, threads)
                runs.setdefault((name, "frames"), []).append(got)
        finally:
            processes.stop(name)
    return runs


def table(runs: dict[tuple[str, str], list[Got]], study: Written, threads: int, rounds: int) -> str:
    """Medians over the rounds: seconds, instances/s, MB/s, and Garde's over Orthanc's."""
    instances = len(study.files)
    series = len({s for s, _ in study.uids})
    labels = {"study": "study, WADO-RS", "frames": f"frames, {threads} threads"}
    lines = [
        f"{instances} instances of CT_small.dcm (128x128 16-bit, {study.size_bytes / 1e6:.0f} MB)"
        f" in one study of {series} series, stored by STOW-RS; median of {rounds} round(s)",
        f"{'server':<10}{'retrieval':<20}{'seconds':>9}{'instances/s':>13}{'MB/s':>8}{'got':>11}",
        "-" * 71,
    ]
    rates: dict[tuple[str, str], tuple[float, float]] = {}
    for kind in KINDS:
        for name in SERVERS:
            if (name, kind) not in runs:
                continue
            done = runs[(name, kind)]
            seconds = statistics.median(got.seconds for got in done)
            size = statistics.median(got.size_bytes for got in done)
            got = min(got.items for got in done)
            rates[(name, kind)] = (instances / seconds, size / 1e6 / seconds)
            lines.append(
                f"{name:<10}{labels[kind]:<20}{seconds:>9.2f}{instances / seconds:>13.1f}"
                f"{size / 1e6 / seconds:>8.1f}{f'{got}/{instances}':>11}"
            )
    for kind in KINDS:
        if ("garde", kind) in rates and ("orthanc", kind) in rates:
            (g_items, g_mb), (o_items, o_mb) = rates[("garde", kind)], rates[("orthanc", kind)]
            lines.append(
                f"{'garde / orthanc':<16}{labels[kind]:<24}{g_items / o_items:>6.2f}x instances/s"
                f"{g_mb / o_mb:>8.2f}x MB/s"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.retrieve", description="DICOMweb retrieval")
    parser.add_argument("--instances", type=int, default=INSTANCES, help="default 1000")
    parser.add_argument("--series", type=int, default=SERIES, help="default 4")
    parser.add_argument("--threads", type=int, default=THREADS, help="frame clients (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="default garde,orthanc")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    args.servers = args.servers.split(",")
    if any(name not in SERVERS for name in args.servers):
        parser.error(f"--servers: a comma-separated list of {', '.join(SERVERS)}")
    if min(args.series, args.threads, args.rounds) < 1 or args.instances < args.series:
        parser.error("--series, --threads and --rounds at least 1, --instances at least --series")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_signals()
    servers = []
    for name in args.servers:
        if name == "orthanc" and shutil.which("Orthanc") is None:
            print("orthanc: skipped, Orthanc is not installed (Debian package orthanc)")
        elif name == "orthanc" and not ORTHANC_PLUGIN.exists():
            print("orthanc: skipped, its DICOMweb plugin is not installed (orthanc-dicomweb)")
        else:
            servers.append(name)
    folder = Path(tempfile.mkdtemp(prefix="garde-bench-retrieve-"))
    processes = Processes(folder / "logs")
    ok = False
    try:
        say(f"writing {args.instances} CT objects in {folder} ...")
        study = write_study(folder / "study", args.instances, args.series)
        runs = measure(servers, study, args.threads, args.rounds, folder / "runs", processes)
        print(table(runs, study, args.threads, args.rounds))
        short = [
            (name, kind, got.items)
            for (name, kind), done in runs.items()
            for got in done
            if got.items < len(study.files)
        ]
        for name, kind, items in short:
            print(f"{name}, {kind}: got {items} of {len(study.files)}")
        ok = not short
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        processes.stop_all()
        if args.keep or not ok:
            say(f"kept {folder} (logs in {folder / 'logs'})")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
