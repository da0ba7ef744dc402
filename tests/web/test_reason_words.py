"""A refused input's reason is shown in the reader's language beside the field's label."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, render_template_string

from garde import phones, vocabulary
from garde.db import upgrade
from garde.errors import InvalidInput
from garde.intake import CaseRequest
from garde.settings import Settings
from garde.validation import validated
from web import create_app
from web.reasons import translated


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    data_dir: Path = tmp_path_factory.mktemp("reasons")
    settings = Settings.from_env({"GARDE_DATA_DIR": str(data_dir)})
    upgrade(settings.database_url)
    return create_app(settings)


def _refusals() -> dict[str, str]:
    """What the domain says of a request with a problem in every field it can name."""
    with pytest.raises(InvalidInput) as refused:
        validated(
            CaseRequest,
            {
                "accession_number": "x" * 65,
                "study_instance_uid": "1.2.abc",
                "modality": "XX",
                "body_part": "",
                "study_description": "a\x00b",
                "priority": "soon",
                "clinical_question": 7,
                "requesting_physician": "Dr A",
                "callback_phone": "12",
                "subspecialty": "astrology",
            },
        )
    return refused.value.fields


def test_every_reason_the_domain_gives_has_french_words(app: Flask) -> None:
    reasons = _refusals()
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        french = {field: translated(reason) for field, reason in reasons.items()}
    assert french == {
        "accession_number": "doit faire au plus 64 caractères",
        "study_instance_uid": "doit être un UID DICOM (chiffres et points)",
        "modality": "modalité inconnue XX : doit être l’une de " + ", ".join(vocabulary.MODALITIES),
        "body_part": "est obligatoire",
        "study_description": "ne doit pas contenir de caractères de contrôle (seulement "
        "tabulations et retours à la ligne)",
        "priority": "doit être l'une des valeurs : stat, urgent, routine",
        "clinical_question": "doit être un texte",
        "callback_phone": "doit être un numéro de téléphone, par ex. +33 6 12 34 56 78 ou "
        "06 12 34 56 78",
        "subspecialty": "surspécialité inconnue astrology : doit être l’une de "
        + ", ".join(vocabulary.SUBSPECIALTIES),
    }
    assert phones.reason("FR").startswith("must be a phone number")


def test_english_readers_get_the_reasons_as_given_and_unknown_ones_pass_through(
    app: Flask,
) -> None:
    reasons = _refusals()
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert {f: translated(r) for f, r in reasons.items()} == reasons
        assert translated("whatever a check says") == "whatever a check says"
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert translated("whatever a check says") == "whatever a check says"
        shown = render_template_string(
            '{% from "macros.html" import field %}{{ field("body_part", "Région", {}, errors) }}',
            errors={"body_part": "is required"},
        )
    assert "Région est obligatoire" in shown


def test_the_password_policy_speaks_french_too(app: Flask) -> None:
    from garde.passwords import password_problem

    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert translated(str(password_problem("short", "ana"))) == (
            "doit faire au moins 12 caractères"
        )
        assert translated(str(password_problem("password1234", "ana"))).startswith(
            "fait partie des mots de passe les plus courants"
        )
