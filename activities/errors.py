"""How an activity says what kind of failure it met, so that the workflow's retries fit it.

A permanent failure (a row that cannot exist, a phone Twilio refuses) is non-retryable and
reaches the workflow at once; anything else is retried within the bound of the policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import NoResultFound
from temporalio.exceptions import ApplicationError

INVALID_REQUEST = "InvalidRequest"
UNDELIVERABLE = "Undeliverable"
# An update refused for good: the web gave up on it, or it came after its `not_after`.
TOO_LATE = "Stale"


def invalid_request(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_REQUEST, non_retryable=True)


def undeliverable(message: str) -> ApplicationError:
    return ApplicationError(message, type=UNDELIVERABLE, non_retryable=True)


def too_late() -> ApplicationError:
    return ApplicationError(
        "the request came too late and was not applied", type=TOO_LATE, non_retryable=True
    )


@contextmanager
def rows_must_exist(what: str) -> Iterator[None]:
    """A missing row will still be missing on the next attempt: fail for good."""
    try:
        yield
    except NoResultFound as e:
        raise invalid_request(f"{what} does not exist") from e
