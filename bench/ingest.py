"""`make bench`: DICOM objects received per second by Garde's gateway, against dcmtk's
`storescp` writing to disk (and Orthanc when installed), in the same run.

    .venv/bin/python -m bench.ingest [--instances 1000] [--studies 10] [--rounds 3]
                                     [--receivers storescp,garde,orthanc] [--keep]

A real-sized CT series is written once to a temporary folder: `--instances` objects made
from pydicom's CT_small.dcm, each under new UIDs with 512x512 16-bit pixel data, explicit VR
little endian, in `--studies` studies of one series. dcmtk's `storescu` pushes them to each
receiver twice: all on one association, then one association per study, one after the other.
Every run has an empty receiver of its own (a repeated object would cost Garde nothing), and
is timed from starting `storescu` to the last object kept: for Garde, to the last one in its
database's index. What each receiver kept is counted afterwards: a short count fails the run.
See bench/README.md for how to read the table.
"""

from __future__ import annotations

import argparse
import array
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from bench.stack import GARDE, Processes, free_port, say, stop_on_signals
from garde.db import make_engine, make_session_factory, upgrade
from garde.models import Instance, Study
from garde.registry import create_site
from garde.temporal import wait_for_port

INSTANCES = 1000
STUDIES = 10
SIDE = 512  # rows and columns, 16 bits each
SENDER = "BENCHPACS"  # storescu's calling AE title: the AE title of Garde's site
RECEIVERS = ("storescp", "garde", "orthanc")
SCENARIOS = ("one association", "one per study")
AIMS = {"storescp": 0.5, "orthanc": 1.0}  # Garde's instances/s over theirs (issue 9)
INDEXED_WITHIN_S = 300
# Debian's dcmtk (and Orthanc, built on it) leaves Nagle's algorithm on unless told: each
# small C-STORE response would then wait for a delayed ACK, some 40 ms an object.
NO_DELAY = {**os.environ, "TCP_NODELAY": "1"}


@dataclass(frozen=True)
class Series:
    """The objects written for the run: one folder per study."""

    studies: list[Path]
    instances: int
    size_bytes: int


def write_series(folder: Path, instances: int, studies: int) -> Series:
    """CT_small.dcm made real-sized, `instances` times under new UIDs, in `studies` studies."""
    template = get_testdata_file("CT_small.dcm")
    if template is None:
        raise RuntimeError("pydicom's test file CT_small.dcm is missing")
    ds = dcmread(template)
    ds.Rows = ds.Columns = SIDE
    ramp = array.array("h", (row + column for row in range(SIDE) for column in range(SIDE)))
    if sys.byteorder == "big":
        ramp.byteswap()
    image = ramp.tobytes()  # little endian, as the transfer syntax says
    folders = []
    for s in range(studies):
        study = folder / f"study{s:02d}"
        study.mkdir(parents=True)
        folders.append(study)
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.AccessionNumber = f"BENCH{s:04d}"
        for n in range(s * instances // studies, (s + 1) * instances // studies):
            uid = generate_uid()
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
            ds.InstanceNumber = n + 1
            # A different image each time: its first row is the instance's number.
            ds.PixelData = n.to_bytes(2, "little") * SIDE + image[2 * SIDE :]
            ds.save_as(study / f"{n:05d}.dcm", enforce_file_format=True)
    size = sum(p.stat().st_size for study in folders for p in study.iterdir())
    return Series(folders, instances, size)


class Receiver:
    """A receiver started empty for one run; `kept()` counts the objects it kept."""

    name: str
    ae_title: str
    port: int

    def start(self, folder: Path, processes: Processes) -> None:
        raise NotImplementedError

    def kept(self) -> int:
        raise NotImplementedError

    def note(self) -> str:
        """What else it kept, for the line under the table."""
        return ""


class Storescp(Receiver):
    """dcmtk's storescp: writes each object to a file, checks nothing, indexes nothing."""

    name = "storescp"
    ae_title = "STORESCP"

    def start(self, folder: Path, processes: Processes) -> None:
        self.folder = folder / "received"
        self.folder.mkdir()
        self.port = free_port()
        process = processes.start(
            self.name,
            ["storescp", "-od", str(self.folder), "-aet", self.ae_title, str(self.port)],
            NO_DELAY,
        )
        wait_for_port("127.0.0.1", self.port, process)

    def kept(self) -> int:
        return sum(1 for _ in self.folder.iterdir())


class Garde(Receiver):
    """`garde gateway` with a data folder and SQLite database of its own, and one site whose
    AE title is the sender's. Kept means indexed: instances in the database."""

    name = "garde"
    ae_title = "GARDE"

    def start(self, folder: Path, processes: Processes) -> None:
        url = f"sqlite:///{folder / 'garde.db'}"
        upgrade(url)
        self.sessions = make_session_factory(make_engine(url))
        with self.sessions.begin() as s:
            create_site(s, {"code": "bench", "name": "Bench", "ae_titles": [SENDER]})
        self.port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GARDE_")},
            "GARDE_DATA_DIR": str(folder / "data"),
            "GARDE_DATABASE_URL": url,
            "GARDE_DICOM_AE_TITLE": self.ae_title,
            "GARDE_DICOM_HOST": "127.0.0.1",
            "GARDE_DICOM_PORT": str(self.port),
            "GARDE_HL7_PORT": str(free_port()),
            # No case to tell: nothing listens there.
            "GARDE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        }
        process = processes.start(self.name, [*GARDE, "gateway"], env)
        wait_for_port("127.0.0.1", self.port, process)

    def kept(self) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(Instance)) or 0

    def note(self) -> str:
        with self.sessions() as s:
            studies = s.scalar(select(func.count()).select_from(Study)) or 0
            counted = s.scalar(select(func.sum(Study.instance_count))) or 0
        return f"{studies} studies counting {counted} instances"


class Orthanc(Receiver):
    """Orthanc with its defaults (its SQLite index, each file synced to disk), any calling AE
    allowed; kept is its own count of instances."""

    name = "orthanc"
    ae_title = "ORTHANC"

    def start(self, folder: Path, processes: Processes) -> None:
        self.port = free_port()
        self.http = free_port()
        config = folder / "orthanc.json"
        config.write_text(
            json.dumps(
                {
                    "Name": "bench",
                    "StorageDirectory": str(folder / "storage"),
                    "IndexDirectory": str(folder / "index"),
                    "DicomAet": self.ae_title,
                    "DicomPort": self.port,
                    "HttpPort": self.http,
                    "RemoteAccessAllowed": False,
                    "Plugins": [],
                }
            )
        )
        process = processes.start(self.name, ["Orthanc", str(config)], NO_DELAY)
        wait_for_port("127.0.0.1", self.port, process)
        wait_for_port("127.0.0.1", self.http, process)

    def kept(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/statistics") as answer:
            count: int = json.load(answer)["CountInstances"]
            return count


MAKERS: dict[str, Callable[[], Receiver]] = {
    "storescp": Storescp,
    "garde": Garde,
    "orthanc": Orthanc,
}
NEEDS = {"storescp": "storescp", "garde": "storescu", "orthanc": "Orthanc"}


@dataclass(frozen=True)
class Run:
    receiver: str
    scenario: str
    seconds: float  # from starting storescu to the last object kept
    sent: float  # from starting storescu to its end
    kept: int
    note: str


def push(receiver: Receiver, studies: list[Path]) -> None:
    """storescu: the studies' objects on one association."""
    done = subprocess.run(
        ["storescu", "-aet", SENDER, "-aec", receiver.ae_title, "127.0.0.1", str(receiver.port),
         "+sd", *map(str, studies)],
        capture_output=True,
        text=True,
        env=NO_DELAY,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"storescu to {receiver.name} failed: {done.stderr[-1000:]}")


def run_once(name: str, scenario: str, series: Series, folder: Path, processes: Processes) -> Run:
    """One timed push to an empty receiver, then what it kept."""
    receiver = MAKERS[name]()
    folder.mkdir(parents=True)
    receiver.start(folder, processes)
    try:
        os.sync()  # the previous run's files are not written back during this one
        start = time.perf_counter()
        if scenario == "one association":
            push(receiver, series.studies)
        else:
            for study in series.studies:
                push(receiver, [study])
        sent = time.perf_counter() - start
        # Garde indexes a batch as its association closes, after storescu has gone.
        deadline = time.monotonic() + INDEXED_WITHIN_S
        while (kept := receiver.kept()) < series.instances and time.monotonic() < deadline:
            processes.check()
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        return Run(name, scenario, seconds, sent, kept, receiver.note())
    finally:
        processes.stop(name)
        shutil.rmtree(folder, ignore_errors=True)


def measure(
    receivers: list[str], series: Series, rounds: int, folder: Path, processes: Processes
) -> dict[tuple[str, str], list[Run]]:
    """Every receiver and scenario, `rounds` times, receivers taking turns."""
    runs: dict[tuple[str, str], list[Run]] = {}
    for r in range(rounds):
        for scenario in SCENARIOS:
            for name in receivers:
                say(f"round {r + 1}/{rounds}: {scenario} to {name} ...")
                here = folder / f"{name}-{SCENARIOS.index(scenario)}-{r}"
                run = run_once(name, scenario, series, here, processes)
                runs.setdefault((name, scenario), []).append(run)
    return runs


def table(runs: dict[tuple[str, str], list[Run]], series: Series, rounds: int) -> str:
    """Medians over the rounds: seconds, instances/s and MB/s, and Garde's ratios."""
    mb = series.size_bytes / 1e6
    lines = [
        f"{series.instances} instances of {SIDE}x{SIDE} 16-bit CT ({mb:.0f} MB) in "
        f"{len(series.studies)} studies, pushed by storescu; median of {rounds} round(s)",
        f"{'receiver':<12}{'scenario':<18}{'seconds':>9}{'instances/s':>13}{'MB/s':>8}"
        f"{'kept':>11}{'after send':>12}",
        "-" * 83,
    ]
    rate: dict[tuple[str, str], float] = {}
    for (name, scenario), done in runs.items():
        seconds = statistics.median(run.seconds for run in done)
        rate[(name, scenario)] = series.instances / seconds
        kept = min(run.kept for run in done)
        after = statistics.median(run.seconds - run.sent for run in done)
        lines.append(
            f"{name:<12}{scenario:<18}{seconds:>9.2f}{series.instances / seconds:>13.1f}"
            f"{mb / seconds:>8.1f}{f'{kept}/{series.instances}':>11}{after:>12.2f}"
        )
    for other, aim in AIMS.items():
        for scenario in SCENARIOS:
            if ("garde", scenario) in rate and (other, scenario) in rate:
                ratio = rate[("garde", scenario)] / rate[(other, scenario)]
                lines.append(
                    f"{'garde / ' + other:<20}{scenario:<18}{ratio:>6.2f}x   (aim >= {aim}x)"
                )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.ingest", description="DICOM ingest benchmark")
    parser.add_argument("--instances", type=int, default=INSTANCES, help="default 1000")
    parser.add_argument("--studies", type=int, default=STUDIES, help="default 10")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument(
        "--receivers", default=",".join(RECEIVERS), help="default storescp,garde,orthanc"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    args.receivers = args.receivers.split(",")
    if any(name not in RECEIVERS for name in args.receivers):
        parser.error(f"--receivers: a comma-separated list of {', '.join(RECEIVERS)}")
    if args.studies < 1 or args.instances < args.studies or args.rounds < 1:
        parser.error("--studies and --rounds must be at least 1, --instances at least --studies")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_signals()
    if shutil.which("storescu") is None:
        say("dcmtk is not installed (storescu missing; Debian package dcmtk)")
        return 1
    receivers = []
    for name in args.receivers:
        if shutil.which(NEEDS[name]) is None:
            print(f"{name}: skipped, {NEEDS[name]} is not installed")
        else:
            receivers.append(name)
    folder = Path(tempfile.mkdtemp(prefix="garde-bench-ingest-"))
    processes = Processes(folder / "logs")
    ok = False
    try:
        say(f"writing {args.instances} CT objects in {folder} ...")
        series = write_series(folder / "series", args.instances, args.studies)
        runs = measure(receivers, series, args.rounds, folder / "runs", processes)
        print(table(runs, series, args.rounds))
        short = [run for done in runs.values() for run in done if run.kept < series.instances]
        for run in short:
            print(f"{run.receiver}, {run.scenario}: kept {run.kept} of {series.instances}")
        for (name, scenario), done in runs.items():
            if done[-1].note:
                print(f"{name}, {scenario}: {done[-1].note} (last round)")
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
