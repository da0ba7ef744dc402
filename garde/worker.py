"""The Temporal worker: the case workflow and its activities, wired to their dependencies."""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import exists, select
from temporalio.client import Client
from temporalio.worker import Worker

from activities.case_records import CaseRecords
from activities.notifications import Notifications
from activities.sms import make_sms_port
from garde.db import SessionFactory, make_engine, make_session_factory
from garde.domain import CaseStatus
from garde.intake import case_start
from garde.models import Case, CaseEvent
from garde.settings import Settings
from garde.temporal import TASK_QUEUE, connect, start_case_workflow
from workflows.case import CaseWorkflow


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    sessions = make_session_factory(make_engine(settings.database_url))
    records = CaseRecords(sessions)
    notifications = Notifications(sessions, make_sms_port(settings, sessions))
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[CaseWorkflow],
        activities=[
            records.record_status,
            records.add_note,
            records.find_candidates,
            records.open_offer,
            records.close_offer,
            records.record_report,
            records.record_billing_line,
            notifications.send_offer_sms,
            notifications.notify_expert,
        ],
        activity_executor=executor,
        max_concurrent_activities=16,
    )


async def start_orphan_cases(client: Client, sessions: SessionFactory) -> int:
    """Start the workflow of every case recorded while Temporal was unreachable."""
    with sessions() as s:
        orphans = list(
            s.scalars(
                select(Case).where(
                    Case.status == CaseStatus.REQUESTED,
                    ~exists().where(CaseEvent.case_id == Case.id),
                )
            )
        )
    for case in orphans:
        await start_case_workflow(client, case_start(case))
    return len(orphans)


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then finish the tasks in hand and stop polling."""
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=16) as executor:
        worker = build_worker(client, settings, executor)
        await start_orphan_cases(client, make_session_factory(make_engine(settings.database_url)))
        async with worker:
            await stop.wait()


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
