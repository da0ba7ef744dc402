"""One error type per failure kind; the web maps each to its HTTP status in one place."""

from __future__ import annotations


class GardeError(Exception):
    status = 500
    error = "internal error"

    def __init__(self, message: str | None = None, detail: object = None) -> None:
        super().__init__(message or self.error)
        self.message = message or self.error
        self.detail = detail


class InvalidInput(GardeError):
    """Bad input: `detail` maps each offending field to the reason."""

    status = 400
    error = "invalid input"

    def __init__(self, fields: dict[str, str]) -> None:
        names = ", ".join(f"{k}: {v}" for k, v in fields.items())
        super().__init__(f"invalid input ({names})", detail=fields)
        self.fields = fields


class NotAuthenticated(GardeError):
    status = 401
    error = "authentication required"


class Forbidden(GardeError):
    status = 403
    error = "forbidden"


class NotFound(GardeError):
    status = 404
    error = "not found"


class PayloadTooLarge(GardeError):
    status = 413
    error = "payload too large"


class UnsupportedMediaType(GardeError):
    status = 415
    error = "unsupported media type"


class Conflict(GardeError):
    status = 409
    error = "conflict"


class Unavailable(GardeError):
    status = 503
    error = "unavailable"
