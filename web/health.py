"""Health: is the database answering, is Temporal reachable."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify
from sqlalchemy import text
from temporalio.client import Client

from web import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        g.db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = f"error: {type(e).__name__}"

    async def ping(client: Client) -> None:
        await client.service_client.check_health()

    try:
        services().temporal.run(ping, timeout=5)
        checks["temporal"] = "ok"
    except Exception as e:
        checks["temporal"] = f"error: {type(e).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "degraded", "checks": checks}), (
        200 if healthy else 503
    )
