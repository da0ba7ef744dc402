"""The coordinator's message log names each SMS Garde sends, in the reader's language."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from garde.db import upgrade
from garde.settings import Settings
from garde.texts import kinds
from web import create_app, display


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    data_dir: Path = tmp_path_factory.mktemp("words")
    settings = Settings.from_env({"GARDE_DATA_DIR": str(data_dir)})
    upgrade(settings.database_url)
    return create_app(settings)


def test_every_sms_garde_sends_has_a_name_in_the_message_log(app: Flask) -> None:
    """The coordinator's message log names each outbound SMS by its kind; a kind without a
    name showed its raw template name (alert_ack_overdue did)."""
    sent = [k for k in kinds() if not k.startswith(("reply_", "voice_")) and k != "words"]
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        named = {kind: display.word(kind, "sms") for kind in sent}
    assert [kind for kind, name in named.items() if name == kind] == []
