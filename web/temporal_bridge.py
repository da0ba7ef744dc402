"""One long-lived Temporal client for the web process, on its own background event loop.

A Temporal client is bound to the loop it was created on, and Flask views are synchronous
and threaded: every view hands its coroutine to this loop instead of connecting per request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import Client

from garde.errors import Unavailable
from garde.settings import Settings
from garde.temporal import connect

T = TypeVar("T")


class TemporalBridge:
    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        self._settings = settings
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._client: Client | None = None
        self._connecting = threading.Lock()
        threading.Thread(target=self._loop.run_forever, name="temporal-loop", daemon=True).start()

    def run(self, action: Callable[[Client], Awaitable[T]], timeout: float | None = None) -> T:
        """Run `action(client)` on the bridge's loop and wait for its result."""

        async def with_client() -> T:
            return await action(await self._connected())

        future = asyncio.run_coroutine_threadsafe(with_client(), self._loop)
        try:
            return future.result(timeout or self._timeout)
        except TimeoutError as e:
            future.cancel()
            raise Unavailable("Temporal did not answer in time; is a worker running?") from e

    async def _connected(self) -> Client:
        if self._client is None:
            try:
                self._client = await connect(self._settings)
            except Exception as e:
                raise Unavailable(
                    f"cannot reach Temporal at {self._settings.temporal_target}"
                ) from e
        return self._client
