"""The open loop's baseline runs end to end: the bare workflow, both shapes, on a Temporal
dev server of its own, each case offered, accepted, reported and ended (`make bench` runs
it at full length)."""

from __future__ import annotations

import pytest

from bench import open_bare


def test_the_bare_workflow_runs_open_loop_in_both_shapes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert open_bare.main(["--rates", "3", "--seconds", "2"]) == 0
    out = capsys.readouterr().out
    tables = out.split("Open loop, bare Temporal")[1:]
    assert len(tables) == 2
    assert "every activity remote" in tables[0] and "records as local activities" in tables[1]
    for table in tables:
        [row] = [line.split() for line in table.splitlines() if line.startswith("     3")]
        cases, final, failed, sms_p50 = row[1:5]
        assert int(cases) > 0 and final == cases and failed == "0"
        assert float(sms_p50) > 0
