"""Where the time of one case lifecycle goes: CPU by process, py-spy profiles, Temporal's timing.

    .venv/bin/python -m bench.profile [--cases 50] [--keep]

The stack of `bench.lifecycle` (Temporal dev server, SQLite, `garde worker`, `garde web`) on
loopback, and one simulated client taking cases through the whole lifecycle one after the
other, so that every number is one lifecycle's, repeated. Two passes of `--cases` each: the
first unprofiled, for each process's CPU and Temporal's timing from the histories; the second
under py-spy (which barely slows a process, but does), for where the web's and the worker's
Python time goes. Prints tables; writes nothing but its temporary folder. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from temporalio.client import Client

from bench.api import Api
from bench.cpu import CpuMeter
from bench.garde_run import GardeDriver
from bench.profile_history import CaseTiming, case_timings, path_table, steps_table
from bench.profile_samples import PY_SPY, Recorder, functions_table, rooms_table
from bench.region import seed_region
from bench.stack import (
    GARDE_NAMESPACE,
    GardeStack,
    Processes,
    say,
    start_garde,
    start_temporal,
    stop_on_signals,
)
from garde.models import Case

EXPERTS = 10
MAX_CONCURRENT = 20
WARMUP = 3  # untimed cases first: connections, caches, the workflow sandbox's imports
POLL_S = 0.02  # as bench.lifecycle's clients
TOP_FUNCTIONS = 15


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50, help="cases per pass (default 50)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    if not PY_SPY.exists():
        parser.error(f"{PY_SPY} not found: `make install` installs the dev extra")
    return args


def sequential(driver: GardeDriver, prefix: str, cases: int) -> list[int]:
    return [driver.one_case(f"{prefix}-{i:04d}") for i in range(cases)]


def cpu_table(spent: dict[str, float], cases: int, wall_s: float) -> str:
    header = f"{'process':<36}{'CPU ms/case':>12}{'CPU % of wall':>15}"
    lines = [
        f"{cases} cases one after the other: {1000 * wall_s / cases:.0f} ms a lifecycle "
        "(submission to the API showing it final)",
        header,
        "-" * len(header),
    ]
    for name, seconds in spent.items():
        lines.append(f"{name:<36}{1000 * seconds / cases:>12.1f}{100 * seconds / wall_s:>15.0f}")
    return "\n".join(lines)


def recorded_at_ms(stack: GardeStack, case_ids: list[int]) -> dict[int, float]:
    with stack.sessions() as s:
        rows = s.execute(select(Case.id, Case.requested_at).where(Case.id.in_(case_ids))).all()
    return {case_id: requested.timestamp() * 1000 for case_id, requested in rows}


def run(args: argparse.Namespace, folder: Path, processes: Processes) -> None:
    say(f"starting Temporal, the worker and the web app in {folder} ...")
    address = start_temporal(folder, processes)
    stack = start_garde(folder, address, processes)
    api = Api(stack.url)
    region = seed_region(stack, api, EXPERTS, MAX_CONCURRENT)
    driver = GardeDriver(stack, api, region, POLL_S, processes.check)
    prefix = f"PROFILE-{secrets.token_hex(3).upper()}"
    sequential(driver, f"{prefix}-WARMUP", WARMUP)

    say(f"{args.cases} cases, unprofiled ...")
    pids = processes.pids("temporal", "worker", "web")
    meter, started = CpuMeter(pids), time.monotonic()
    timed = sequential(driver, f"{prefix}-TIMED", args.cases)
    wall_s = time.monotonic() - started
    spent = meter.spent()

    say(f"{args.cases} cases under py-spy ...")
    recorders = [Recorder(n, pids[n], folder / f"{n}.py-spy.txt") for n in ("web", "worker")]
    time.sleep(1)  # py-spy attaches
    try:
        sequential(driver, f"{prefix}-PROFILED", args.cases)
    finally:
        profiles = [r.stop() for r in recorders]

    timings = asyncio.run(_timings(address, timed))
    print(cpu_table(spent, args.cases, wall_s))
    print()
    print(path_table(timings, recorded_at_ms(stack, timed), timed))
    print()
    print(steps_table(timings))
    for profile in profiles:
        print()
        print(rooms_table(profile, args.cases))
        print()
        print(functions_table(profile, TOP_FUNCTIONS))


async def _timings(address: str, case_ids: list[int]) -> list[CaseTiming]:
    # Histories' events are read as they are: no payload is decoded, so no key is needed.
    client = await Client.connect(address, namespace=GARDE_NAMESPACE)
    return await case_timings(client, case_ids)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_signals()
    folder = Path(tempfile.mkdtemp(prefix="garde-profile-"))
    processes = Processes(folder / "logs")
    ok = False
    try:
        run(args, folder, processes)
        ok = True
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        processes.stop_all()
        if args.keep or not ok:
            say(f"kept {folder} (logs and py-spy's raw stacks)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
