"""`make bench`'s retrieval benchmark still runs: a small study stored into Garde by STOW-RS
comes back whole by WADO-RS, and frame 1 of each of its instances."""

from __future__ import annotations

import subprocess
import sys


def test_a_small_retrieval_benchmark_gets_every_instance_and_frame() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.retrieve", "--instances", "20", "--series", "2"]
        + ["--rounds", "1", "--threads", "2", "--servers", "garde"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "20 instances of CT_small.dcm" in lines[0] and "one study of 2 series" in lines[0]
    for retrieval in ("study, WADO-RS", "frames, 2 threads"):
        row = [line for line in lines if line.startswith(f"{'garde':<10}{retrieval}")]
        assert len(row) == 1 and row[0].endswith(" 20/20"), done.stdout
