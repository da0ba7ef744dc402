"""`make bench`'s night simulator still runs Garde's own worker and activities: a short night
on the time-skipping server gets every study offered by SMS, taken and reported."""

from __future__ import annotations

import re
import subprocess
import sys


def test_a_short_simulated_night_offers_and_reports_every_study() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.simulate_night", "--studies", "6", "--hours", "1"]
        + ["--policies", "garde", "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "6/6 reported" in done.stdout, done.stdout
    offers = re.search(r"SMS: .*\boffer (\d+)", done.stdout)
    assert offers and int(offers.group(1)) >= 6, done.stdout
