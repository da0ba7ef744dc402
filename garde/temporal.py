"""Reaching Temporal: the client, the task queue, and the embedded dev server for one machine."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import temporalio.converter
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from garde.children import die_with_parent
from garde.converter import GardePayloadConverter
from garde.messages import CaseStart, PersonText
from garde.payload_codec import EncryptionCodec
from garde.settings import Settings

TASK_QUEUE = "garde-cases"


def data_converter(settings: Settings) -> DataConverter:
    """Temporal's converter, its dataclasses decoded by plans made once (garde/converter.py),
    every payload encrypted with Garde's keys (garde/payload_codec.py), and failures' messages
    and stacks too (a database error quotes the values it refused). Every client of Garde's
    workflows uses it, or they could not read each other's payloads."""
    return dataclasses.replace(
        temporalio.converter.default(),
        payload_converter_class=GardePayloadConverter,
        payload_codec=EncryptionCodec(settings.payload_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, metrics_address: str | None = None) -> Client:
    """A client of Garde's namespace; with `metrics_address` (the worker's), its SDK metrics
    are served there for Prometheus."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=runtime(metrics_address),
    )


@functools.cache
def runtime(metrics_address: str | None) -> Runtime:
    """One per process and metrics address (each holds the SDK core's threads). The core's own
    log lines go to Python's logging, and so through Garde's handler (garde/logs.py), instead
    of raw onto stderr."""
    core_logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    metrics = PrometheusConfig(bind_address=metrics_address) if metrics_address else None
    return Runtime(telemetry=TelemetryConfig(logging=core_logs, metrics=metrics))


def venv_binary(name: str) -> str:
    """The `temporal` and `temporal-test-server` binaries come from wheels beside our Python."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{name} not found beside {sys.executable}; run `make install`")
    return str(path)


def start_dev_server(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 7233,
    ui_port: int | None = None,
    namespaces: tuple[str, ...] = (),
    persist: bool = True,
    ui_codec_endpoint: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `temporal server start-dev`, persisted to a SQLite file in the data folder
    (or, with `persist=False`, kept in memory: for tests that never restart it). Its UI, if
    any, asks `ui_codec_endpoint` to decrypt payloads (web/codec_server.py)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = open(data_dir / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the server
    args = [venv_binary("temporal"), "server", "start-dev"]
    if persist:
        # SQLite's defaults (a rollback journal, synced in full) made every history write
        # create, sync and delete a journal file: most of the server's time per case. In WAL,
        # synced at checkpoints, a killed server loses nothing (a power cut may lose the
        # last writes), as Garde's own database (garde/db.py).
        args += ["--db-filename", str(data_dir / "temporal.db")]
        args += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
    args += [
        "--ip",
        host,
        "--port",
        str(port),
        "--log-level",
        "warn",
    ]
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if ui_port and ui_codec_endpoint:
        args += ["--ui-codec-endpoint", ui_codec_endpoint]
    for namespace in namespaces:
        args += ["--namespace", namespace]
    # Its SQLite file holds workflow histories, clinical text included: owner only (0600).
    process = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        umask=0o077,
        preexec_fn=die_with_parent(),
    )
    try:
        wait_for_port(host, port, process)
    except BaseException:
        process.terminate()
        raise
    return process


def wait_for_port(
    host: str, port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")
    if process is not None:
        # Someone else may hold the port: our process then dies on its failed bind.
        time.sleep(1)
        if process.poll() is not None:
            raise RuntimeError(f"{host}:{port} is taken by another process")


def case_workflow_id(case_id: int) -> str:
    """Derived from the case id alone: no patient data in workflow ids."""
    return f"case-{case_id}"


def acknowledgement_workflow_id(case_id: int, report_id: int) -> str:
    """The workflow that waits for the site to acknowledge one report version."""
    return f"case-{case_id}-report-{report_id}-acknowledgement"


def delivery_workflow_id(case_id: int, report_id: int) -> str:
    """The workflow that pushes one report version to the site's endpoints."""
    return f"case-{case_id}-report-{report_id}-delivery"


async def start_case_workflow(client: Client, start: CaseStart) -> None:
    """Start a case's workflow; starting it again is harmless (the same request, one case)."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        # The second argument is the state a case carries across continue-as-new: none yet.
        await client.start_workflow(
            "Case",
            args=[start, None],
            id=case_workflow_id(start.case_id),
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


async def start_texting(client: Client, key: str, texts: list[PersonText]) -> None:
    """Text people outside a case (workflows/texting.py); once per key, whoever asks again."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            "Texting",
            texts,
            id=f"texting-{key}",
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


def order_status_workflow_id(case_id: int, status: str) -> str:
    """One per status of a case told to its site's RIS: a status told twice is told once."""
    return f"case-{case_id}:order-status:{status}"
