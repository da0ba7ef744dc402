"""The DICOM gateway (`garde gateway`), also the HL7 v2 orders' MLLP listener on GARDE_HL7_PORT
(orders/): C-ECHO and C-STORE on GARDE_DICOM_AE_TITLE at
GARDE_DICOM_PORT, for every storage SOP class in the usual transfer syntaxes, stored as
received (never transcoded); C-FIND, C-GET and C-MOVE (Study and Patient Root) for a site's
PACS restoring its own studies (dicom.retrieval).

Only an AE title of a site may associate: any other is rejected (rejected-permanent,
service-user, calling-AE-title-not-recognised). The site is known from the title. Objects
are streamed to a file as they arrive (pynetdicom's chunked receive, into storage.incoming),
never held whole in memory; each is checked and stored by dicom.ingest, then indexed in
batches per association (dicom.batches), after which dicom.arrivals links its studies to
their cases and tells their workflows.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
import threading
import time
from typing import Any

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from dicom import arrivals
from dicom.batches import Batches, recover
from dicom.index import OnBatch, StudyBatch
from dicom.ingest import Source, ingest
from dicom.objects import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, Refused
from dicom.retrieval import QueryRetrieve
from dicom.storage import Storage
from garde.db import SessionFactory, make_engine, make_session_factory
from garde.heartbeats import Heartbeat, ProcessRole
from garde.messages import StudyArrival
from garde.models import SiteAeTitle
from garde.settings import Settings
from garde.temporal import connect
from orders.mllp_server import MllpListener
from orders.order_desk import OrderDesk

log = logging.getLogger(__name__)

# In a context proposing several, the first here is taken: explicit VR keeps the VRs.
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]
QUERY_RETRIEVE = [
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
]
# How long the AE titles read from the database are trusted: a title given to a site is
# accepted within this delay, one taken away refused.
TITLES_FOR_S = 5.0
# The largest PDU the gateway receives: fewer, larger reads for a large object.
MAX_PDU = 1 << 20
SUCCESS = 0x0000
SWEEP_EVERY_S = 60
# Longer than any AE title: the list of allowed titles is never empty (empty allows all).
NOBODY = "-" * 17


class SiteTitles:
    """The AE titles of the sites, read from the database at most every TITLES_FOR_S. With
    the database away, the titles last read stand: objects are still stored, and indexed
    once it is back (dicom.batches)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._read_at = -TITLES_FOR_S
        self._sites: dict[str, int] = {}

    def sites(self) -> dict[str, int]:
        with self._lock:
            if time.monotonic() - self._read_at >= TITLES_FOR_S:
                try:
                    with self._sessions() as s:
                        rows = s.execute(select(SiteAeTitle.ae_title, SiteAeTitle.site_id))
                        self._sites = {title: site_id for title, site_id in rows}
                except SQLAlchemyError as e:
                    log.warning(
                        "AE titles not read (%s): the last ones read stand", type(e).__name__
                    )
                self._read_at = time.monotonic()
            return self._sites


class GatewayAE(AE):
    """pynetdicom's AE, whose allowed calling AE titles are the sites' as they are now."""

    def __init__(self, titles: SiteTitles, ae_title: str) -> None:
        super().__init__(ae_title)
        self._titles = titles

    @property
    def require_calling_aet(self) -> list[str]:
        return list(self._titles.sites()) or [NOBODY]

    @require_calling_aet.setter
    def require_calling_aet(self, titles: list[str]) -> None:
        raise AttributeError("the gateway reads the sites' AE titles from the database")


class Gateway:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        storage: Storage,
        on_batch: OnBatch | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.titles = SiteTitles(sessions)
        self.batches = Batches(sessions, storage, on_batch)
        ae = GatewayAE(self.titles, settings.dicom_ae_title)
        # Storage both ways: a C-GET's peer takes the SCP role for the objects it gets back.
        for context in AllStoragePresentationContexts:
            assert context.abstract_syntax is not None
            ae.add_supported_context(
                context.abstract_syntax, TRANSFER_SYNTAXES, scu_role=True, scp_role=True
            )
        ae.add_supported_context(Verification, TRANSFER_SYNTAXES[:2])
        for model in QUERY_RETRIEVE:
            ae.add_supported_context(model, TRANSFER_SYNTAXES[:3])
        ae.maximum_associations = settings.dicom_max_associations
        ae.maximum_pdu_size = MAX_PDU
        ae.acse_timeout = settings.dicom_acse_timeout_s
        ae.dimse_timeout = settings.dicom_dimse_timeout_s
        ae.network_timeout = settings.dicom_network_timeout_s
        self.ae = ae
        self.query_retrieve = QueryRetrieve(
            sessions, storage, lambda title: self.titles.sites().get(title), settings.dicom_ae_title
        )
        self._stopped = threading.Event()

    def serve(self) -> None:
        """Listen until stopped (blocks); batches waiting are indexed on the way out."""
        threading.Thread(target=self._sweep, name="dicom-sweep", daemon=True).start()
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._store),
            (evt.EVT_C_FIND, self.query_retrieve.on_find),
            (evt.EVT_C_GET, self.query_retrieve.on_get),
            (evt.EVT_C_MOVE, self.query_retrieve.on_move),
            (evt.EVT_CONN_CLOSE, self._closed),
            (evt.EVT_REJECTED, self._rejected),
        ]
        address = (self.settings.dicom_host, self.settings.dicom_port)
        try:
            self.ae.start_server(address, block=True, evt_handlers=handlers)
        finally:
            self.batches.close()

    def stop(self) -> None:
        self._stopped.set()
        self.ae.shutdown()

    def _sweep(self) -> None:
        """An association aborted mid-object leaves its half in incoming/: swept once no
        receive could still be writing it (past the network timeout)."""
        idle = self.settings.dicom_network_timeout_s + SWEEP_EVERY_S
        while not self._stopped.wait(SWEEP_EVERY_S):
            self.storage.sweep_incoming(idle)

    def _store(self, event: Any) -> int:
        calling_ae = event.assoc.requestor.ae_title
        site_id = self.titles.sites().get(calling_ae)
        if site_id is None:
            log.warning("refused an object: AE %s no longer belongs to a site", calling_ae)
            return CANNOT_UNDERSTAND
        request = event.request
        try:
            stored = ingest(
                event.dataset_path,
                Source(site_id, calling_ae),
                self.storage,
                self.settings.dicom_max_object_bytes,
                sop_class_uid=str(request.AffectedSOPClassUID),
                sop_instance_uid=str(request.AffectedSOPInstanceUID),
            )
        except Refused as refused:
            return refused.status
        except OSError as e:
            log.error("could not store an object from AE %s: %s", calling_ae, e.strerror)
            return OUT_OF_RESOURCES
        self.batches.add(event.assoc, stored.received)
        return SUCCESS

    def _closed(self, event: Any) -> None:
        self.batches.flush(event.assoc)

    def _rejected(self, event: Any) -> None:
        requestor = event.assoc.requestor
        log.warning(
            "rejected an association from AE %s at %s (not a site's AE title, or too many)",
            requestor.ae_title,
            requestor.address,
        )


class CaseTeller:
    """After a batch: link its studies to their cases (dicom.arrivals.link) and tell their
    workflows (dicom.arrivals.announce) through one Temporal client on its own event loop,
    without waiting: receiving never waits for Temporal. With Temporal down the studies stay
    linked, the failure is logged, and the client connects again for the next batch."""

    def __init__(self, settings: Settings, sessions: SessionFactory) -> None:
        self._settings = settings
        self._sessions = sessions
        self._loop = asyncio.new_event_loop()
        self._client: Client | None = None
        threading.Thread(target=self._loop.run_forever, name="temporal", daemon=True).start()

    def __call__(self, batch: list[StudyBatch]) -> None:
        with self._sessions() as s:  # link commits what it links
            found = arrivals.link(s, batch)
        if found:
            asyncio.run_coroutine_threadsafe(self._announce(found), self._loop)

    async def _announce(self, found: list[StudyArrival]) -> None:
        try:
            if self._client is None:
                self._client = await connect(self._settings)
            await arrivals.announce(self._client, found)
        except Exception:
            self._client = None
            log.exception("telling %d cases of their images failed", len(found))


def main(settings: Settings) -> None:
    """Run the gateway until SIGTERM or Ctrl-C."""
    # Received objects are written to a file as they arrive, in incoming/ so that keeping
    # one is a link on the same file system, not a copy.
    _config.STORE_RECV_CHUNKED_DATASET = True
    _config.LOG_REQUEST_IDENTIFIERS = False  # identifiers may name the patient
    storage = Storage(settings.data_dir)
    storage.sweep_incoming(settings.dicom_network_timeout_s)
    tempfile.tempdir = str(storage.incoming)
    sessions = make_session_factory(make_engine(settings.database_url))
    gateway = Gateway(settings, sessions, storage, CaseTeller(settings, sessions))
    # HL7 v2 orders from the sites' RIS, on the gateway's address (orders/): bound before
    # anything is served, so a port in use stops the gateway at once.
    orders = MllpListener(OrderDesk(sessions, lambda: connect(settings)).take)
    orders.start(settings.dicom_host, settings.hl7_port)
    recovered = recover(storage, gateway.batches)
    if recovered:
        log.info("indexed %d objects stored before the last stop", recovered)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=gateway.stop).start())
    log.info(
        "DICOM gateway %s listening on %s:%s",
        settings.dicom_ae_title,
        settings.dicom_host,
        settings.dicom_port,
    )
    log.info("HL7 orders listening on %s:%s", settings.dicom_host, settings.hl7_port)
    with Heartbeat(sessions, ProcessRole.GATEWAY):
        try:
            gateway.serve()
        except KeyboardInterrupt:
            gateway.stop()
        finally:
            orders.stop()
