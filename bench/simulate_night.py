"""`make bench`: a French on-call night through the real case workflow, for three routing policies.

    .venv/bin/python -m bench.simulate_night [--studies 120] [--seed 7] [--hours 12]

About 120 studies arrive from three sites between 20:00 and 08:00 (Europe/Paris), denser in
the evening; four primary and two backup experts are on duty (bench/night_plan.py says how
each answers and reads). The real case workflow and its real activities run on Temporal's
time-skipping test server against a fresh SQLite database per policy, so a whole night takes
a minute or two of wall time. The policies face the same arrivals and the same expert
behaviour, each in its own process (`--jobs` at a time):

- Garde: as it is (its ranking, and the default ladder: primary, backup, broadcast,
  coordinator);
- random pick: the same ladder, the eligible experts in a seeded random order;
- broadcast to all: every site's ladder set to broadcast, then coordinator.

It prints one row per policy (bench/README.md says how to read it) and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.calls import DevCallOutbox
from activities.links import Links
from bench.night_messages import Admission, NightEnd, NightPlan
from bench.night_plan import HANDOVER, PARIS, PRIORITY_SHARES, arrivals, night_start
from bench.night_score import NightScore, score, table
from bench.night_workflows import SIM_QUEUE, SimulatedExpert, SimulatedNight, expert_workflow_id
from bench.night_world import (
    NightActivities,
    RandomPick,
    SimulatedPhones,
    disagreements,
    seed_region,
)
from bench.stack import say, stop_on_signals
from garde.db import make_engine, make_session_factory, upgrade
from garde.service_levels import LadderStep
from garde.settings import Settings
from garde.temporal import data_converter, venv_binary
from garde.worker import activity_executor, build_worker

# After the handover the night gives up waiting for cases still open after this long.
GIVE_UP_AFTER = timedelta(hours=4)


@dataclass(frozen=True)
class Policy:
    name: str
    label: str
    escalation: dict[str, list[str]]  # the sites' ladder per priority; empty: the defaults
    random_pick: bool = False


BROADCAST_ONLY = [LadderStep.BROADCAST.value, LadderStep.COORDINATOR.value]
POLICIES = {
    "garde": Policy("garde", "Garde", {}),
    "random": Policy("random", "random pick", {}, random_pick=True),
    "broadcast": Policy(
        "broadcast", "broadcast to all", {p.value: BROADCAST_ONLY for p, _ in PRIORITY_SHARES}
    ),
}


class Warnings(logging.Handler):
    """Temporal's warnings and errors, counted instead of printed (summarised under the
    table): an offer to the unreachable phone fails its activity on purpose, hundreds of
    times a night."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = _first_line(record.getMessage().split(" ({", 1)[0], 120)
        activity = getattr(record, "temporal_activity", None)
        if isinstance(activity, dict) and activity.get("activity_type"):
            message += f" [{activity['activity_type']}]"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f": {type(error).__name__}: {_first_line(str(error), 100)}"
        self.seen[f"{record.levelname} {record.name}: {message}"] += 1


def _first_line(text: str, width: int) -> str:
    return (text.splitlines() or [""])[0][:width]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.simulate_night", description="Garde night simulator (routing quality)"
    )
    parser.add_argument("--studies", type=int, default=120, help="studies in the night (120)")
    parser.add_argument("--seed", type=int, default=7, help="arrivals and behaviour seed (7)")
    parser.add_argument("--hours", type=int, default=12, help="hours of arrivals from 20:00 (12)")
    parser.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help=f"comma-separated, from {', '.join(POLICIES)} (all)",
    )
    parser.add_argument(
        "--jobs", type=int, default=3, help="policies simulated at once, one process each (3)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases in a folder")
    # Internal: simulate one policy and write its score here (the parent's child processes).
    parser.add_argument("--emit", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.studies < 1 or not 1 <= args.hours <= 24 or args.jobs < 1:
        parser.error("--studies and --jobs must be at least 1, --hours between 1 and 24")
    args.policy_list = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in args.policy_list if p not in POLICIES]
    if unknown or not args.policy_list:
        parser.error(f"unknown policy {unknown}; choose from {', '.join(POLICIES)}")
    return args


# --- one night, one policy, in this process -----------------------------------------------------


async def simulate(policy: Policy, args: argparse.Namespace, folder: Path) -> NightScore:
    """One night under one policy, on its own time-skipping server and database."""
    began = time.monotonic()
    database_url = f"sqlite:///{folder / f'{policy.name}.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    # A throwaway database: no fsync at each commit (the night's figures do not depend on
    # it, the wall time does, several times over on a slow disk).
    event.listen(engine, "connect", _without_fsync)
    sessions = make_session_factory(engine)
    # Payloads encrypted as deployed, with a key generated into the night's folder.
    settings = Settings.from_env({"GARDE_DATA_DIR": str(folder), "GARDE_SECRET_KEY": "bench"})
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(settings),
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    async with env:
        start = night_start(await env.get_current_time())
        last = start + timedelta(hours=args.hours)
        region = seed_region(sessions, policy.escalation, start, last + HANDOVER)
        phones = SimulatedPhones(
            env.client, asyncio.get_running_loop(), sessions, region, args.seed
        )
        sim = NightActivities(env.client, sessions, region)
        plan = NightPlan(
            start=start,
            arrivals=[
                Admission(
                    a.accession,
                    a.site,
                    a.priority.value,
                    a.modality,
                    start + timedelta(seconds=a.offset_s),
                )
                for a in arrivals(args.seed, args.studies, args.hours)
            ],
            give_up_at=last + HANDOVER + GIVE_UP_AFTER,
        )
        with activity_executor() as executor:
            offers = RandomPick(sessions, args.seed) if policy.random_pick else None
            # Nobody in the simulation answers the phone: stat calls stay in the dev outbox.
            calls = DevCallOutbox(sessions)
            links = Links("http://127.0.0.1:8000")  # nobody follows them
            case_worker = build_worker(
                env.client, sessions, phones, calls, executor, offers, links=links
            )
            sim_worker = Worker(
                env.client,
                task_queue=SIM_QUEUE,
                workflows=[SimulatedNight, SimulatedExpert],
                activities=[sim.admit_study, sim.file_final_report, sim.open_cases],
                workflow_runner=UnsandboxedWorkflowRunner(),
            )
            async with case_worker, sim_worker:
                for expert_id in region.experts:
                    await env.client.start_workflow(
                        SimulatedExpert.run,
                        expert_id,
                        id=expert_workflow_id(expert_id),
                        task_queue=SIM_QUEUE,
                    )
                end: NightEnd = await env.client.execute_workflow(
                    SimulatedNight.run,
                    plan,
                    id=f"night-{policy.name}",
                    task_queue=SIM_QUEUE,
                )
                disagreeing = await disagreements(env.client, sessions)
    notes = []
    if disagreeing:
        notes.append(
            f"{len(disagreeing)} cases where the record and the workflow disagree, "
            f"e.g. {disagreeing[0]}"
        )
    if end.still_open:
        notes.append(
            f"{end.still_open} cases still open when the night gave up at "
            f"{end.ended_at.astimezone(PARIS):%H:%M}"
        )
    if sim.refused_reports:
        notes.append(
            f"{len(sim.refused_reports)} final reports refused, e.g. {sim.refused_reports[0]}"
        )
    notes.append(
        "SMS: "
        + ", ".join(f"{kind} {n}" for kind, n in sorted(phones.sent.items()))
        + f"; the night's last case closed at {end.ended_at.astimezone(PARIS):%H:%M}"
    )
    wall = time.monotonic() - began
    say(f"{policy.label}: {end.admitted} studies simulated in {wall:.0f} s")
    return score(sessions, region, policy.label, wall, notes)


def _without_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


async def _cancelled_by_sigterm(night: asyncio.Future[NightScore]) -> NightScore:
    """SIGTERM cancels the night like Ctrl-C: workers and the test server are shut down."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, night.cancel)
    return await night


def simulate_here(policy: Policy, args: argparse.Namespace, folder: Path) -> NightScore:
    async def night() -> NightScore:
        return await _cancelled_by_sigterm(asyncio.ensure_future(simulate(policy, args, folder)))

    return asyncio.run(night())


# --- all the policies, in child processes ----------------------------------------------------


def simulate_apart(args: argparse.Namespace, folder: Path) -> tuple[list[NightScore], Counter[str]]:
    """Each policy in its own process (this module with --emit), `--jobs` at a time."""
    waiting = list(args.policy_list)
    running: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, NightScore] = {}
    warnings: Counter[str] = Counter()
    try:
        while waiting or running:
            while waiting and len(running) < args.jobs:
                name = waiting.pop(0)
                command = [
                    sys.executable,
                    "-m",
                    "bench.simulate_night",
                    f"--studies={args.studies}",
                    f"--seed={args.seed}",
                    f"--hours={args.hours}",
                    f"--policies={name}",
                    f"--emit={folder / f'{name}.json'}",
                    f"--folder={folder}",
                ]
                # Its own session: Ctrl-C reaches this process alone, which stops the children
                # (and they their test servers) with SIGTERM.
                running[name] = subprocess.Popen(
                    command, stdout=subprocess.DEVNULL, start_new_session=True
                )
            time.sleep(0.2)
            for name, process in list(running.items()):
                if process.poll() is None:
                    continue
                del running[name]
                if process.returncode != 0:
                    raise RuntimeError(f"the {name} night failed (exit {process.returncode})")
                emitted = json.loads((folder / f"{name}.json").read_text())
                warnings.update(emitted.pop("warnings"))
                results[name] = _score_from_json(emitted)
    finally:
        for process in running.values():
            process.terminate()
        for process in running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return [results[name] for name in args.policy_list], warnings


def _score_from_json(data: dict[str, Any]) -> NightScore:
    return NightScore(**data)


# --- the command ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C even when started in the background, and SIGTERM, end in the `finally` clauses
    # that stop the child processes and test servers.
    stop_on_signals()
    warnings = Warnings()
    temporal_log = logging.getLogger("temporalio")
    temporal_log.addHandler(warnings)
    temporal_log.propagate = False
    # The SDK core's own warnings (the test server is not a full server) go nowhere.
    Runtime.set_default(
        Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                )
            )
        )
    )
    if args.emit is not None:
        return _emit(args, warnings)
    folder = Path(tempfile.mkdtemp(prefix="garde-night-"))
    began = time.monotonic()
    try:
        if len(args.policy_list) == 1 or args.jobs == 1:
            scores = [simulate_here(POLICIES[name], args, folder) for name in args.policy_list]
            seen = warnings.seen
        else:
            say(f"simulating {len(args.policy_list)} nights, {args.jobs} at a time ...")
            scores, seen = simulate_apart(args, folder)
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted")
        return 130
    finally:
        if args.keep:
            say(f"kept the databases in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(table(scores, _heading(args)))
    if seen:
        print("\nTemporal warnings (counted over the nights):")
        for message, n in seen.most_common(8):
            print(f"  {n:>5} x {message}")
    say(f"whole run: {time.monotonic() - began:.0f} s")
    return 0


def _emit(args: argparse.Namespace, warnings: Warnings) -> int:
    try:
        night = simulate_here(POLICIES[args.policy_list[0]], args, args.folder)
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130
    args.emit.write_text(json.dumps({**asdict(night), "warnings": dict(warnings.seen)}))
    return 0


def _heading(args: argparse.Namespace) -> str:
    mix = Counter(a.priority.value for a in arrivals(args.seed, args.studies, args.hours))
    end = (datetime(2000, 1, 1, 20) + timedelta(hours=args.hours)).strftime("%H:%M")
    return (
        f"night 20:00-{end} Europe/Paris, {args.studies} studies "
        f"({', '.join(f'{n} {p}' for p, n in sorted(mix.items()))}), seed {args.seed}, "
        "4 primary + 2 backup experts (one unreachable)"
    )


if __name__ == "__main__":
    sys.exit(main())
