"""Sampling profiles of `garde web` and `garde worker` by py-spy, summarised by room of code.

py-spy samples a running process from outside (ptrace) without changing it. It leaves out the
threads it sees idle (`--idle` off), so a sample is a thread running or ready to run (waiting
for the GIL counts); the waits for work it misses are dropped by name (WAITING). Its raw
output is one line per distinct stack,
`frame;frame;...;leaf count`, each frame `function (package/module.py)` (`--nolineno`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"  # from the dev extra
RATE_HZ = 200
# Leaf frames where a thread waits for work (py-spy's idle detection misses some without
# pausing the process): dropped, and counted apart.
WAITING = {
    ("EpollSelector.select", "selectors.py"),
    ("Condition.wait", "threading.py"),
    ("Event.wait", "threading.py"),
    ("_worker", "concurrent/futures/thread.py"),
}
# Entry points on most stacks of a process (its threads, event loop, command line, the HTTP
# server's and Flask's dispatch): true of every request or task, so left out of the top list.
PLUMBING = (
    "threading.py",
    "concurrent/",
    "asyncio/",
    "click/",
    "<frozen runpy>",
    "garde/cli.py",
    "garde/worker.py",
    "waitress/",
    "flask/app.py",
)
OURS = (
    "garde",
    "web",
    "activities",
    "workflows",
    "rosters",
    "dicom",
    "reports",
    "billing",
    "orders",
)

# Rooms a reader knows, by the first part of a frame's file (py-spy shortens it to the path
# below sys.path) or by the whole file; the first match wins, so the narrower come first.
ROOMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Temporal workflow sandbox", ("temporalio/worker/workflow_sandbox/",)),
    ("Python imports (importlib)", ("<frozen importlib",)),
    (
        "JSON & serialisation",
        (
            "json/",
            "temporalio/converter",
            "pydantic",
            "google/protobuf/",
            "dataclasses.py",
            "copy.py",
        ),
    ),
    ("Payload encryption", ("cryptography/", "garde/payload_codec.py")),
    ("Temporal SDK & bridge", ("temporalio/",)),
    ("SQL (SQLAlchemy, drivers)", ("sqlalchemy/", "sqlite3/", "psycopg", "alembic/")),
    (
        "HTTP (waitress, Flask, Werkzeug)",
        (
            "waitress/",
            "flask/",
            "werkzeug/",
            "flask_limiter/",
            "limits/",
            "http/",
            "email/",
            "urllib/",
        ),
    ),
    ("Jinja & translations", ("jinja2/", "markupsafe/", "flask_babel/", "babel/", "gettext.py")),
    (
        "SMS (texts, phone numbers)",
        (
            "twilio/",
            "activities/sms.py",
            "garde/phones.py",
            "phonenumbers/",
            "gsm0338/",
            "garde/texts",
        ),
    ),
    ("Logging & metrics", ("logging/", "garde/logs.py", "prometheus_client/")),
    (
        "asyncio & threads",
        ("asyncio/", "threading.py", "selectors.py", "concurrent/", "queue.py", "socket.py"),
    ),
)


@dataclass(frozen=True)
class Frame:
    function: str
    file: str

    @property
    def room(self) -> str:
        for room, prefixes in ROOMS:
            if self.file.startswith(prefixes):
                return room
        top = self.file.split("/", 1)[0]
        if top in OURS:
            return f"Garde: {self.file.removesuffix('.py').replace('/', '.')}"
        return "other Python (stdlib, libraries)"

    def __str__(self) -> str:
        return f"{self.function} ({self.file})"


@dataclass(frozen=True)
class Profile:
    """One process's samples: each distinct stack (root first) and how often it was seen."""

    process: str
    stacks: Counter[tuple[Frame, ...]]
    waiting: int  # samples dropped as waiting for work

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())


class Recorder:
    """py-spy attached to a process from now until `stop()`."""

    def __init__(self, process: str, pid: int, out: Path) -> None:
        self.process = process
        self._out = out
        self._log = open(out.with_suffix(".log"), "wb")  # noqa: SIM115 - closed by stop()
        args = [str(PY_SPY), "record", "--pid", str(pid)]
        args += ["--format", "raw", "--nolineno", "--nonblocking", "--rate", str(RATE_HZ)]
        self._spy = subprocess.Popen(
            [*args, "--output", str(out)], stdout=self._log, stderr=subprocess.STDOUT
        )

    def stop(self) -> Profile:
        """Stop sampling (py-spy writes its file on SIGINT) and read what it recorded."""
        self._spy.send_signal(signal.SIGINT)
        try:
            self._spy.wait(timeout=30)
        finally:
            self._log.close()
        if not self._out.exists():
            log = self._out.with_suffix(".log").read_text(errors="replace")
            raise RuntimeError(f"py-spy recorded nothing for {self.process}: {log[-500:]}")
        return read_raw(self.process, self._out.read_text())


def read_raw(process: str, text: str) -> Profile:
    stacks: Counter[tuple[Frame, ...]] = Counter()
    waiting = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = tuple(_frame(f) for f in stack.split(";"))
        if (frames[-1].function, frames[-1].file) in WAITING:
            waiting += int(count)
        else:
            stacks[frames] += int(count)
    return Profile(process, stacks, waiting)


def _frame(text: str) -> Frame:
    function, _, file = text.rpartition(" (")
    return Frame(function, file.removesuffix(")")) if function else Frame(text, "")


def rooms_table(profile: Profile, cases: int) -> str:
    """Per room: self time (its own frames on top of the stack), in % and ms per case, and
    inclusive time (the room anywhere on the stack)."""
    self_by_room: Counter[str] = Counter()
    inclusive_by_room: Counter[str] = Counter()
    for stack, count in profile.stacks.items():
        self_by_room[stack[-1].room] += count
        for room in {frame.room for frame in stack}:
            inclusive_by_room[room] += count
    total = profile.samples or 1
    ms_per_sample = 1000 / RATE_HZ
    header = f"{'room':<44}{'self %':>8}{'ms/case':>9}{'incl %':>8}"
    lines = [
        f"{profile.process}: {profile.samples} samples at {RATE_HZ} Hz over {cases} cases: "
        f"threads busy in Python {profile.samples * ms_per_sample / cases:.0f} ms a case "
        f"({profile.waiting} more samples waiting for work, left out)",
        header,
        "-" * len(header),
    ]
    for room, count in self_by_room.most_common():
        lines.append(
            f"{room[:43]:<44}{100 * count / total:>8.1f}"
            f"{count * ms_per_sample / cases:>9.1f}{100 * inclusive_by_room[room] / total:>8.1f}"
        )
    return "\n".join(lines)


def functions_table(profile: Profile, top: int) -> str:
    """The functions most often on top of the stack (self), and anywhere on it (inclusive)."""
    own: Counter[Frame] = Counter()
    inclusive: Counter[Frame] = Counter()
    for stack, count in profile.stacks.items():
        own[stack[-1]] += count
        for frame in set(stack):
            inclusive[frame] += count
    total = profile.samples or 1
    lines = [f"{profile.process}: top {top} functions by self time, then by inclusive time"]
    lines += [f"{100 * c / total:>6.1f}%  {f}" for f, c in own.most_common(top)]
    lines.append("")
    telling = [(f, c) for f, c in inclusive.most_common() if not f.file.startswith(PLUMBING)]
    lines += [f"{100 * c / total:>6.1f}%  {f}" for f, c in telling[:top]]
    return "\n".join(lines)
