"""QIDO-RS with a real client (dicomweb-client): every query form on studies, series and
instances, what is returned (DICOM JSON, includefield), paging, and the 400s naming the bad
parameter."""

from __future__ import annotations

from pydicom.dataset import Dataset

from tests.conftest import Stack
from tests.dicomweb.conftest import Pushed, client


def _uids(found: list[dict[str, object]]) -> list[str]:
    return [Dataset.from_json(d).StudyInstanceUID for d in found]  # type: ignore[arg-type]


def test_study_searches_by_every_key(stack: Stack, pushed: Pushed) -> None:
    http = client(stack, pushed.region.site_token)
    tag, one, two = pushed.tag, pushed.study, pushed.study2

    def studies(**filters: object) -> list[str]:
        fuzzy = bool(filters.pop("fuzzy", False))
        return _uids(http.search_for_studies(search_filters=filters, fuzzymatching=fuzzy))

    assert studies(PatientName=f"Dupont{tag}*") == [one]
    assert studies(PatientName=f"*{tag}*") == [one, two]
    assert studies(PatientName=f"dupont{tag}^jean^marc") == [one]  # PN: case ignored
    assert studies(PatientName=f"D?pont{tag}*") == [one]
    # Fuzzy: each word starts a part of the name, in any case.
    assert studies(PatientName=f"marc dupont{tag[:3]}", fuzzy=True) == [one]
    assert studies(PatientName=f"elo martin{tag}", fuzzy=True) == [two]
    assert studies(PatientName=f"arc dupont{tag}", fuzzy=True) == []
    assert studies(PatientID=f"P{tag}") == [one]
    # An ID is exact; a pattern ignores case, on SQLite as on PostgreSQL.
    assert studies(PatientID=f"p{tag}") == []
    assert studies(PatientID=f"p{tag[:3]}*") == [one]
    assert studies(AccessionNumber=f"A{tag}") == [two]
    mine = {"PatientName": f"*{tag}*"}
    assert studies(**mine, StudyDate="20240102") == [one]
    assert studies(**mine, StudyDate="20230101-20231231") == [two]
    assert studies(**mine, StudyDate="20240101-") == [one]
    assert studies(**mine, StudyDate="-20240101") == [two]
    assert studies(**mine, ModalitiesInStudy="MR") == [one]
    assert studies(**mine, ModalitiesInStudy="NM\\MR") == [one, two]
    assert studies(**mine, StudyDescription="ct*") == [one]
    assert studies(StudyInstanceUID=f"{one}\\{two}") == [one, two]
    assert studies(StudyInstanceUID=[one, two]) == [one, two]  # the key repeated
    assert studies(StudyInstanceUID=two) == [two]
    page = http.search_for_studies(search_filters=mine, limit=1, offset=1)
    assert _uids(page) == [two]


def test_study_attributes_and_includefield(stack: Stack, pushed: Pushed) -> None:
    http = client(stack, pushed.region.site_token)
    [found] = http.search_for_studies(search_filters={"StudyInstanceUID": pushed.study})
    ds = Dataset.from_json(found)
    assert found["00100010"] == {
        "vr": "PN",
        "Value": [{"Alphabetic": f"Dupont{pushed.tag}^Jean^Marc"}],
    }
    assert ds.PatientID == f"P{pushed.tag}" and ds.StudyDate == "20240102"
    assert list(ds.ModalitiesInStudy) == ["CT", "MR"]
    assert (ds.NumberOfStudyRelatedSeries, ds.NumberOfStudyRelatedInstances) == (2, 3)
    assert ds.RetrieveURL == f"{stack.url}/dicomweb/studies/{pushed.study}"
    assert "StudyTime" not in ds  # not in the index: read from a file only when asked
    [asked] = http.search_for_studies(
        search_filters={"StudyInstanceUID": pushed.study}, fields=["00080030", "PatientSex"]
    )
    assert Dataset.from_json(asked).StudyTime == "101500"
    assert Dataset.from_json(asked).PatientSex == "M"
    [everything] = http.search_for_studies(
        search_filters={"StudyInstanceUID": pushed.study}, fields=["all"]
    )
    assert {"StudyTime", "PatientSex", "StudyDescription"} <= set(
        Dataset.from_json(everything).dir()
    )


def test_series_and_instance_searches(stack: Stack, pushed: Pushed) -> None:
    http = client(stack, pushed.region.site_token)
    series = [Dataset.from_json(d) for d in http.search_for_series(pushed.study)]
    assert [
        (s.SeriesInstanceUID, s.Modality, s.NumberOfSeriesRelatedInstances) for s in series
    ] == [
        (pushed.ct[0].SeriesInstanceUID, "CT", 2),
        (pushed.rle.SeriesInstanceUID, "MR", 1),
    ]
    assert series[0].RetrieveURL.endswith(
        f"/studies/{pushed.study}/series/{series[0].SeriesInstanceUID}"
    )
    mr = http.search_for_series(pushed.study, search_filters={"Modality": "MR"})
    assert [Dataset.from_json(d).SeriesInstanceUID for d in mr] == [pushed.rle.SeriesInstanceUID]
    # At the root: across studies, the study's keys matched too.
    everywhere = http.search_for_series(search_filters={"PatientID": f"Q{pushed.tag}"})
    assert [Dataset.from_json(d).SeriesInstanceUID for d in everywhere] == [
        pushed.j2k.SeriesInstanceUID
    ]
    ct_series = pushed.ct[0].SeriesInstanceUID
    instances = http.search_for_instances(pushed.study, ct_series, fields=["InstanceNumber"])
    got = [Dataset.from_json(d) for d in instances]
    assert [(i.SOPInstanceUID, i.InstanceNumber) for i in got] == [
        (ds.SOPInstanceUID, n) for n, ds in ((1, pushed.ct[0]), (2, pushed.ct[1]))
    ]
    assert got[0].SOPClassUID == pushed.ct[0].SOPClassUID
    one = http.search_for_instances(
        search_filters={"SOPInstanceUID": pushed.rle.SOPInstanceUID, "PatientID": f"P{pushed.tag}"}
    )
    assert [Dataset.from_json(d).SeriesInstanceUID for d in one] == [pushed.rle.SeriesInstanceUID]
    in_study = http.search_for_instances(pushed.study2)
    assert len(in_study) == 2


def test_bad_queries_are_400_naming_the_parameter(stack: Stack, pushed: Pushed) -> None:
    http = stack.api(pushed.region.site_token)
    for query, name in (
        ("NoSuchKey=1", "NoSuchKey"),
        ("StudyDate=2024-01-02", "StudyDate"),
        ("StudyDate=20241302", "StudyDate"),
        ("StudyInstanceUID=1.2.abc", "StudyInstanceUID"),
        ("limit=-1", "limit"),
        ("offset=x", "offset"),
        ("fuzzymatching=yes", "fuzzymatching"),
        ("includefield=NoSuchAttribute", "includefield"),
    ):
        r = http.get(f"/dicomweb/studies?{query}")
        assert r.status_code == 400, (query, r.text)
        assert name in r.json()["detail"], (query, r.json())
    # An attribute Garde does not match on is left out and said so (PS3.18 8.3.4.1).
    r = http.get(f"/dicomweb/studies?PatientBirthDate=19700101&PatientID=P{pushed.tag}")
    assert r.status_code == 200 and len(r.json()) == 1
    assert "PatientBirthDate" in r.headers["Warning"]
    # None found: 200 and an empty array; an unknown study's series: 404.
    none = http.get("/dicomweb/studies?PatientID=nobody-at-all")
    assert none.status_code == 200 and none.json() == []
    assert none.headers["Content-Type"] == "application/dicom+json"
    assert http.get("/dicomweb/studies/1.2.3.4/series").status_code == 404
