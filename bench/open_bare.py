"""The open loop's baseline: the bare Temporal workflow (bench/bare.py) at the same rates.

    .venv/bin/python -m bench.open_bare [--rates 1,5,10,20] [--seconds 30] [--seed 15]

The same Poisson arrivals as `bench.open_loop` (same seed, same rates), on a Temporal dev
server of its own persisted to SQLite: each case starts the bare workflow, its expert accepts
(an update) 1 s after the bare offer SMS ran and then files the final report (an update).
Measured per case: the start of the workflow to its `send_offer_sms` activity running, the
bare counterpart of Garde's submission to the offer SMS. Nothing from Garde runs: what this
machine gives Temporal alone, with the bare workflow's worker and this driver in one process.
Two shapes, each on a fresh server: every activity through the task queue (Temporal's
defaults, the closed loop's baseline), and the record steps as local activities (as Garde's
case workflow runs them).
See bench/README.md, "Open loop".
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client

from bench import bare
from bench.open_schedule import CaseTiming, RateResult, arrivals, failure_lines
from bench.results import percentile
from bench.stack import BARE_NAMESPACE, Processes, say, start_temporal, stop_on_signals

ACCEPT_AFTER_S = 1.0  # as bench.open_loop's experts
WAIT_S = 60  # for a case's offer SMS, then for its end
WARMUP_CASES = 5


async def one_case(client: Client, key: str, case: CaseTiming, local: bool) -> None:
    """Start, wait for the offer SMS, accept after ACCEPT_AFTER_S, report; the workflow ends."""
    try:
        await asyncio.sleep(max(0.0, case.scheduled - time.time()))
        case.sent = time.time()
        handle = await client.start_workflow(
            bare.BareCase.run, bare.BareStart(key, local), id=key, task_queue=bare.TASK_QUEUE
        )
        deadline = case.sent + WAIT_S
        while key not in bare.offer_sms_sent:
            if time.time() > deadline:
                raise TimeoutError(f"no offer SMS in {WAIT_S}s")
            await asyncio.sleep(0.01)
        case.offer_sms = bare.offer_sms_sent[key]
        await asyncio.sleep(ACCEPT_AFTER_S)
        await handle.execute_update(bare.BareCase.accept, bare.BareAcceptance(bare.EXPERT_ID))
        await handle.execute_update(
            bare.BareCase.file_report,
            bare.BareReport(bare.EXPERT_ID, "final", "No bleed.", "Normal CT."),
        )
        await asyncio.wait_for(handle.result(), WAIT_S)
        case.finished = True
    except Exception as e:  # counted against the case; the run goes on
        case.failure = f"{key}: {type(e).__name__}: {e}"


async def run_rates(
    address: str,
    local: bool,
    rates: list[float],
    seconds: float,
    seed: int,
    health: Callable[[], None],
) -> list[RateResult]:
    bare.offer_sms_sent.clear()  # the same keys on each shape's server
    client = await Client.connect(address, namespace=BARE_NAMESPACE)
    rng = random.Random(seed)
    results = []
    async with bare.bare_worker(client):
        warmup = RateResult(0, [CaseTiming(time.time() + 0.5 * i) for i in range(WARMUP_CASES)])
        await asyncio.gather(
            *(
                one_case(client, f"open-bare-warmup-{i}", c, local)
                for i, c in enumerate(warmup.cases)
            )
        )
        for rate in rates:
            offsets = arrivals(rate, seconds, rng)
            say(f"bare Temporal: {rate:g} cases/s, {len(offsets)} cases over {seconds:g} s ...")
            start = time.time() + 0.2
            result = RateResult(rate, [CaseTiming(start + offset) for offset in offsets])
            cases = asyncio.gather(
                *(
                    one_case(client, f"open-bare-{rate:g}-{i:05d}", c, local)
                    for i, c in enumerate(result.cases)
                )
            )
            while not cases.done():
                health()
                await asyncio.wait([cases], timeout=1)
            results.append(result)
    return results


def table(shape: str, results: list[RateResult], seconds: float) -> str:
    header = (
        f"{'rate/s':>6}{'cases':>7}{'final':>7}{'failed':>7}"
        f"{'SMS p50':>9}{'p95':>7}{'p99':>7}{'lag p99':>9}"
    )
    lines = [
        f"Open loop, bare Temporal (bench/bare.py), {shape}: Poisson arrivals, {seconds:g} s per rate,"
        f" accepted {ACCEPT_AFTER_S:g} s after the offer SMS and reported final; times in ms",
        header,
        "-" * len(header),
    ]
    for r in results:
        sms = r.sms_ms
        lines.append(
            f"{r.rate:>6g}{len(r.cases):>7}{r.finished:>7}"
            f"{len(r.failures):>7}"
            f"{percentile(sms, 50):>9.0f}{percentile(sms, 95):>7.0f}{percentile(sms, 99):>7.0f}"
            f"{percentile(r.lag_ms, 99):>9.1f}"
        )
    return "\n".join(lines + failure_lines(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.open_bare", description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="1,5,10,20", help="cases per second (default 1,5,10,20)")
    parser.add_argument("--seconds", type=float, default=30, help="per rate (default 30)")
    parser.add_argument("--seed", type=int, default=15, help="as bench.open_loop's (default 15)")
    args = parser.parse_args(argv)
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        parser.error("--rates: numbers separated by commas")
    if any(r <= 0 for r in rates) or args.seconds <= 0:
        parser.error("--rates and --seconds must be positive")
    stop_on_signals()
    failed = False
    for shape, local in (("every activity remote", False), ("records as local activities", True)):
        root = Path(tempfile.mkdtemp(prefix="garde-open-bare-"))
        processes = Processes(root / "logs")
        try:
            say(f"bare Temporal, {shape}: starting a Temporal dev server in {root} ...")
            address = start_temporal(root, processes)
            results = asyncio.run(
                run_rates(address, local, rates, args.seconds, args.seed, processes.check)
            )
            print(table(shape, results, args.seconds), flush=True)
            failed = failed or any(r.failures for r in results)
        except KeyboardInterrupt:
            say("interrupted")
            return 130
        finally:
            processes.stop_all()
            shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
