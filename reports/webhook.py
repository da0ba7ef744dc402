"""The site's report webhook: each version posted as a FHIR bundle, signed with the site's
secret so that the receiver can tell Garde's posts from anyone else's (api.md)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

from reports.outcome import Outcome

# One attempt may not hold the activity longer than this; Temporal retries it.
TIMEOUT_S = 10.0
SIGNATURE_HEADER = "X-Garde-Signature"
# The same on every attempt of one version: a receiver that stored it drops a repeat.
DELIVERY_HEADER = "X-Garde-Delivery"


def bundle_body(bundle: dict[str, Any]) -> bytes:
    """The exact bytes posted, and signed."""
    return json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of the body with the site's secret: `X-Garde-Signature`."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post(url: str, secret: str, body: bytes, delivery_id: str) -> Outcome:
    """POST the body once; delivered on a 2xx answer. A redirect is not followed: the body
    goes to the address the site registered, nowhere else. TLS is verified."""
    parts = urlsplit(url)
    assert parts.hostname is not None, "garde.registry checks the URL"
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=TIMEOUT_S, context=ssl.create_default_context()
        )
    else:  # plain HTTP: to this machine only (garde.registry)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_S)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request(
            "POST",
            target,
            body=body,
            headers={
                "Content-Type": "application/fhir+json",
                SIGNATURE_HEADER: signature(secret, body),
                DELIVERY_HEADER: delivery_id,
            },
        )
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as e:  # refused, TLS, timeout, garbled
        return Outcome(False, f"{type(e).__name__}: {e}")
    finally:
        connection.close()
    return Outcome(200 <= status < 300, f"HTTP {status}")
