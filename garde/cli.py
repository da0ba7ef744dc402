"""The `garde` command line (api.md): run the system or one of its processes, manage users."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from garde.children import die_with_parent
from garde.db import make_engine, make_session_factory, upgrade
from garde.domain import Role
from garde.errors import InvalidInput, NotFound
from garde.heartbeats import ProcessRole
from garde.logs import configure_logging
from garde.models import utcnow
from garde.settings import Settings


@click.group()
def main() -> None:
    """Garde: teleradiology on-call orchestration."""


@main.group()
def db() -> None:
    """The application database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    settings = Settings.from_env()
    upgrade(settings.database_url)
    click.echo("database is up to date")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(path: Path) -> None:
    """Write a consistent copy of the SQLite database to PATH (owner-only), even while Garde
    runs; with PostgreSQL, print the pg_dump command to run."""
    from garde.backup import BackupError, backup, is_sqlite, postgres_commands

    settings = Settings.from_env()
    if not is_sqlite(settings):
        raise click.ClickException(postgres_commands(settings, "backup", path))
    try:
        backup(settings, path)
    except BackupError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"database backed up to {path}")


@db.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="restore even though Garde seems to be running")
def db_restore(path: Path, force: bool) -> None:
    """Replace the SQLite database with the backup at PATH (the previous one is kept as
    garde.db.before-restore), then migrate it; with PostgreSQL, print the pg_restore command."""
    from garde.backup import BackupError, is_sqlite, postgres_commands, restore

    settings = Settings.from_env()
    if not is_sqlite(settings):
        raise click.ClickException(postgres_commands(settings, "restore", path))
    try:
        click.echo(restore(settings, path, force=force))
    except BackupError as e:
        raise click.ClickException(str(e)) from e


@main.command("demo-data")
def demo_data() -> None:
    """Load the demo region; running it twice changes nothing."""
    from garde.demo import load_demo_data

    settings = Settings.from_env()
    upgrade(settings.database_url)
    sessions = make_session_factory(make_engine(settings.database_url))
    try:
        with sessions.begin() as s:
            summary = load_demo_data(s)
    except InvalidInput as e:
        # E.g. a shift added by hand where a demo rotation would put one: nothing was loaded.
        raise click.ClickException(f"the demo region was not loaded, nothing changed: {e}") from e
    click.echo(summary)


@main.group()
def user() -> None:
    """Logins."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--site", "site_code", help="the site code, for a site login")
@click.option("--expert", "expert_code", help="the expert code, for an expert login")
@click.password_option(envvar="GARDE_NEW_PASSWORD")
def user_add(
    username: str, role: str, site_code: str | None, expert_code: str | None, password: str
) -> None:
    """Create a login."""
    from garde.accounts import add_user

    sessions = _sessions()
    try:
        with sessions.begin() as s:
            add_user(s, username, password, Role(role), site_code, expert_code)
    except InvalidInput as e:
        raise click.UsageError(e.message) from e
    click.echo(f"user {username} created ({role})")


@user.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Refuse this login: its sessions and API tokens stop working at once."""
    _set_disabled(username, True)
    click.echo(f"user {username} disabled; their sessions and tokens no longer work")


@user.command("enable")
@click.argument("username")
def user_enable(username: str) -> None:
    """Let a disabled login in again (its tokens work again unless expired or revoked)."""
    _set_disabled(username, False)
    click.echo(f"user {username} enabled")


def _set_disabled(username: str, disabled: bool) -> None:
    from garde.accounts import set_disabled

    try:
        with _sessions().begin() as s:
            set_disabled(s, username, disabled)
    except NotFound as e:
        raise click.UsageError(e.message) from e


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), help="lifetime in days")
def token_create(username: str, days: float | None) -> None:
    """Print a new API token for that user (shown once; only its hash is kept). It expires
    after --days, by default GARDE_TOKEN_DAYS."""
    from garde.accounts import create_token
    from garde.models import User

    lifetime = timedelta(days=days) if days else Settings.from_env().token_lifetime
    with _sessions().begin() as s:
        found = s.scalar(select(User).where(User.username == username))
        if found is None:
            raise click.UsageError(f"no user {username}")
        click.echo(create_token(s, found, lifetime))


@token.command("revoke")
@click.argument("token", required=False)
@click.option("--user", "username", help="revoke every token of this user instead")
def token_revoke(token: str | None, username: str | None) -> None:
    """Revoke one API token (give the token), or every token of a user (--user)."""
    from garde.accounts import revoke_token, revoke_user_tokens

    if (token is None) == (username is None):
        raise click.UsageError("give either a TOKEN or --user USERNAME")
    try:
        with _sessions().begin() as s:
            if token is not None:
                revoke_token(s, token)
                click.echo("token revoked")
            elif username is not None:
                click.echo(f"{revoke_user_tokens(s, username)} token(s) of {username} revoked")
    except NotFound as e:
        raise click.UsageError(e.message) from e


@main.command()
def worker() -> None:
    """Run the Temporal worker (the case workflow and its activities)."""
    from garde.switching import favour_the_event_loop
    from garde.worker import main as run

    settings = Settings.from_env()
    configure_logging("worker", settings)
    favour_the_event_loop()
    run(settings)


@main.command()
def gateway() -> None:
    """Run the DICOM gateway (C-ECHO, C-STORE from the sites' AE titles) and the HL7 v2
    orders' MLLP listener (ORM^O01 from the sites' RIS)."""
    from dicom.gateway import main as run

    settings = Settings.from_env()
    configure_logging("gateway", settings)
    run(settings)


@main.command()
def web() -> None:
    """Run the web app (waitress)."""
    from waitress import serve

    from garde.heartbeats import Heartbeat
    from garde.switching import favour_the_event_loop
    from web import create_app
    from web.live_events import MAX_STREAMS

    settings = Settings.from_env()
    configure_logging("web", settings)
    favour_the_event_loop()
    app = create_app(settings)
    # SIGTERM stops waitress as Ctrl-C does (it returns on SystemExit): the heartbeat goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Heartbeat(app.extensions["garde"].sessions, ProcessRole.WEB):
        serve(
            app,
            host=settings.web_host,
            port=settings.web_port,
            # 16 for the requests, one more for each live page's event stream
            # (web/live_events.py), which sees its browser leave thanks to the lookahead.
            threads=16 + MAX_STREAMS,
            channel_request_lookahead=1,
            # X-Forwarded-* reach the app (its ProxyFix) only behind a proxy; otherwise dropped.
            clear_untrusted_proxy_headers=not settings.behind_proxy,
        )


@main.command("resume-cases")
def resume_cases() -> None:
    """Start again the workflow of every open case that Temporal does not know, from where its
    record stands: after an upgrade from Garde 0.1 (on a new namespace), or once Temporal lost
    its data. A case Temporal knows is left alone: running it twice changes nothing."""
    from garde.reconciler import resume_cases as resume

    started = resume(Settings.from_env())
    click.echo(f"{started} case(s) started again")


@main.command()
def status() -> None:
    """Which processes run (on every machine), the database and Temporal answering, the cases
    in flight, the reconciler's last pass. Exit status 1 when the database or Temporal does
    not answer, or no worker or no web process runs."""
    from garde.status import probe, render

    lines, healthy = render(probe(Settings.from_env()), utcnow())
    click.echo("\n".join(lines))
    sys.exit(0 if healthy else 1)


@main.command()
@click.argument("role", type=click.Choice([role.value for role in ProcessRole]))
def health(role: str) -> None:
    """The health check of one process on this host (a container's): the web answers
    /healthz; a worker or gateway beat lately (a gateway's DICOM port accepts too). Exit
    status 1 with one line saying why not."""
    from garde.health import problem

    found = problem(Settings.from_env(), ProcessRole(role))
    if found is not None:
        click.echo(found, err=True)
        sys.exit(1)


@main.command()
@click.option("--demo", is_flag=True, help="load the demo region and its published logins first")
def up(demo: bool) -> None:
    """Migrate, load the demo region if asked, start Temporal (embedded), the worker, the
    DICOM gateway and the web app. Without --demo an empty database stays empty: real logins
    are made by hand."""
    from garde.demo import demo_logins_table, load_demo_data
    from garde.models import User
    from garde.temporal import start_dev_server, wait_for_port

    if sys.stderr.isatty():
        # A person watches this terminal: its processes log text there, not JSON, unless said.
        os.environ.setdefault("GARDE_LOG_FORMAT", "text")
    settings = Settings.from_env()
    configure_logging("up", settings)
    _check_ports_free(settings)
    upgrade(settings.database_url)
    with make_session_factory(make_engine(settings.database_url)).begin() as s:
        if demo:
            click.echo(load_demo_data(s))
        has_logins = s.scalar(select(User.id).limit(1)) is not None
    # SIGTERM and SIGHUP (its terminal closed) end us like Ctrl-C does: every child is stopped
    # in the `finally` below. SIGINT is set too: a shell starting us in the background leaves it
    # ignored. Killed with -9, the kernel stops the children (die_with_parent).
    for sig in _STOPPING:
        signal.signal(sig, _interrupt)
    children: list[subprocess.Popen[Any]] = []
    try:
        env = dict(os.environ)
        # One machine run by a developer: the SMS outbox is open to staff unless said not.
        env.setdefault("GARDE_DEV_OUTBOX", "1")
        if settings.temporal_address is None:
            click.echo("starting the embedded Temporal server ...")
            # Its UI shows payloads decrypted by Garde's codec endpoint, to a Garde admin.
            ui = f"http://127.0.0.1:{settings.temporal_ui_port}"
            codec = f"{settings.public_url}/temporal-codec"
            children.append(
                start_dev_server(
                    settings.data_dir,
                    port=settings.temporal_port,
                    ui_port=settings.temporal_ui_port,
                    ui_codec_endpoint=codec,
                )
            )
            env["GARDE_TEMPORAL_ADDRESS"] = settings.temporal_target
            env.setdefault("GARDE_TEMPORAL_UI_ORIGIN", ui)
            click.echo(f"Temporal UI:  {ui}")
        garde = [sys.executable, "-m", "garde.cli"]
        # Own sessions: Ctrl-C reaches this supervisor only, which stops the children in order.
        for role in ("worker", "gateway", "web"):
            children.append(
                subprocess.Popen(
                    [*garde, role],
                    env=env,
                    start_new_session=True,
                    preexec_fn=die_with_parent(),
                )
            )
        wait_for_port(settings.web_host, settings.web_port, children[-1])
        base = f"http://{settings.web_host}:{settings.web_port}"
        click.echo(f"Garde web:    {base}")
        wait_for_port(settings.dicom_host, settings.dicom_port, children[-2])
        click.echo(
            f"DICOM:        {settings.dicom_ae_title}@{settings.dicom_host}:{settings.dicom_port}"
            " (C-STORE from the sites' AE titles)"
        )
        wait_for_port(settings.dicom_host, settings.hl7_port, children[-2])
        click.echo(
            f"HL7 v2:       {settings.dicom_host}:{settings.hl7_port}"
            " (ORM^O01 orders over MLLP from the sites' RIS)"
        )
        if demo:
            click.echo("Demo logins (published passwords: never with real patients):")
            click.echo(demo_logins_table())
        elif not has_logins:
            click.echo(
                "No login yet. Create the first admin in another terminal:\n"
                "  garde user add --role admin USERNAME\n"
                "(or run `garde up --demo` to try Garde with the demo region)"
            )
        if Settings.from_env(env).dev_outbox_open:
            click.echo(f"SMS go to the dev outbox (log in as coordinator): {base}/dev/outbox")
        click.echo("Ctrl-C stops everything.")
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        raise click.ClickException("a process of Garde stopped; everything was shut down")
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):  # its terminal may be gone (closed: SIGHUP)
            click.echo("stopping ...")
    finally:
        _stop(children)


_STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _check_ports_free(settings: Settings) -> None:
    """Before anything starts: a port in use is one line naming the setting to change."""
    ports = [
        ("GARDE_WEB_PORT", settings.web_host, settings.web_port),
        ("GARDE_DICOM_PORT", settings.dicom_host, settings.dicom_port),
        ("GARDE_HL7_PORT", settings.dicom_host, settings.hl7_port),
    ]
    if settings.temporal_address is None:
        ports += [
            ("GARDE_TEMPORAL_PORT", "127.0.0.1", settings.temporal_port),
            ("GARDE_TEMPORAL_UI_PORT", "127.0.0.1", settings.temporal_ui_port),
        ]
    for variable, host, port in ports:
        try:
            # SO_REUSEADDR, as the servers bind: a port in TIME_WAIT from a last run is free.
            socket.create_server((host, port)).close()
        except (OSError, OverflowError) as e:
            in_use = getattr(e, "errno", None) == errno.EADDRINUSE
            why = "is in use" if in_use else f"cannot be listened on ({e})"
            raise click.ClickException(f"{host}:{port} {why}: set {variable} to a free port") from e


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen[Any]]) -> None:
    """Web first, then the worker (it finishes its tasks), then Temporal."""
    for sig in _STOPPING:
        signal.signal(sig, signal.SIG_IGN)
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


def _sessions() -> Any:
    settings = Settings.from_env()
    upgrade(settings.database_url)
    return make_session_factory(make_engine(settings.database_url))


if __name__ == "__main__":
    main()
