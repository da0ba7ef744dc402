"""The activity that records a study stable or receiving again, as the case workflow decides.

The workflow keeps the quiet-period timer; this only writes `studies.stable_at`. A study is
recorded stable only while it holds the instances the workflow counted: a batch indexed in
the meantime (its signal on the way) keeps it receiving. Idempotent: a retry writes the same.
"""

from __future__ import annotations

from sqlalchemy import update
from temporalio import activity

from garde.db import SessionFactory
from garde.messages import StudyStability
from garde.models import Study


class Studies:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def record_stability(self, change: StudyStability) -> None:
        stmt = update(Study).where(Study.id == change.study_id)
        if change.stable_at is not None:
            stmt = stmt.where(Study.instance_count == change.instances)
        with self._sessions.begin() as s:
            s.execute(
                stmt.values(stable_at=change.stable_at).execution_options(synchronize_session=False)
            )
