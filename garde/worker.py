"""The Temporal worker: the case workflow, the daily coverage check, the nightly retention
purge and the monthly invoices (their schedules made sure of at start), their activities
wired to their dependencies, and the reconciler that acts on input stored while Temporal was
away."""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner

from activities.acknowledgements import Acknowledgements
from activities.alerts import Alerts
from activities.calls import CallPort, PhoneCalls, make_call_port
from activities.case_records import CaseRecords
from activities.coverage import CoverageChecks
from activities.delivery import Deliveries
from activities.invoicing import Invoicing
from activities.links import Links
from activities.notifications import Notifications
from activities.offers import Offers
from activities.order_status import OrderStatuses
from activities.purge import Purges
from activities.sms import SmsPort, make_sms_port
from activities.studies import Studies
from dicom.storage import Storage
from garde.db import SessionFactory, make_engine, make_session_factory
from garde.heartbeats import Heartbeat, ProcessRole
from garde.reconciler import Reconciler
from garde.settings import Settings
from garde.temporal import TASK_QUEUE, connect
from workflows.acknowledgement import AcknowledgementWorkflow
from workflows.case import CaseWorkflow
from workflows.coverage_check import CoverageCheckWorkflow, ensure_coverage_schedule
from workflows.delivery import DeliveryWorkflow
from workflows.invoicing import MonthlyInvoicesWorkflow, ensure_invoice_schedule
from workflows.order_status import OrderStatusWorkflow
from workflows.purge import RetentionPurgeWorkflow, ensure_purge_schedule
from workflows.texting import TextingWorkflow

# Under the 30 s that `garde up` and a container's stop_grace_period wait before SIGKILL.
GRACE = timedelta(seconds=20)
# How much the worker takes on at once (bench/README.md, "Worker settings", measured on a
# 2-CPU machine). Activities mostly wait on the network (Twilio, a site's endpoint);
ACTIVITY_SLOTS = 16
# the case workflow's record writes and reads are local activities, one short transaction
# each, in threads of their own so that an SMS slow to go never holds a record back. Two at a
# time: they are Python under one GIL, and sixteen at once shared it so that every case's
# first offer waited for all of them (its p99 under load 1.7-1.9 s with 16, 0.3-0.5 s with 2);
LOCAL_ACTIVITY_SLOTS = 2
# case workflows kept in memory between their tasks (Temporal's sticky cache): an answer to a
# case among the last this many touched needs no replay of its history (10, fewer than the
# cases under way, halved the closed loop's throughput).
CACHED_WORKFLOWS = 1000
# Workflows run outside Temporal's sandbox. Its entry for every activation, and for every
# payload's serialization context, was a tenth to a fifth of the worker's CPU a case, and under
# load the worker's CPU is Garde's bound (bench/README.md, "Outside the sandbox"). What the sandbox
# refuses in a workflow (the clock, randomness, I/O) is still refused where it is checked: the
# time-skipping scenarios and the recorded histories run in it (tests/workflows/harness.py).
WORKFLOW_RUNNER: WorkflowRunner = UnsandboxedWorkflowRunner()


def activity_executor() -> ThreadPoolExecutor:
    """The threads the worker's activities run in: one per slot, remote and local."""
    return ThreadPoolExecutor(ACTIVITY_SLOTS + LOCAL_ACTIVITY_SLOTS, thread_name_prefix="activity")


def build_worker(
    client: Client,
    sessions: SessionFactory,
    sms: SmsPort,
    calls: CallPort,
    executor: ThreadPoolExecutor,
    offers: Offers | None = None,
    *,
    links: Links,
    storage: Storage | None = None,
    workflow_runner: WorkflowRunner = WORKFLOW_RUNNER,
) -> Worker:
    """The worker of the case workflow. `offers` may be replaced (the night simulator's
    baselines rank experts otherwise), and `workflow_runner` (the tests run workflows in the
    sandbox); everything else is as deployed. Without `storage` (a harness with no data
    folder) the retention purge is not run here."""
    records = CaseRecords(sessions)
    acknowledgements = Acknowledgements(sessions)
    offers = offers or Offers(sessions)
    alerts = Alerts(sessions)
    notifications = Notifications(sessions, sms, links)
    phone_calls = PhoneCalls(sessions, calls)
    coverage = CoverageChecks(sessions, sms, links)
    studies = Studies(sessions)
    deliveries = Deliveries(sessions)
    order_statuses = OrderStatuses(sessions)
    invoicing = Invoicing(sessions)
    purge = [] if storage is None else [Purges(sessions, storage).purge_studies]
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[
            CaseWorkflow,
            AcknowledgementWorkflow,
            CoverageCheckWorkflow,
            DeliveryWorkflow,
            OrderStatusWorkflow,
            TextingWorkflow,
            MonthlyInvoicesWorkflow,
        ]
        + ([RetentionPurgeWorkflow] if purge else []),
        activities=[
            records.record_case,
            records.record_report,
            records.file_report,
            records.admit_update,
            records.record_billing_line,
            acknowledgements.record_request,
            acknowledgements.record_step,
            acknowledgements.record_acknowledgement,
            offers.find_candidates,
            offers.check_eligibility,
            offers.open_offers,
            offers.close_offers,
            alerts.raise_alert,
            alerts.record_alert,
            notifications.send_offer_sms,
            notifications.notify_expert,
            notifications.notify_coordinator,
            notifications.notify_site,
            notifications.text_person,
            phone_calls.place_call,
            coverage.find_coverage_gaps,
            coverage.raise_coverage_alerts,
            coverage.text_coverage_summary,
            studies.record_stability,
            deliveries.delivery_channels,
            deliveries.post_to_webhook,
            deliveries.send_to_hl7_listener,
            deliveries.resolve_delivery_alert,
            order_statuses.send_order_status,
            order_statuses.resolve_order_status_alert,
            invoicing.issue_month_invoices,
            *purge,
        ],
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_SLOTS,
        max_concurrent_local_activities=LOCAL_ACTIVITY_SLOTS,
        max_cached_workflows=CACHED_WORKFLOWS,
        workflow_runner=workflow_runner,
        # Stopped (SIGTERM: a restart, an upgrade), the worker lets the activities in hand
        # finish and report, rather than leaving them to time out and run again on another.
        graceful_shutdown_timeout=GRACE,
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then finish the tasks in hand and stop polling."""
    client = await connect(settings, settings.worker_metrics_address)
    await ensure_coverage_schedule(client, settings.region_timezone, settings.coverage_check_hour)
    await ensure_purge_schedule(client, settings.region_timezone)
    await ensure_invoice_schedule(client, settings.region_timezone)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sessions = make_session_factory(make_engine(settings.database_url))
    reconciler = Reconciler(client, sessions)
    with activity_executor() as executor:
        worker = build_worker(
            client,
            sessions,
            make_sms_port(settings, sessions),
            make_call_port(settings, sessions),
            executor,
            links=Links(settings.public_url),
            storage=Storage(settings.data_dir),
        )
        with Heartbeat(sessions, ProcessRole.WORKER) as heartbeat:
            async with worker:
                await reconciler.run(settings.reconcile_every, stop, heartbeat.reconciled)


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
