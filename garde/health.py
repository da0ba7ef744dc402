"""The health check of one process of this host, as a container runs it (`garde health
ROLE`): quick, and every probe gives up within seconds."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from garde.db import make_engine, make_session_factory
from garde.heartbeats import STALE_AFTER, ProcessRole, fresh_here
from garde.settings import Settings

# How long a probe waits for an answer.
TIMEOUT_S = 3


def problem(settings: Settings, role: ProcessRole) -> str | None:
    """The container health check of one process on this host: None when healthy, else one
    line saying why not. The web answers /healthz; a worker or gateway beat lately here (and
    a gateway accepts connections on its DICOM port)."""
    if role is ProcessRole.WEB:
        url = f"http://{_local(settings.web_host)}:{settings.web_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
                status = answer.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:
            return f"web: GET {url} failed ({type(e).__name__})"
        return None if status == 200 else f"web: GET {url} answered {status}"
    engine = bounded_engine(settings)
    try:
        if not fresh_here(make_session_factory(engine), role):
            stale = int(STALE_AFTER.total_seconds())
            return f"{role}: no heartbeat from this host ({socket.gethostname()}) in {stale} s"
    except Exception as e:
        return f"{role}: the database does not answer ({type(e).__name__})"
    finally:
        engine.dispose()
    if role is ProcessRole.GATEWAY:
        address = (_local(settings.dicom_host), settings.dicom_port)
        try:
            socket.create_connection(address, timeout=1).close()
        except OSError as e:
            return f"gateway: DICOM port {address[0]}:{address[1]} refuses ({type(e).__name__})"
    return None


def _local(host: str) -> str:
    """Where to reach a server listening on `host` from this machine."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def bounded_engine(settings: Settings) -> Engine:
    """The application database, where connecting and each statement give up in seconds
    (PostgreSQL; a SQLite file answers at once)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict(
            {
                "connect_timeout": str(TIMEOUT_S),
                "options": f"-c statement_timeout={TIMEOUT_S * 1000}",
            }
        )
    return make_engine(url.render_as_string(hide_password=False))
