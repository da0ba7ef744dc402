"""Login throttling: failed logins are counted per account and per address (flask-limiter),
and past a limit the login form answers 429 with Retry-After, the right password included.

Only failures count, so people who type their password right are never slowed. The counts
live in `GARDE_RATE_LIMIT_STORAGE`: in memory by default, which is per web process; web
processes that should share the counts need a shared storage (e.g. redis://).
"""

from __future__ import annotations

import math
import time

from flask import Flask, request
from flask.wrappers import Response
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from garde.settings import Settings
from web import rate_limit_storage  # noqa: F401 - `memory://`, safe for the web's threads

# A person mistyping stays far below these; a guesser is stopped within minutes. Per address
# the allowance is larger: a hospital's staff may share one address.
PER_ACCOUNT = "10 per 15 minutes"
PER_ADDRESS = "50 per 15 minutes"

limiter = Limiter(key_func=get_remote_address, strategy="moving-window")


def _account() -> str:
    return "account:" + request.form.get("username", "").strip().lower()


def _failed(response: Response) -> bool:
    return response.status_code == 401


per_account = limiter.limit(
    PER_ACCOUNT,
    key_func=_account,
    methods=["POST"],
    deduct_when=_failed,
    scope="login-account",
)
per_address = limiter.limit(
    PER_ADDRESS,
    methods=["POST"],
    deduct_when=_failed,
    scope="login-address",
)


def seconds_until_retry() -> int:
    """When the limit this request broke lets a login through again."""
    broken = limiter.current_limit
    return max(1, math.ceil(broken.window.reset_time - time.time())) if broken else 60


def init(app: Flask, settings: Settings) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = settings.rate_limit_storage
    limiter.init_app(app)
