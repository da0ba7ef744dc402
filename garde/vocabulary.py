"""The words a roster and a request share: modalities and subspecialties, defined once.

Input is normalised before it is compared (case, accents, spaces, British and French
spellings), so "Pédiatrie", "paediatric" and "PEDIATRIC" are one subspecialty; an unknown
word is refused with the list of known ones.
"""

from __future__ import annotations

import unicodedata

# DICOM modality codes (Modality, 0008,0060) of the studies a region reads.
MODALITIES = ("CT", "MR", "CR", "DX", "US", "XA", "NM", "PT", "MG")

SUBSPECIALTIES = (
    "neuro",
    "body",
    "chest",
    "msk",
    "pediatric",
    "cardiac",
    "breast",
    "vascular",
    "general",
)

# Other spellings (after lowering and stripping accents) of the same words.
_MODALITY_ALIASES = {"MRI": "MR", "IRM": "MR", "TDM": "CT", "SCANNER": "CT", "PET": "PT"}
_SUBSPECIALTY_ALIASES = {
    "paediatric": "pediatric",
    "paediatrics": "pediatric",
    "pediatrics": "pediatric",
    "pediatrie": "pediatric",
    "pediatrique": "pediatric",
    "neuroradiology": "neuro",
    "neuroradiologie": "neuro",
    "abdominal": "body",
    "abdomen": "body",
    "thoracic": "chest",
    "thorax": "chest",
    "thoracique": "chest",
    "musculoskeletal": "msk",
    "osteo-articulaire": "msk",
    "osteoarticulaire": "msk",
    "cardiaque": "cardiac",
    "cardiovascular": "cardiac",
    "sein": "breast",
    "senologie": "breast",
    "vasculaire": "vascular",
    "generale": "general",
    "generalist": "general",
}


class UnknownWord(ValueError):
    """The reason names the word and the known ones."""


def _plain(raw: str) -> str:
    decomposed = unicodedata.normalize("NFKD", raw.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("_", "-")


def modality(raw: str) -> str:
    """The DICOM code of a modality written any usual way ("ct", "IRM")."""
    word = _plain(raw).upper().replace(" ", "")
    word = _MODALITY_ALIASES.get(word, word)
    if word not in MODALITIES:
        raise UnknownWord(f"unknown modality {raw.strip()}: must be one of {', '.join(MODALITIES)}")
    return word


def subspecialty(raw: str) -> str:
    """The one spelling of a subspecialty ("Pédiatrie", "paediatric" → "pediatric")."""
    word = " ".join(_plain(raw).lower().split())
    word = _SUBSPECIALTY_ALIASES.get(word, word)
    if word not in SUBSPECIALTIES:
        known = ", ".join(SUBSPECIALTIES)
        raise UnknownWord(f"unknown subspecialty {raw.strip()}: must be one of {known}")
    return word
