"""How often Python hands the GIL from one thread to another, in Garde's threaded processes.

The default, every 5 ms, starves an event loop that shares its process with busy threads:
the worker's loop (the Temporal SDK's activations and completions) waits behind the
activity threads' SQLAlchemy, and the web's Temporal client behind waitress's threads, up to
5 ms at each hand-over. Under load a case's first workflow task then took 0.5 to 0.9 s, most
of it after its local activities had finished (bench/README.md, "Profile"). Handing over
every 0.5 ms costs a little throughput in the threads and gives the loop its turn soon.
"""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.0005


def favour_the_event_loop() -> None:
    """Hand the GIL over every SWITCH_INTERVAL_S; for the worker and the web processes."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
