"""The index sums what arrived into series and studies; a study that receives again is no
longer stable until its workflow says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicom.index import Received, index
from dicom.objects import read_object
from garde.db import SessionFactory
from garde.models import Study
from tests.dicom.conftest import new_site, with_new_uids

AT = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)


def _received(site_id: int, files: list[Path], at: datetime) -> list[Received]:
    return [Received(read_object(path), site_id, "CT1", f"x/{path.name}", at) for path in files]


def test_a_stable_study_that_receives_again_is_receiving(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    source = get_testdata_file("CT_small.dcm")
    study_uid, series_uid = generate_uid(), generate_uid()
    first = [with_new_uids(source, tmp_path, study_uid, series_uid) for _ in range(3)]
    later = [with_new_uids(source, tmp_path, study_uid, series_uid) for _ in range(2)]
    with sessions() as s:
        site_id = new_site(s, "IDX" + study_uid[-8:])
        s.commit()
        [batch] = index(s, _received(site_id, first, AT))
        s.commit()
        assert (batch.series_count, batch.instance_count, batch.new_instances) == (1, 3, 3)
        study = s.get_one(Study, batch.study_id)
        study.stable_at = AT + timedelta(seconds=30)
        s.commit()

        # The same objects again change nothing, and leave it stable.
        assert index(s, _received(site_id, first, AT + timedelta(minutes=1))) == []
        s.commit()
        s.refresh(study)
        assert study.stable_at is not None and study.instance_count == 3

        [again] = index(s, _received(site_id, later, AT + timedelta(minutes=2)))
        s.commit()
        s.refresh(study)
        assert (again.instance_count, again.new_instances) == (5, 2)
        assert study.stable_at is None
        assert study.last_arrival_at.replace(tzinfo=UTC) == AT + timedelta(minutes=2)
