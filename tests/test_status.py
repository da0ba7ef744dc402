"""`garde status` sees every process by its heartbeat, the database, Temporal, the cases in
flight and the reconciler's last pass; `garde health ROLE` checks one process of this host."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from garde.heartbeats import STALE_AFTER
from garde.models import utcnow
from garde.status import Findings, ProcessSeen, Record, render
from tests.conftest import GARDE, Region, Stack, free_port, start_stack, wait_for
from tests.dicom.conftest import start_gateway

HOST = socket.gethostname()


def garde(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GARDE, *command.split()], env=env, capture_output=True, text=True, timeout=60
    )


def process_line(output: str, role: str, pid: int) -> str | None:
    """The status table's line of that process, if listed."""
    found = re.search(rf"^ +{role} +{re.escape(HOST)} +{pid} .*$", output, re.MULTILINE)
    return found.group(0) if found else None


def test_status_names_the_processes_the_services_a_case_in_flight_and_the_reconciler(
    stack: Stack, region: Region
) -> None:
    case = region.submit()
    region.wait_status(case["id"], "offered")
    worker, web = stack.processes["worker"].pid, stack.processes["web"].pid

    def reported() -> subprocess.CompletedProcess[str] | None:
        run = garde("status", stack.env)
        return run if f"by worker {HOST} pid {worker}:" in run.stdout else None

    run = wait_for(reported, 30, "the worker's reconciler pass in the status")
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    for role, pid in (("worker", worker), ("web", web)):
        line = process_line(out, role, pid)
        assert line is not None and line.endswith(" s ago"), out
    assert re.search(r"^database +ok .*schema \d+ \(newest\)$", out, re.MULTILINE), out
    address = stack.env["GARDE_TEMPORAL_ADDRESS"]
    assert re.search(rf"^temporal +ok +{re.escape(address)}", out, re.MULTILINE), out
    offered = re.search(r"^in flight .*\boffered (\d+)", out, re.MULTILINE)
    assert offered and int(offered.group(1)) >= 1, out
    assert re.search(rf"by worker {HOST} pid {worker}: \d+ started, \d+ delivered$", out, re.M)


def test_health_of_the_stack_s_web_and_worker(stack: Stack) -> None:
    for role in ("web", "worker"):
        run = garde(f"health {role}", stack.env)
        assert (run.returncode, run.stderr) == (0, "")


@pytest.fixture(scope="module")
def web_alone(temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A web process with no worker, on a database of its own (no worker: the outbox
    namespace's task queue belongs to the outbox stack's)."""
    tmp: Path = tmp_path_factory.mktemp("stack-web-alone")
    yield from start_stack(
        tmp,
        f"sqlite:///{tmp / 'garde.db'}",
        temporal_address,
        "garde-outbox",
        twilio=False,
        processes=("web",),
    )


def test_status_names_what_is_missing_and_forgets_a_process_stopped(web_alone: Stack) -> None:
    web = web_alone.processes["web"].pid
    run = garde("status", web_alone.env)
    assert run.returncode == 1
    assert process_line(run.stdout, "web", web), run.stdout
    assert re.search(r"^processes +FAILED +no worker seen", run.stdout, re.MULTILINE)
    assert "no pass recorded" in run.stdout
    worker = garde("health worker", web_alone.env)
    assert worker.returncode == 1 and worker.stderr.startswith("worker: no heartbeat from")

    closed = garde("health web", {**web_alone.env, "GARDE_WEB_PORT": str(free_port())})
    assert closed.returncode == 1
    assert closed.stderr.startswith("web: GET http://127.0.0.1:") and "failed" in closed.stderr

    web_alone.stop("web")
    run = garde("status", web_alone.env)
    assert run.returncode == 1
    assert process_line(run.stdout, "web", web) is None, run.stdout
    assert re.search(r"^processes +FAILED +no worker and no web seen", run.stdout, re.MULTILINE)


def test_status_shows_a_process_killed_with_9_gone_at_once(web_alone: Stack) -> None:
    """Its row stays fresh for up to three beats; its pid is gone from this host at once."""
    web_alone.start("web-killed", "web", {"GARDE_WEB_PORT": str(free_port())})
    pid = web_alone.processes["web-killed"].pid
    wait_for(lambda: process_line(garde("status", web_alone.env).stdout, "web", pid), 30)
    web_alone.stop("web-killed", kill=True)
    run = garde("status", web_alone.env)
    line = process_line(run.stdout, "web", pid)
    assert line is not None and "gone (its process ended), last seen" in line, run.stdout


def test_a_gateway_is_healthy_while_it_beats_and_its_dicom_port_answers(
    web_alone: Stack, tmp_path: Path
) -> None:
    gateway = start_gateway(tmp_path, web_alone.env["GARDE_DATABASE_URL"])
    try:
        assert garde("health gateway", gateway.env).returncode == 0
        elsewhere = garde("health gateway", {**gateway.env, "GARDE_DICOM_PORT": str(free_port())})
        assert elsewhere.returncode == 1
        assert elsewhere.stderr.startswith("gateway: DICOM port 127.0.0.1:")
    finally:
        gateway.stop()
    stopped = garde("health gateway", gateway.env)
    assert stopped.returncode == 1 and stopped.stderr.startswith("gateway: no heartbeat from")


def test_status_fails_fast_naming_temporal_when_it_does_not_answer(web_alone: Stack) -> None:
    started = time.monotonic()
    env = {**web_alone.env, "GARDE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    run = garde("status", env)
    assert time.monotonic() - started < 15
    assert run.returncode == 1
    assert re.search(r"^temporal +FAILED .*not answering", run.stdout, re.MULTILINE), run.stdout


def test_a_process_not_seen_for_three_beats_is_shown_gone_and_counts_as_missing() -> None:
    now = utcnow()
    started = now - timedelta(hours=2)
    gone = now - STALE_AFTER - timedelta(seconds=1)
    lines, healthy = render_processes(
        now,
        ProcessSeen("web", "a", 10, started, now, None, ""),
        ProcessSeen("worker", "b", 20, started, gone, gone, "0 started, 0 delivered"),
    )
    assert not healthy
    assert any(line.startswith("processes   FAILED  no worker seen") for line in lines)
    worker = next(line for line in lines if re.search(r"worker +b +20 ", line))
    assert worker.endswith(f"not seen since {gone:%Y-%m-%d %H:%M:%S} UTC")


def test_a_process_of_this_host_that_ended_is_gone_though_its_row_is_fresh() -> None:
    """A worker killed with -9 leaves its row fresh for up to three beats: its pid tells."""
    now = utcnow()
    started = now - timedelta(hours=2)
    lines, healthy = render_processes(
        now,
        ProcessSeen("web", HOST, 10, started, now, None, ""),
        ProcessSeen("worker", HOST, 20, started, now, now, "0 started", exists=False),
    )
    assert not healthy
    assert any(line.startswith("processes   FAILED  no worker seen") for line in lines)
    worker = next(line for line in lines if re.search(rf"worker +{re.escape(HOST)} +20 ", line))
    assert worker.endswith(f"gone (its process ended), last seen {now:%Y-%m-%d %H:%M:%S} UTC")


def render_processes(now: datetime, *processes: ProcessSeen) -> tuple[list[str], bool]:
    """`garde status` for a database at the newest schema and Temporal answering."""
    record = Record(revision="0008", processes=list(processes), in_flight={})
    return render(Findings("sqlite://", record, None, "0008", "localhost:7233", None), now)


def test_a_database_behind_the_newest_schema_fails_and_says_how_to_upgrade() -> None:
    findings = Findings("sqlite://", Record("0007", [], {}), None, "0008", "localhost:7233", None)
    lines, healthy = render(findings, utcnow())
    assert not healthy
    assert lines[0].endswith("schema 0007, this Garde needs 0008: run `garde db upgrade`")
    assert lines[0].startswith("database    FAILED")
