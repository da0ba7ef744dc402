"""The real pieces on loopback for a benchmark: Temporal dev server, a database (SQLite unless
given), `garde worker`, `garde web`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.temporal import start_dev_server, wait_for_port

GARDE = [sys.executable, "-m", "garde.cli"]
GARDE_NAMESPACE = "bench-garde"
BARE_NAMESPACE = "bench-bare"
TWILIO_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")


def say(message: str) -> None:
    """A benchmark's progress, on stderr: its results alone go to stdout."""
    print(message, file=sys.stderr, flush=True)


def stop_on_signals() -> None:
    """Ctrl-C even when started in the background (where SIGINT is inherited as ignored), and
    SIGTERM, raise KeyboardInterrupt: a benchmark's `finally` stops every process it started."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Processes:
    """Child processes by name, stopped in reverse order of start (web, worker, Temporal)."""

    logs: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def add(self, name: str, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.running[name] = process
        return process

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self.add(name, process)

    def pids(self, *names: str) -> dict[str, int]:
        return {name: self.running[name].pid for name in names}

    def check(self) -> None:
        """Raise when a process has died: the run would only wait for it until timeouts."""
        for name, process in self.running.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see {self.logs}")

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def start_temporal(data_dir: Path, processes: Processes) -> str:
    """The dev server with both namespaces; its frontend address."""
    port = free_port()
    processes.add(
        "temporal",
        start_dev_server(
            data_dir / "temporal", port=port, namespaces=(GARDE_NAMESPACE, BARE_NAMESPACE)
        ),
    )
    return f"127.0.0.1:{port}"


@dataclass(frozen=True)
class GardeStack:
    url: str
    sessions: SessionFactory


def start_garde(
    data_dir: Path,
    temporal_address: str,
    processes: Processes,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> GardeStack:
    """Migrate a fresh database (SQLite in `data_dir` unless a URL is given) and start the
    worker and the web app as deployed. SMS go to the dev outbox unless `extra_env` names a
    Twilio account (TWILIO_* and GARDE_TWILIO_API_URL)."""
    database_url = database_url or f"sqlite:///{data_dir / 'garde.db'}"
    port = free_port()
    env = {
        **os.environ,
        "GARDE_DATA_DIR": str(data_dir / "data"),
        "GARDE_DATABASE_URL": database_url,
        "GARDE_TEMPORAL_ADDRESS": temporal_address,
        "GARDE_TEMPORAL_NAMESPACE": GARDE_NAMESPACE,
        "GARDE_WEB_HOST": "127.0.0.1",
        "GARDE_WEB_PORT": str(port),
        "GARDE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # A load test is a flood by design: no hourly allowance of new cases per site.
        "GARDE_CASES_PER_SITE_PER_HOUR": str(10**9),
    }
    for name in TWILIO_VARIABLES:  # SMS go to the dev outbox, unless extra_env says otherwise
        env.pop(name, None)
    env |= extra_env or {}
    upgrade(database_url)
    processes.start("worker", [*GARDE, "worker"], env)
    web = processes.start("web", [*GARDE, "web"], env)
    wait_for_port("127.0.0.1", port, web)
    return GardeStack(f"http://127.0.0.1:{port}", make_session_factory(make_engine(database_url)))
