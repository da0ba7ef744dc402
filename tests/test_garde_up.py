"""`garde up` on its embedded defaults: Temporal, worker, DICOM gateway, web; the demo region only when asked
(`--demo`), with a banner on every page; Ctrl-C; resume. Its children never outlive it (Ctrl-C,
a closed terminal, kill -9); a port in use is one line naming the setting to change."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import termios
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from select import select as wait_readable

import pytest
import requests
from sqlalchemy import func, select

from garde.db import make_engine
from garde.demo import DEMO_LOGINS
from garde.models import Site, User
from tests.conftest import case_request, free_port, wait_for


def _start(env: dict[str, str], log: Path, *options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "garde.cli", "up", *options],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(up: subprocess.Popen[bytes], log: Path) -> str:
    """What `garde up` printed until ready (the log is emptied for the next start)."""
    wait_for(
        lambda: up.poll() is not None or log.read_text().count("Ctrl-C stops everything") > 0,
        timeout=120,
        what="garde up to be ready",
    )
    printed = log.read_text()
    assert up.poll() is None, printed
    log.write_text("")
    return printed


def _interrupt(process: subprocess.Popen[bytes]) -> None:
    """What Ctrl-C in a terminal does: SIGINT to the whole foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 0


def _coordinator(url: str) -> requests.Session:
    """The demo coordinator, logged in: the outbox is for staff only."""
    browser = requests.Session()
    page = browser.get(url + "/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    login = {"csrf_token": csrf.group(1), "username": "coordinator", "password": "garde-coord"}
    assert browser.post(url + "/login", data=login, timeout=10).ok
    return browser


def _outbox_offer(browser: requests.Session, url: str) -> tuple[str, str] | None:
    page = browser.get(url + "/dev/outbox", timeout=10).text
    found = re.search(r"→ (\+\d+).{0,600}?(?:Reply YES|Répondez OUI) (\w+)", page, re.S)
    return (found.group(1), found.group(2)) if found else None


BANNER = "Demo accounts are active: do not use with real patients."
_PASSWORDS = tuple({password for _, password, _ in DEMO_LOGINS})


def _environment(tmp_path: Path) -> tuple[dict[str, str], str]:
    """`garde up` on its defaults but free ports, in a fresh data folder; the web app's URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GARDE_", "TWILIO_"))} | {
        "GARDE_DATA_DIR": str(tmp_path / "var"),
        "GARDE_WEB_PORT": str(port),
        "GARDE_DICOM_PORT": str(free_port()),
        "GARDE_HL7_PORT": str(free_port()),
        "GARDE_TEMPORAL_PORT": str(free_port()),
        "GARDE_TEMPORAL_UI_PORT": str(free_port()),
    }
    return env, f"http://127.0.0.1:{port}"


def _children(pid: int) -> list[int]:
    listed = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    )
    return [int(child) for child in listed.stdout.split()]


def _running(pid: int) -> bool:
    """Alive and not a zombie (a dead orphan waits for a reaper that may never come)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill_leftovers(pids: list[int]) -> None:
    """A failed test leaves nothing behind."""
    for pid in pids:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


def test_garde_up_leaves_an_empty_database_empty_and_says_how_to_make_an_admin(
    tmp_path: Path,
) -> None:
    env, url = _environment(tmp_path)
    log = tmp_path / "up.log"
    up = _start(env, log)
    try:
        printed = _wait_ready(up, log)
        login = requests.get(url + "/login", timeout=10).text
    finally:
        _interrupt(up)
    assert "garde user add --role admin USERNAME" in printed
    assert f"DICOM:        GARDE@127.0.0.1:{env['GARDE_DICOM_PORT']}" in printed
    assert "garde-site" not in printed and "Demo region" not in printed
    assert BANNER not in login
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'garde.db'}")
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(User)) == 0
        assert c.scalar(select(func.count()).select_from(Site)) == 0
    engine.dispose()


def test_garde_up_serves_demo_data_and_resumes_a_case_in_flight(tmp_path: Path) -> None:
    """Also through a backup: the database lost after Ctrl-C and restored from the backup taken
    while the case was offered, the case goes on where it was."""
    env, url = _environment(tmp_path)
    log = tmp_path / "up.log"
    up = _start(env, log, "--demo")
    try:
        printed = _wait_ready(up, log)
        assert "garde user add" not in printed
        # One line per login, in columns: each login and each password starts where all do.
        lines = [line for line in printed.splitlines() if line.endswith(_PASSWORDS)]
        assert [line.split()[-2:] for line in lines] == [[u, p] for u, p, _ in DEMO_LOGINS]
        starts = {line.rindex(f" {u} ") for line, (u, _, _) in zip(lines, DEMO_LOGINS, strict=True)}
        assert len(starts) == 1
        assert len({line.rindex(" ") for line in lines}) == 1
        assert BANNER in requests.get(url + "/login", timeout=10).text
        token = subprocess.run(
            [sys.executable, "-m", "garde.cli", "token", "create", "ch-aurillac"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        case = api.post(url + "/api/v1/cases", json=case_request(), timeout=30).json()
        coordinator = _coordinator(url)
        phone, code = wait_for(lambda: _outbox_offer(coordinator, url), what="the offer SMS")
        # The nightly backup, taken while Garde runs.
        garde_db = [sys.executable, "-m", "garde.cli", "db"]
        night = tmp_path / "night.db"
        subprocess.run([*garde_db, "backup", str(night)], env=env, check=True, timeout=60)
    finally:
        _interrupt(up)
    # The disk of the database is lost; the backup is restored (Temporal's own data is intact).
    for lost in (tmp_path / "var").glob("garde.db*"):
        lost.unlink()
    subprocess.run([*garde_db, "restore", str(night)], env=env, check=True, timeout=60)
    assert not any(
        line
        for line in subprocess.run(
            ["ps", "-eo", "args"], capture_output=True, text=True
        ).stdout.splitlines()
        if str(tmp_path) in line
    ), "a child of garde up outlived it"

    up = _start(env, log)
    try:
        _wait_ready(up, log)
        dev = _coordinator(url)
        page = dev.get(url + "/dev/outbox", timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        dev.post(
            url + "/dev/outbox/reply",
            data={"csrf_token": csrf.group(1), "from_number": phone, "body": f"YES {code}"},
            timeout=30,
        )
        accepted = wait_for(
            lambda: (
                (c := api.get(f"{url}/api/v1/cases/{case['id']}", timeout=10).json())["status"]
                == "accepted"
                and c
            ),
            what="the case to be accepted after the restart",
        )
        assert accepted["timeline"][0]["status"] == "requested"
    finally:
        _interrupt(up)


@contextlib.contextmanager
def _supervising(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, list[int]]]:
    """`garde up` running, its log, and its four children; none left behind afterwards."""
    env, _ = _environment(tmp_path)
    log = tmp_path / "up.log"
    up = _start(env, log)
    children: list[int] = []
    try:
        _wait_ready(up, log)
        children.extend(_children(up.pid))
        assert len(children) == 4, "Temporal, the worker, the gateway and the web app"
        yield up, log, children
    finally:
        if up.poll() is None:
            up.kill()
        _kill_leftovers(children)


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_garde_up_killed_with_9_takes_every_child_with_it(tmp_path: Path) -> None:
    with _supervising(tmp_path) as (up, _, children):
        up.kill()
        up.wait()
        wait_for(
            lambda: not any(_running(pid) for pid in children),
            what="every child to die with its killed supervisor",
        )


def _in_a_terminal(
    env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], Callable[[], None]]:
    """`garde up` as a terminal window runs it: a pseudo-terminal is its controlling terminal
    and its stdin, stdout and stderr; what it shows is copied to `log`. The function returned
    closes the window."""
    window, terminal = pty.openpty()
    up = subprocess.Popen(
        [sys.executable, "-m", "garde.cli", "up"],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(terminal)
    closing = threading.Event()

    shown = log.open("ab")  # here: the test reads it as soon as this returns

    def show() -> None:
        with shown:
            while not closing.is_set():
                if wait_readable([window], [], [], 0.1)[0]:
                    with contextlib.suppress(OSError):
                        shown.write(os.read(window, 4096))
                        shown.flush()
        os.close(window)  # here, not in another thread: a read in progress would keep it open

    showing = threading.Thread(target=show, daemon=True)
    showing.start()

    def close() -> None:
        closing.set()
        showing.join()

    return up, close


def test_garde_up_in_a_terminal_logs_text_and_leaves_nothing_when_it_closes(
    tmp_path: Path,
) -> None:
    env, _ = _environment(tmp_path)
    log = tmp_path / "terminal.log"
    up, close_window = _in_a_terminal(env, log)
    children: list[int] = []
    try:
        shown = _wait_ready(up, log)
        # A person reads this terminal: log lines are text, not JSON (GARDE_LOG_FORMAT unset).
        assert re.search(r"INFO .*web.* Serving on", shown), shown
        assert not [line for line in shown.splitlines() if line.startswith("{")], shown
        children.extend(_children(up.pid))
        assert len(children) == 4, "Temporal, the worker, the gateway and the web app"
        close_window()  # the kernel hangs up the window's session: SIGHUP
        assert up.wait(timeout=60) == 0
        # The supervisor waited for each: none is left, not even as a zombie.
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    finally:
        if up.poll() is None:
            up.kill()
        _kill_leftovers(children)


@pytest.mark.parametrize(
    "variable",
    [
        "GARDE_TEMPORAL_PORT",
        "GARDE_TEMPORAL_UI_PORT",
        "GARDE_WEB_PORT",
        "GARDE_DICOM_PORT",
        "GARDE_HL7_PORT",
    ],
)
def test_a_port_in_use_is_one_line_naming_the_setting_and_starts_nothing(
    tmp_path: Path, variable: str
) -> None:
    env, _ = _environment(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        up = subprocess.run(
            [sys.executable, "-m", "garde.cli", "up"],
            env=env | {variable: str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert up.returncode != 0
    assert (up.stdout + up.stderr).splitlines() == [
        f"Error: 127.0.0.1:{port} is in use: set {variable} to a free port"
    ]
    assert not (tmp_path / "var" / "garde.db").exists(), "nothing started, not even migrations"
