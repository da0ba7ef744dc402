"""What one attempt to push a report version to a site's endpoint came to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    # The HTTP status, the ACK's code and text, or the connection's error: never the body.
    detail: str
