"""`make bench`'s ingest benchmark still runs: a few objects pushed by storescu reach dcmtk's
storescp and Garde's gateway in both scenarios, and Garde indexes every one of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.usefixtures("dcmtk")


def test_a_small_ingest_benchmark_keeps_and_indexes_every_object() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--instances", "20", "--studies", "2"]
        + ["--rounds", "1", "--receivers", "storescp,garde"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for receiver in ("storescp", "garde"):
        for scenario in ("one association", "one per study"):
            row = [line for line in lines if line.startswith(f"{receiver:<12}{scenario}")]
            assert len(row) == 1 and " 20/20 " in row[0], done.stdout
            assert f"garde / storescp    {scenario}" in done.stdout
            assert f"garde, {scenario}: 2 studies counting 20 instances" in done.stdout
