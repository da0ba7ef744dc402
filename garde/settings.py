"""Configuration, read once from the environment variables documented in api.md."""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from garde.payload_codec import PayloadKey, payload_keys


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    temporal_address: str | None  # None: `garde up` starts the embedded dev server
    temporal_namespace: str
    web_host: str
    web_port: int
    public_url: str
    dicom_ae_title: str
    dicom_port: int
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_from_number: str | None
    twilio_api_url: str | None
    secret_key: str
    # Encrypt what Garde sends to Temporal (garde/payload_codec.py): the first key encrypts.
    payload_keys: tuple[PayloadKey, ...]
    reconcile_every: timedelta = timedelta(minutes=1)
    # A swap both experts agreed on waits for a coordinator's approval before it applies.
    swap_needs_approval: bool = False
    # The zone the region's calendar feed and roster pages are shown in.
    region_timezone: str = "Europe/Paris"
    # The hour (region time) of the daily coverage check; None: no check is scheduled.
    coverage_check_hour: int | None = 18
    # A developer's machine (`garde up`): with Twilio unset, staff may read and answer the
    # SMS outbox. Never inferred from where a request comes from: behind a proxy all is local.
    dev_outbox: bool = False
    # How long a new API token lives.
    token_lifetime: timedelta = timedelta(days=90)
    # Behind a reverse proxy: trust one hop of X-Forwarded-For/-Proto/-Host (never otherwise,
    # or anyone could choose the address that login throttling counts).
    behind_proxy: bool = False
    # Where failed logins are counted (flask-limiter storage URI). memory:// is per process:
    # several web processes each count their own unless they share e.g. redis://host:6379.
    rate_limit_storage: str = "memory://"
    # New cases a site may send per hour (counted where failed logins are): a flood from one
    # site, a script gone wrong or a stolen token, would fill every expert's worklist.
    cases_per_site_per_hour: int = 60
    # The bearer token Prometheus sends for /metrics; None: /metrics is not served.
    metrics_token: str | None = None
    # The Temporal UI's origin (scheme://host:port), the one other site whose pages may call
    # the codec endpoint (web/codec_server.py); None: no other site may.
    temporal_ui_origin: str | None = None
    # The MLLP listener of `garde gateway` taking HL7 v2 orders from the sites' RIS.
    hl7_port: int = 2575
    # Tests: every answer of the API is checked against its description (web/api/describe.py).
    check_api_answers: bool = False
    # The DICOM gateway (dicom/gateway.py): the address it listens on, how many associations
    # at once, the largest object, and how long it waits for a peer: for an association's
    # negotiation and release (ACSE), for the next message (DIMSE), for any data (network).
    # The defaults let a CT of thousands of slices through on one association.
    dicom_host: str = "127.0.0.1"
    dicom_max_associations: int = 20
    dicom_max_object_bytes: int = 2 << 30
    dicom_acse_timeout_s: float = 30
    dicom_dimse_timeout_s: float = 120
    dicom_network_timeout_s: float = 300
    # The embedded Temporal server's frontend and UI ports (`garde up`, no temporal_address).
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    # Log lines (garde/logs.py): "json", one object per line, or "text" for a person; the
    # lowest level written.
    log_format: str = "json"
    log_level: str = "INFO"
    # `garde worker` serves the Temporal SDK's metrics for Prometheus at host:port; None: not.
    worker_metrics_address: str | None = None
    # The viewer an expert opens a study in: a URL with {study_uid}, {dicomweb_root} and
    # {dicomweb_root_quoted} (URL-encoded); None: Garde's own OHIF at /ohif when served, or none.
    viewer_url_template: str | None = None
    # Where `make ohif` unpacks OHIF's prebuilt viewer, which `garde web` serves at /ohif
    # (GARDE_OHIF_DIR, else <data_dir>/ohif); None: none is served.
    ohif_dir: Path | None = None
    # Origins (scheme://host[:port]) whose pages may read DICOMweb from a browser (CORS; `*`:
    # any): a viewer served elsewhere, which sends a bearer token or a signed link, no cookie.
    dicomweb_cors_origins: tuple[str, ...] = ()

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"localhost:{self.temporal_port}"

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    @property
    def https(self) -> bool:
        """Served over HTTPS: the session cookie is then sent over HTTPS only."""
        return self.public_url.startswith("https://")

    @property
    def dev_outbox_open(self) -> bool:
        return self.dev_outbox and not self.twilio_configured

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        data_dir = Path(e.get("GARDE_DATA_DIR") or "./var").resolve()
        web_host = e.get("GARDE_WEB_HOST") or "127.0.0.1"
        web_port = int(e.get("GARDE_WEB_PORT") or 8000)
        return cls(
            data_dir=data_dir,
            database_url=e.get("GARDE_DATABASE_URL") or f"sqlite:///{data_dir / 'garde.db'}",
            temporal_address=e.get("GARDE_TEMPORAL_ADDRESS") or None,
            temporal_namespace=e.get("GARDE_TEMPORAL_NAMESPACE") or "default",
            web_host=web_host,
            web_port=web_port,
            public_url=(e.get("GARDE_PUBLIC_URL") or _local_url(web_host, web_port)).rstrip("/"),
            dicom_ae_title=e.get("GARDE_DICOM_AE_TITLE") or "GARDE",
            dicom_port=int(e.get("GARDE_DICOM_PORT") or 11112),
            hl7_port=int(e.get("GARDE_HL7_PORT") or 2575),
            twilio_account_sid=e.get("TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=e.get("TWILIO_AUTH_TOKEN") or None,
            twilio_from_number=e.get("TWILIO_FROM_NUMBER") or None,
            twilio_api_url=e.get("GARDE_TWILIO_API_URL") or None,
            secret_key=_secret_key(data_dir, e.get("GARDE_SECRET_KEY")),
            payload_keys=payload_keys(data_dir, e.get("GARDE_PAYLOAD_KEYS")),
            reconcile_every=timedelta(seconds=float(e.get("GARDE_RECONCILE_EVERY_S") or 60)),
            swap_needs_approval=_on(e.get("GARDE_SWAP_NEEDS_APPROVAL")),
            region_timezone=e.get("GARDE_REGION_TIMEZONE") or "Europe/Paris",
            coverage_check_hour=_hour_or_off(e.get("GARDE_COVERAGE_CHECK_HOUR") or "18"),
            dev_outbox=_on(e.get("GARDE_DEV_OUTBOX")),
            token_lifetime=timedelta(days=float(e.get("GARDE_TOKEN_DAYS") or 90)),
            behind_proxy=_on(e.get("GARDE_BEHIND_PROXY")),
            rate_limit_storage=e.get("GARDE_RATE_LIMIT_STORAGE") or "memory://",
            cases_per_site_per_hour=_positive(e, "GARDE_CASES_PER_SITE_PER_HOUR", 60),
            metrics_token=e.get("GARDE_METRICS_TOKEN") or None,
            temporal_ui_origin=(e.get("GARDE_TEMPORAL_UI_ORIGIN") or "").rstrip("/") or None,
            check_api_answers=_on(e.get("GARDE_CHECK_API_ANSWERS")),
            dicom_host=e.get("GARDE_DICOM_HOST") or "127.0.0.1",
            dicom_max_associations=_positive(e, "GARDE_DICOM_MAX_ASSOCIATIONS", 20),
            dicom_max_object_bytes=_positive(e, "GARDE_DICOM_MAX_OBJECT_MB", 2048) << 20,
            dicom_acse_timeout_s=_positive(e, "GARDE_DICOM_ACSE_TIMEOUT_S", 30),
            dicom_dimse_timeout_s=_positive(e, "GARDE_DICOM_DIMSE_TIMEOUT_S", 120),
            dicom_network_timeout_s=_positive(e, "GARDE_DICOM_NETWORK_TIMEOUT_S", 300),
            temporal_port=_positive(e, "GARDE_TEMPORAL_PORT", 7233),
            temporal_ui_port=_positive(e, "GARDE_TEMPORAL_UI_PORT", 8233),
            log_format=_one_of(e, "GARDE_LOG_FORMAT", ("json", "text")),
            log_level=_one_of(e, "GARDE_LOG_LEVEL", ("INFO", "DEBUG", "WARNING", "ERROR")),
            worker_metrics_address=_host_port(e, "GARDE_WORKER_METRICS_ADDRESS"),
            viewer_url_template=_viewer_url_template(e.get("GARDE_VIEWER_URL_TEMPLATE") or ""),
            ohif_dir=Path(e.get("GARDE_OHIF_DIR") or data_dir / "ohif").resolve(),
            dicomweb_cors_origins=_origins(e.get("GARDE_DICOMWEB_CORS_ORIGINS") or ""),
        )


def _local_url(host: str, port: int) -> str:
    """Where this machine reaches the web app when no public URL is set: the port follows
    GARDE_WEB_PORT, so SMS links and the Temporal UI's codec endpoint stay right."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _on(raw: str | None) -> bool:
    return (raw or "").strip().lower() in ("1", "true", "yes", "on")


def _positive(e: dict[str, str], name: str, default: int) -> int:
    raw = (e.get(name) or str(default)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number above 0, not {raw!r}")
    return int(raw)


def _one_of(e: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    """The first choice is the default; case does not matter."""
    raw = (e.get(name) or choices[0]).strip()
    for choice in choices:
        if raw.lower() == choice.lower():
            return choice
    raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")


def _host_port(e: dict[str, str], name: str) -> str | None:
    raw = (e.get(name) or "").strip()
    if not raw:
        return None
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} must be host:port, not {raw!r}")
    return raw


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/?#\s]+", origin):
            raise ValueError(
                f"GARDE_DICOMWEB_CORS_ORIGINS must list origins (scheme://host[:port]), "
                f"not {origin!r}"
            )
    return origins


VIEWER_PLACEHOLDERS = ("study_uid", "dicomweb_root", "dicomweb_root_quoted")


def _viewer_url_template(raw: str) -> str | None:
    """Checked at start, so a mistyped placeholder is not found by the first expert to click."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(raw) if name is not None}
    except ValueError as e:
        raise ValueError(f"GARDE_VIEWER_URL_TEMPLATE is not a valid template: {e}") from None
    unknown = sorted(names - set(VIEWER_PLACEHOLDERS))
    if unknown:
        raise ValueError(
            f"GARDE_VIEWER_URL_TEMPLATE has unknown placeholders {unknown}: use "
            + ", ".join("{" + n + "}" for n in VIEWER_PLACEHOLDERS)
        )
    if not raw.startswith(("http://", "https://", "/")):
        raise ValueError(f"GARDE_VIEWER_URL_TEMPLATE must be an http(s) URL or a path, not {raw!r}")
    return raw


def _hour_or_off(raw: str) -> int | None:
    if raw.strip().lower() == "off":
        return None
    if raw.strip().isdigit() and 0 <= int(raw) <= 23:
        return int(raw)
    raise ValueError(f"GARDE_COVERAGE_CHECK_HOUR must be an hour 0-23 or off, not {raw!r}")


def _secret_key(data_dir: Path, given: str | None) -> str:
    """Session cookies must survive a restart, so the generated key is kept in the data folder."""
    if given:
        return given
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    import secrets

    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the key, the databases: owner only
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
