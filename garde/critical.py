"""Critical results (ACR practice parameter on communication of diagnostic imaging findings):
category 1 immediate, 2 urgent, 3 significant. Categories 1 and 2 must be acknowledged by the
site within a deadline per category, a site's setting (`critical_ack_within_s`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

# The defaults: 15 minutes for an immediate finding, an hour for an urgent one.
ACK_WITHIN: dict[int, int] = {1: 15 * 60, 2: 60 * 60}


def ack_within(site_setting: dict[str, Any], category: int) -> timedelta:
    """How long the site has to acknowledge a finding of this category."""
    seconds = site_setting.get(str(category), ACK_WITHIN[category])
    return timedelta(seconds=int(seconds))
