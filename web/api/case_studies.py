"""The studies linked to a case, as the index counts them (GET /api/v1/cases/ID/study): for
its site, the experts who hold or held it, coordinators and admins."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from garde.models import Series
from web import services
from web.access import current_user, record_for
from web.api import bp
from web.api.case_models import CaseStudies
from web.api.describe import operation
from web.case_views import iso
from web.study_view import StudyShown, studies_shown


@bp.get("/cases/<int:case_id>/study")
@operation(
    "cases",
    "The studies linked to the case: series and instance counts, arrivals, stability",
    {200: ("the case's studies", CaseStudies)},
    errors=(403, 404),
    description="""
        403 to an expert who was only offered the case. A study is `stable` once no image
        arrived for its site's quiet period: never proof that it is complete.
    """,
)
def case_study(case_id: int) -> Response:
    user = current_user()
    case = record_for(g.db, user, case_id)
    shown = studies_shown(g.db, services().settings, case, user)
    return jsonify({"case_id": case.id, "studies": [_study(s) for s in shown]})


def _study(shown: StudyShown) -> dict[str, Any]:
    study = shown.study
    return {
        "study_instance_uid": study.study_instance_uid,
        "accession_number": study.accession_number,
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "study_description": study.study_description,
        "modalities": study.modalities,
        "series_count": study.series_count,
        "instance_count": study.instance_count,
        "size_bytes": study.size_bytes,
        "first_arrival_at": iso(study.first_arrival_at),
        "last_arrival_at": iso(study.last_arrival_at),
        "stable": study.stable_at is not None,
        "stable_at": iso(study.stable_at),
        "viewer_url": shown.viewer_url,
        "series": [_series(s) for s in shown.series],
    }


def _series(series: Series) -> dict[str, Any]:
    return {
        "series_instance_uid": series.series_instance_uid,
        "series_number": series.series_number,
        "modality": series.modality,
        "body_part": series.body_part,
        "series_description": series.series_description,
        "instance_count": series.instance_count,
    }
