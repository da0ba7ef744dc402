"""A case's studies as its pages and the API show them: their series in order, a thumbnail of
each from Garde's DICOMweb, and where a viewer opens the study.

The viewer is GARDE_VIEWER_URL_TEMPLATE filled with the study and a DICOMweb root signed for
this case and this user (web/dicomweb_access.py: read-only, hours long, what a viewer on
another origin can use without Garde's cookie); unset, Garde's own OHIF (/ohif) when it is
served; else there is no viewer to link to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.models import Case, Series, Study, User
from garde.settings import Settings
from web import ohif
from web.dicomweb_access import viewer_link


@dataclass(frozen=True)
class StudyShown:
    study: Study
    series: list[Series]
    viewer_url: str | None

    def thumbnail(self, series: Series) -> str:
        """The series' thumbnail on Garde's DICOMweb (web/dicomweb_read.py), which the page's
        browser reads with the session cookie."""
        return (
            f"/dicomweb/studies/{quote(self.study.study_instance_uid, safe='')}"
            f"/series/{quote(series.series_instance_uid, safe='')}/thumbnail"
        )


def series_by_study(db: Session, studies: Sequence[Study]) -> dict[int, list[Series]]:
    """Each study's series by number (those without one last)."""
    found: dict[int, list[Series]] = {s.id: [] for s in studies}
    for row in db.scalars(
        select(Series)
        .where(Series.study_id.in_(found))
        .order_by(Series.series_number.is_(None), Series.series_number, Series.id)
    ):
        found[row.study_id].append(row)
    return found


def studies_shown(db: Session, settings: Settings, case: Case, user: User) -> list[StudyShown]:
    """The case's studies for `user`, who may read them (web.access: full sight)."""
    series = series_by_study(db, case.studies)
    root = _dicomweb_root(settings, case, user)
    return [
        StudyShown(
            s,
            series[s.id],
            None if root is None else viewer_url(settings, s.study_instance_uid, root),
        )
        for s in case.studies
    ]


def _dicomweb_root(settings: Settings, case: Case, user: User) -> str | None:
    """None when there is no viewer to open: no link is signed for nothing."""
    if settings.viewer_url_template is None and ohif.served(settings) is None:
        return None
    return viewer_link(case.id, user)


def viewer_url(settings: Settings, study_uid: str, root: str) -> str | None:
    """The study in a viewer reading this DICOMweb root (a viewer or share link's):
    GARDE_VIEWER_URL_TEMPLATE, else Garde's own OHIF when served, else none."""
    if settings.viewer_url_template is None:
        return ohif.viewer_url(settings, study_uid, root)
    return settings.viewer_url_template.format(
        study_uid=quote(study_uid, safe=""),
        dicomweb_root=root,
        dicomweb_root_quoted=quote(root, safe=""),
    )
