"""Where to go after logging in: only a path of this site, as a browser would read it.

Browsers drop tabs and newlines anywhere in a URL, trim spaces at its ends and read a backslash
as a slash (WHATWG URL), so `/<TAB>/evil.com` and `/\\evil.com` both lead to `//evil.com`,
another site. The target is read the same way before it is judged; any other control
character refuses it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

DROPPED = re.compile(r"[\t\n\r]")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def local_path(target: str) -> str | None:
    """`target` as the browser would follow it, if that stays on this site; else None."""
    seen = DROPPED.sub("", target).strip(" ").replace("\\", "/")
    parts = urlsplit(seen)
    # `///evil.com` has no netloc for urllib, but a browser goes to evil.com: one slash only.
    if parts.scheme or parts.netloc or not seen.startswith("/") or seen.startswith("//"):
        return None
    return None if CONTROL.search(seen) else seen
