"""How large a request body may be: MAX_CONTENT_LENGTH (16 MiB), except for the views that take
images (STOW-RS, a site's upload), marked @large_body. The limit must be known before the body
is first read, and the CSRF check reads a form before any view's code runs (web/forms.py):
so the request reads the limit from its view's mark."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import flask
from flask import current_app

F = TypeVar("F", bound=Callable[..., Any])

# Waitress's own limit on a body (its max_request_body_size): a study of a few thousand
# images. Each object is bounded too (GARDE_DICOM_MAX_OBJECT_MB).
LARGE_BODY_BYTES = 1 << 30


def large_body(view: F) -> F:
    """Mark a view that takes bodies up to LARGE_BODY_BYTES; put it closest to the function
    (the role checks' `functools.wraps` carry the mark outwards)."""
    view.large_body = True  # type: ignore[attr-defined]
    return view


class Request(flask.Request):
    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and current_app:
            view = current_app.view_functions.get(self.endpoint or "")
            if getattr(view, "large_body", False):
                return LARGE_BODY_BYTES
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value
