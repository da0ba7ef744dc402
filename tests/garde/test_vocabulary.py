"""One spelling per modality and subspecialty, whatever the input; unknown words refused
with the known ones; input fields normalised with errors that name the field."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import pytest

from garde import vocabulary
from garde.errors import InvalidInput
from garde.validation import Input, day, validated, word, words


@pytest.mark.parametrize(
    ("raw", "word"),
    [
        ("CT", "CT"),
        (" ct ", "CT"),
        ("Mr", "MR"),
        ("IRM", "MR"),
        ("mri", "MR"),
        ("scanner", "CT"),
        ("TDM", "CT"),
        ("pet", "PT"),
        ("mg", "MG"),
    ],
)
def test_modality_is_its_dicom_code(raw: str, word: str) -> None:
    assert vocabulary.modality(raw) == word


@pytest.mark.parametrize(
    ("raw", "word"),
    [
        ("neuro", "neuro"),
        ("NEURO", "neuro"),
        ("Pédiatrie", "pediatric"),
        ("paediatric", "pediatric"),
        ("PEDIATRIC", "pediatric"),
        ("  Pédiatrique ", "pediatric"),
        ("Ostéo-articulaire", "msk"),
        ("ostéo_articulaire", "msk"),
        ("Sénologie", "breast"),
        ("Thoracique", "chest"),
        ("Générale", "general"),
    ],
)
def test_subspecialty_has_one_spelling(raw: str, word: str) -> None:
    assert vocabulary.subspecialty(raw) == word


def test_every_word_is_its_own_spelling() -> None:
    assert [vocabulary.modality(m) for m in vocabulary.MODALITIES] == list(vocabulary.MODALITIES)
    assert [vocabulary.subspecialty(s) for s in vocabulary.SUBSPECIALTIES] == list(
        vocabulary.SUBSPECIALTIES
    )


@pytest.mark.parametrize(
    ("normalise", "raw", "known"),
    [
        (vocabulary.modality, "XR", vocabulary.MODALITIES),
        (vocabulary.subspecialty, "dermatology", vocabulary.SUBSPECIALTIES),
    ],
)
def test_unknown_word_is_refused_with_the_known_ones(
    normalise: object, raw: str, known: tuple[str, ...]
) -> None:
    assert callable(normalise)
    with pytest.raises(vocabulary.UnknownWord) as refused:
        normalise(raw)
    reason = str(refused.value)
    assert raw in reason
    assert ", ".join(known) in reason


class _Study(Input):
    modality: Annotated[str, word(vocabulary.modality, vocabulary.MODALITIES)]
    subspecialty: Annotated[
        str | None, word(vocabulary.subspecialty, vocabulary.SUBSPECIALTIES)
    ] = None
    modalities: Annotated[list[str], words(vocabulary.modality, vocabulary.MODALITIES)] = []
    subspecialties: Annotated[
        list[str], words(vocabulary.subspecialty, vocabulary.SUBSPECIALTIES)
    ] = []


def test_fields_normalise_words_and_name_the_field_refused() -> None:
    study = validated(
        _Study,
        {
            "modality": "irm",
            "subspecialty": "Pédiatrie",
            "modalities": ["ct", "CT", "Scanner", "IRM"],
            "subspecialties": "Neuro, neuro",
        },
    )
    assert (study.modality, study.subspecialty) == ("MR", "pediatric")
    assert study.modalities == ["CT", "MR"]
    assert study.subspecialties == ["neuro"]
    with pytest.raises(InvalidInput) as refused:
        validated(_Study, {"modality": "CT", "subspecialties": ["Neuro", "astrology"]})
    assert set(refused.value.fields) == {"subspecialties"}
    assert "unknown subspecialty astrology" in refused.value.fields["subspecialties"]


def test_fields_word_required_and_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        validated(_Study, {"subspecialty": "cardiology!"})
    errors = refused.value.fields
    assert errors["modality"] == "is required"
    assert errors["subspecialty"].startswith("unknown subspecialty cardiology!: must be one of")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2026-02-30", "YYYY-MM-DD"),
        ("31/03/2026", "YYYY-MM-DD"),
        ("1800-01-01", "between 1900 and 2200"),
        (20260331, "must be a string"),
    ],
)
def test_fields_day_names_the_reason(raw: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validated(_Credential, {"valid_until": raw})
    assert reason in refused.value.fields["valid_until"]


class _Credential(Input):
    valid_until: Annotated[date, day()]
