"""`make bench`: cases through Garde's whole lifecycle, against a bare Temporal workflow.

    .venv/bin/python -m bench.lifecycle [--cases 300] [--concurrency 20] [--keep]

Everything runs on loopback in a temporary folder: one Temporal dev server, a SQLite
database, `garde worker` and `garde web` as subprocesses. First Garde (simulated sites and
experts over HTTP), then the bare workflow (bench/bare.py) on the same Temporal server, with
the web and worker stopped. See bench/README.md for how to read the table.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from bench.api import Api
from bench.bare import run_bare
from bench.cpu import CpuMeter
from bench.garde_run import GardeDriver
from bench.region import seed_region
from bench.results import Summary, cpu_by_run, table
from bench.stack import BARE_NAMESPACE, Processes, say, start_garde, start_temporal, stop_on_signals

EXPERTS = 40
MAX_CONCURRENT = 20
# How often a simulated expert looks for its offer, and a site for the final status; the
# same for Garde and the bare workflow so that polling costs both the same.
POLL_S = 0.02


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.lifecycle", description="Garde lifecycle benchmark"
    )
    parser.add_argument("--cases", type=int, default=300, help="cases per run (default 300)")
    parser.add_argument(
        "--concurrency", type=int, default=20, help="simulated clients (default 20)"
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="untimed cases before each run (default 5)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--cases and --concurrency must be at least 1, --warmup at least 0")
    return args


def run(args: argparse.Namespace, folder: Path, processes: Processes) -> bool:
    """Both runs and the table; True when every case went through."""
    say(f"starting Temporal, the worker and the web app in {folder} ...")
    address = start_temporal(folder, processes)
    stack = start_garde(folder, address, processes)
    api = Api(stack.url)
    say(f"seeding {EXPERTS} experts on duty through the API ...")
    region = seed_region(stack, api, EXPERTS, MAX_CONCURRENT)

    say(f"Garde: {args.cases} cases, {args.concurrency} clients ...")
    driver = GardeDriver(stack, api, region, POLL_S, processes.check)
    meter = CpuMeter(processes.pids("temporal", "worker", "web"))
    garde = driver.run(args.cases, args.concurrency, args.warmup)
    garde_cpu = meter.spent()
    billed = driver.wait_for_billing(args.warmup + garde.cases)
    if billed < args.warmup + garde.cases:
        say(f"warning: only {billed} of {args.warmup + garde.cases} final cases were billed")
    processes.stop("web")
    processes.stop("worker")

    say(f"bare Temporal: {args.cases} cases, {args.concurrency} clients ...")
    meter = CpuMeter(processes.pids("temporal"))
    bare = asyncio.run(
        run_bare(
            address,
            BARE_NAMESPACE,
            args.cases,
            args.concurrency,
            args.warmup,
            POLL_S,
            processes.check,
        )
    )
    bare_cpu = meter.spent()

    print(
        table(
            Summary("Garde", garde.cases, garde.seconds, garde.first_offer_ms, garde.failures),
            Summary("bare Temporal", bare.cases, bare.seconds, bare.first_offer_ms, bare.failures),
            args.cases,
            args.concurrency,
            EXPERTS,
        )
    )
    print()
    print(cpu_by_run(garde_cpu, bare_cpu, args.warmup + args.cases))
    return not garde.failures and not bare.failures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_signals()
    folder = Path(tempfile.mkdtemp(prefix="garde-bench-"))
    processes = Processes(folder / "logs")
    ok = False
    try:
        ok = run(args, folder, processes)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        processes.stop_all()
        if args.keep or not ok:
            say(f"kept {folder} (logs in {folder / 'logs'}, Temporal's in {folder / 'temporal'})")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
