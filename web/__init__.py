"""The Flask application: one factory, one blueprint per audience."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from activities.sms import SmsPort, make_sms_port
from garde.db import SessionFactory, make_engine, make_session_factory
from garde.demo import demo_logins_exist
from garde.settings import Settings
from web import body_limits, i18n, login_limits
from web.case_actions import CaseActions
from web.row_ids import RowId
from web.temporal_bridge import TemporalBridge


@dataclass
class Services:
    """What the views need, built once per process."""

    settings: Settings
    sessions: SessionFactory
    temporal: TemporalBridge
    cases: CaseActions
    sms: SmsPort


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.request_class = body_limits.Request  # larger bodies for the views taking images
    app.url_map.converters["int"] = RowId  # before any route is added
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    if settings.behind_proxy:
        # One proxy in front: its X-Forwarded-* tell the client's address, scheme and host.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    login_limits.init(app, settings)
    i18n.init(app)
    sessions = make_session_factory(make_engine(settings.database_url))
    temporal = TemporalBridge(settings)
    app.extensions["garde"] = Services(
        settings,
        sessions,
        temporal,
        CaseActions(temporal, sessions),
        make_sms_port(settings, sessions),
    )

    from web import (
        account,
        admin,
        analytics,
        api,
        auth_views,
        billing_pages,
        codec_server,
        coordinator,
        dev,
        dicomweb,
        dicomweb_access,
        dicomweb_read,
        errors,
        expert,
        expert_macros,
        expert_settings,
        expert_statements,
        feeds,
        fhir,
        health,
        live_events,
        metrics,
        my_roster,
        ohif,
        roster_import,
        roster_pages,
        roster_reports,
        security_headers,
        share_pages,
        site,
        sms,
        url_controls,
        voice,
    )

    errors.register(app)
    dicomweb_access.install_cors(app)
    security_headers.install(app)
    url_controls.install(app)
    for blueprint in (
        auth_views.bp,
        account.bp,
        site.bp,
        expert.bp,
        share_pages.bp,
        my_roster.bp,
        expert_settings.bp,
        expert_macros.bp,
        expert_statements.bp,
        feeds.bp,
        coordinator.bp,
        admin.bp,
        roster_pages.bp,
        roster_import.bp,
        roster_reports.bp,
        analytics.bp,
        billing_pages.bp,
        api.bp,
        fhir.bp,
        dicomweb.bp,
        sms.bp,
        voice.bp,
        dev.bp,
        health.bp,
        live_events.bp,
        metrics.bp,
        codec_server.bp,
        ohif.bp,
    ):
        app.register_blueprint(blueprint)
    dicomweb_read.register(app)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        """Browsers ask for it on every page, whatever the page says."""
        return app.send_static_file("favicon.ico")

    @app.before_request
    def open_session() -> None:
        from web.access import load_user

        g.db = sessions()
        # /metrics takes its own bearer token (GARDE_METRICS_TOKEN), which is no user's.
        g.user = None if request.blueprint == "metrics" else load_user(g.db)

    @app.teardown_request
    def close_session(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.context_processor
    def layout_globals() -> dict[str, Any]:
        return {
            "current_user": g.get("user"),
            "dev_outbox": settings.dev_outbox_open,
            # A callable: asked only by the pages that draw the layout.
            "demo_logins_exist": lambda: "db" in g and demo_logins_exist(g.db),
        }

    return app


def services() -> Services:
    from flask import current_app

    found: Services = current_app.extensions["garde"]
    return found
