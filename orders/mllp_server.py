"""The MLLP listener of `garde gateway`: HL7 v2 messages framed 0x0B … 0x1C 0x0D, each
answered on its connection, in order, with the acknowledgement its handler gives.

asyncio, on its own thread and event loop beside the DICOM gateway's threads: many RIS
connections at once, each kept open as long as its RIS likes. A frame without its start
block, or bytes that end a connection without their end block, are answered as a message
(its handler rejects what is not HL7); a frame longer than LONGEST_MESSAGE is rejected
and its connection closed. A connection's failure never stops the listener.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from reports.mllp import END_BLOCK, START_BLOCK

log = logging.getLogger(__name__)

# An order is a few kilobytes; a RIS sending more is not sending an order.
LONGEST_MESSAGE = 1 << 20

# The content of one frame and the peer's address, to the frame's answer (never raises).
Handler = Callable[[bytes, str], Awaitable[bytes]]


class MllpListener:
    """Listens on host:port on a thread of its own until stopped."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="mllp", daemon=True)

    def start(self, host: str, port: int) -> None:
        """Bound when this returns: a port in use raises OSError here."""
        self._thread.start()
        opening = asyncio.start_server(self._connection, host, port, limit=LONGEST_MESSAGE)
        self._server = asyncio.run_coroutine_threadsafe(opening, self._loop).result()

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        peer = str(address[0]) if isinstance(address, tuple) else ""
        try:
            while True:
                try:
                    frame = await reader.readuntil(END_BLOCK)
                except asyncio.IncompleteReadError as e:
                    if e.partial.strip():  # bytes, then the connection ended: answered
                        writer.write(_framed(await self._handler(_content(e.partial), peer)))
                        await writer.drain()
                    return
                except asyncio.LimitOverrunError:
                    log.warning("an MLLP frame from %s longer than %d bytes", peer, LONGEST_MESSAGE)
                    writer.write(_framed(await self._handler(b"", peer)))
                    await writer.drain()
                    return
                answer = await self._handler(_content(frame[: -len(END_BLOCK)]), peer)
                writer.write(_framed(answer))
                await writer.drain()
        except (ConnectionError, OSError) as e:
            log.info("an MLLP connection from %s ended (%s)", peer, type(e).__name__)
        finally:
            writer.close()


def _content(frame: bytes) -> bytes:
    """The message inside a frame: after its start block (what came before is dropped);
    a frame with none is handed on whole, for its handler to reject."""
    start = frame.find(START_BLOCK)
    return frame[start + 1 :] if start >= 0 else frame


def _framed(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK
