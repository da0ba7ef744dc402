"""`make bench`: cases arriving open loop at fixed rates, the whole lifecycle running.

    .venv/bin/python -m bench.open_loop [--rates 1,5,10,20] [--seconds 30] [--seed 15]
                                        [--databases sqlite,postgresql] [--keep]

Per database, in a temporary folder on loopback: a Temporal dev server, the database, `garde
worker` and `garde web` as subprocesses, texting through the real twilio client to the Twilio
double in this process. Cases arrive as a Poisson process at each rate in turn, each POST on
its own thread so that none waits for the one before; simulated experts accept every offer
SMS and report the case final (bench/open_experts.py). Measured per case: submission to the
offer SMS reaching the double, and to the site's case page showing it offered. See
bench/README.md, "Open loop", for how to read the table.
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from bench.api import Api
from bench.garde_run import case_request
from bench.oncall import postgres_database
from bench.open_experts import Experts, Inbox
from bench.open_schedule import CaseTiming, RateResult, arrivals, failure_lines
from bench.open_site import SitePage
from bench.region import PASSWORD, seed_region
from bench.results import percentile
from bench.stack import GardeStack, Processes, say, start_garde, start_temporal, stop_on_signals
from garde.domain import CaseStatus, Role
from garde.models import Case, Expert, User
from tests.twilio_double import TwilioDouble

EXPERTS = 40
MAX_CONCURRENT = 20
ACCEPT_AFTER_S = 1.0  # an expert reads the offer SMS, then accepts
WAIT_S = 60  # for a case's offer (SMS and page): a case not offered by then has none
DRAIN_S = 180  # for a rate's cases to be final before the next rate starts
WARMUP_CASES = 5
# The site's page is watched for about this many cases a second (every case at 1/s, one in
# five at 10/s): polled every 50 ms for each case, the page loads themselves were most of
# the load on the machine, far beyond what live pages cost a real site (bench/README.md).
PAGES_WATCHED_PER_S = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.open_loop", description="Garde open-loop benchmark"
    )
    parser.add_argument("--rates", default="1,5,10,20", help="cases per second (default 1,5,10,20)")
    parser.add_argument("--seconds", type=float, default=30, help="per rate (default 30)")
    parser.add_argument("--seed", type=int, default=15, help="of the arrival times (default 15)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="(default both)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    try:
        args.rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        parser.error("--rates: numbers separated by commas")
    args.databases = args.databases.split(",")
    if any(r <= 0 for r in args.rates) or args.seconds <= 0:
        parser.error("--rates and --seconds must be positive")
    if not set(args.databases) <= {"sqlite", "postgresql"}:
        parser.error("--databases: sqlite, postgresql or both")
    return args


class OpenLoop:
    """One database's stack, its site and experts, sending the cases of one rate at a time."""

    def __init__(self, stack: GardeStack, health: Callable[[], None], inbox: Inbox) -> None:
        self._stack = stack
        self._health = health
        self._api = Api(stack.url)
        region = seed_region(stack, self._api, EXPERTS, MAX_CONCURRENT)
        self._site_token = region.site_token
        with stack.sessions() as s:
            phones = {i: phone for i, phone in s.execute(select(Expert.id, Expert.phone))}
            site_user = s.scalars(select(User.username).where(User.role == Role.SITE)).one()
        tokens = {phones[e.expert_id]: e.token for e in region.experts.values()}
        self._experts = Experts(self._api, tokens, ACCEPT_AFTER_S).start(inbox)
        self._page = SitePage(stack.url, site_user, PASSWORD)
        self._tag = secrets.token_hex(3).upper()
        self._stop = threading.Event()

    def close(self) -> None:
        self._stop.set()
        self._experts.stop()

    def run(self, rate: float, offsets: list[float]) -> RateResult:
        """Send a case at each offset (seconds from now), then wait for all to be final."""
        start = time.time() + 0.2
        result = RateResult(rate, [CaseTiming(start + offset) for offset in offsets])
        watch_every = max(1, round(rate / PAGES_WATCHED_PER_S))
        # A thread per case: a POST never waits for a free one, even when Garde falls
        # behind and each takes seconds (the lag column would show it).
        threads = max(1, len(offsets))
        with ThreadPoolExecutor(threads, thread_name_prefix="site-client") as clients:
            try:
                for i, case in enumerate(result.cases):
                    if self._stop.wait(max(0.0, case.scheduled - time.time())):
                        break
                    case.page_watched = i % watch_every == 0
                    clients.submit(self._send, case, f"OL-{self._tag}-{rate:g}-{i:05d}")
                    if i % 20 == 0:
                        self._health()
            except BaseException:  # Ctrl-C, or a process died: the pages stop being watched
                self._stop.set()
                raise
        self._drain(result)
        return result

    def _send(self, case: CaseTiming, accession_number: str) -> None:
        try:
            case.sent = time.time()
            created = self._api.call(
                "POST", "/api/v1/cases", self._site_token, case_request(accession_number), 201
            )
            case.case_id = created["id"]
            if case.page_watched:
                case.page_offered = self._page.wait_offered(
                    case.case_id, case.sent, WAIT_S, self._stop
                )
        except Exception as e:  # counted against the case; the run goes on
            case.failure = f"{accession_number}: {type(e).__name__}: {e}"

    def _drain(self, result: RateResult) -> None:
        """Wait until every case sent is final (or DRAIN_S has passed), but for the cases
        that failed: an expert whose accept was refused leaves its case open. Then read what
        the experts saw of each."""
        ids = {c.case_id for c in result.cases if c.case_id is not None}
        final: set[int] = set()
        deadline = time.monotonic() + DRAIN_S
        query = select(Case.id).where(Case.id.in_(ids), Case.status == CaseStatus.FINAL)
        while time.monotonic() < deadline:
            if ids <= final | self._experts.failures.keys() or self._stop.wait(0.5):
                break
            self._health()
            with self._stack.sessions() as s:
                final = set(s.scalars(query))
        for case in result.cases:
            if case.case_id is None:
                continue
            case.finished = case.case_id in final
            case.offer_sms = self._experts.offer_sms.get(case.case_id)
            case.failure = case.failure or self._experts.failures.get(case.case_id)


def run_database(
    database: str, url: str, folder: Path, args: argparse.Namespace
) -> list[RateResult]:
    """Every rate on a stack of its own (its own Temporal too), stopped afterwards."""
    processes = Processes(folder / "logs")
    inbox = Inbox()
    double = TwilioDouble("AC" + secrets.token_hex(16), secrets.token_hex(16), messages=inbox)
    double.start()
    loop: OpenLoop | None = None
    try:
        say(f"{database}: starting Temporal, the worker and the web app in {folder} ...")
        address = start_temporal(folder, processes)
        twilio = {
            "TWILIO_ACCOUNT_SID": double.account_sid,
            "TWILIO_AUTH_TOKEN": double.auth_token,
            "TWILIO_FROM_NUMBER": "+33700000000",
            "GARDE_TWILIO_API_URL": double.url,
        }
        stack = start_garde(folder, address, processes, url, twilio)
        say(f"{database}: seeding {EXPERTS} experts on duty, {WARMUP_CASES} warm-up cases ...")
        loop = OpenLoop(stack, processes.check, inbox)
        loop.run(0, [0.5 * i for i in range(WARMUP_CASES)])
        rng = random.Random(args.seed)
        results = []
        for rate in args.rates:
            offsets = arrivals(rate, args.seconds, rng)
            say(f"{database}: {rate:g} cases/s, {len(offsets)} cases over {args.seconds:g} s ...")
            results.append(loop.run(rate, offsets))
        return results
    finally:
        if loop is not None:
            loop.close()
        processes.stop_all()
        double.stop()


def table(database: str, results: list[RateResult], seconds: float) -> str:
    header = (
        f"{'rate/s':>6}{'cases':>7}{'final':>7}{'failed':>7}{'no offer':>9}"
        f"{'SMS p50':>9}{'p95':>7}{'p99':>7}{'pages':>7}{'page p50':>10}{'p95':>7}{'p99':>7}"
        f"{'lag p99':>9}"
    )
    lines = [
        f"Open loop on {database}: Poisson arrivals, {seconds:g} s per rate, {EXPERTS} experts"
        f" accepting {ACCEPT_AFTER_S:g} s after their offer SMS and reporting final; times in ms",
        "aim: SMS p99 < 250 ms at 10/s; no collapse at 20/s (SMS p99 < 1000 ms)",
        header,
        "-" * len(header),
    ]
    for r in results:
        sms, page = r.sms_ms, r.page_ms
        lines.append(
            f"{r.rate:>6g}{len(r.cases):>7}{r.finished:>7}{len(r.failures):>7}"
            f"{r.without_offer(WAIT_S):>9}"
            f"{percentile(sms, 50):>9.0f}{percentile(sms, 95):>7.0f}{percentile(sms, 99):>7.0f}"
            f"{r.pages_watched:>7}"
            f"{percentile(page, 50):>10.0f}{percentile(page, 95):>7.0f}{percentile(page, 99):>7.0f}"
            f"{percentile(r.lag_ms, 99):>9.1f}"
        )
    return "\n".join(lines + failure_lines(results))


@contextmanager
def database_url(database: str, folder: Path) -> Iterator[str | None]:
    if database == "sqlite":
        yield f"sqlite:///{folder / 'garde.db'}"
    else:
        with postgres_database() as url:
            yield url


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_signals()
    root = Path(tempfile.mkdtemp(prefix="garde-open-loop-"))
    ok = False
    try:
        failed = False
        for database in args.databases:
            folder = root / database
            folder.mkdir()
            with database_url(database, folder) as url:
                if url is None:
                    print(f"Open loop on {database}: skipped, PostgreSQL not reachable")
                    continue
                results = run_database(database, url, folder, args)
            print(table(database, results, args.seconds), flush=True)
            failed = failed or any(r.failures for r in results)
        ok = not failed
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if args.keep or not ok:
            say(f"kept {root} (each database's logs in its folder)")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
