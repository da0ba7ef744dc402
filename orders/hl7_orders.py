"""An HL7 v2 ORM^O01 from a site's RIS, read into a new order (ORC-1 NW) or a cancellation
(CA), or refused with each problem located (segment, field, component) for the ACK.

The message is checked by hl7apy (segment names, version, structure) and parsed by
python-hl7 (`hl7`); its values are read by position, as sent, and their escape sequences
decoded by python-hl7's unescape, told how Garde reads the ones it reads otherwise
(_Escapes). Not hl7apy's values: asked for one, it writes its escape character again
before every sequence it does not know (`\\.br\\`, `\\X41\\`), and a value read through
its component names changes with the version (2.3's XCN is not 2.5's).

One order per message: a RIS sends each order in its own ORM, and one acknowledgement then
answers for one case. The patient (PID) is read for the case's record only: never logged,
never quoted in an acknowledgement.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import hl7
from hl7apy.exceptions import HL7apyException, InvalidName, UnsupportedVersion
from hl7apy.parser import parse_message

from garde import vocabulary
from garde.intake import Patient
from garde.validation import CONTROL

# HL7 table 0357, message error condition codes.
SEGMENT_SEQUENCE_ERROR = 100
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
TABLE_VALUE_NOT_FOUND = 103
UNSUPPORTED_MESSAGE_TYPE = 200
UNSUPPORTED_EVENT_CODE = 201
UNSUPPORTED_VERSION_ID = 203
UNKNOWN_KEY_IDENTIFIER = 204
APPLICATION_INTERNAL_ERROR = 207
ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}

# MSH-18 (HL7 table 0211) to Python's codecs; None: not said (or ASCII), UTF-8 is tried
# first and ISO 8859-1 next, as RIS that do not say send one or the other.
CHARSETS: dict[str, str | None] = {
    "": None,
    "ASCII": None,
    "UNICODE UTF-8": "utf-8",
    "ISO IR192": "utf-8",
    "ISO IR100": "iso8859-1",
    **{f"8859/{n}": f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15)},
}
# python-hl7 warns of an empty escape sequence (two escape characters) quoting the whole
# value, a patient's name perhaps: its unescape's logger is kept quiet (see _Escapes).
hl7.util.logger.setLevel(logging.CRITICAL + 1)
# ORC-7.6, OBR-27.6, TQ1-9 (HL7 table 0027) to Garde's priorities.
PRIORITIES = {
    "S": "stat",
    "A": "urgent",
    "T": "urgent",  # timing critical
    "R": "routine",
    "P": "routine",  # pre-op
    "C": "routine",  # callback
    "PRN": "routine",
}
SEXES = {"F": "F", "M": "M", "O": "O", "U": "U", "A": "O", "N": "U"}  # HL7 table 0001


@dataclass(frozen=True)
class Location:
    """Where a value sits: OBR-24, or ORC-7.6 (component 6)."""

    segment: str
    field: int
    component: int | None = None

    def __str__(self) -> str:
        where = f"{self.segment}-{self.field}"
        return f"{where}.{self.component}" if self.component else where


@dataclass(frozen=True)
class Problem:
    """One reason a message is refused: an ERR segment of the acknowledgement."""

    location: Location | None
    code: int
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}" if self.location else self.reason


@dataclass(frozen=True)
class Header:
    """What the acknowledgement answers to: MSH as sent, and the text's encoding."""

    control_id: str = ""
    application: str = ""
    facility: str = ""
    processing_id: str = "P"
    charset: str = ""  # MSH-18 as sent, repeated in the acknowledgement
    codec: str = "utf-8"


class Refused(Exception):
    """The message is not taken: AR (`reject`: not an order Garde reads, or not now) or AE
    (an order with errors); nothing of it is stored."""

    def __init__(self, header: Header, problems: list[Problem], reject: bool = False) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.header = header
        self.problems = problems
        self.reject = reject


@dataclass(frozen=True)
class NewOrder:
    """ORC-1 NW: the request's fields as CaseRequest takes them, and where each came from,
    so that its reasons name the HL7 field."""

    header: Header
    placer_order_number: str
    request: dict[str, str]
    sources: dict[str, Location]
    patient: Patient | None

    def refusal(self, reasons: Mapping[str, str]) -> Refused:
        """The AE for CaseRequest's reasons (garde.validation), each at its HL7 field."""
        return Refused(
            self.header,
            [
                Problem(self.sources.get(name), DATA_TYPE_ERROR, reason)
                for name, reason in reasons.items()
            ],
        )


@dataclass(frozen=True)
class Cancel:
    """ORC-1 CA: the site's RIS cancels its order ORC-2."""

    header: Header
    placer_order_number: str


class _Escapes(dict[str, str]):
    """How python-hl7's unescape (its app_map) reads every escape sequence but the
    delimiters' (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\, which it decodes by the message's own delimiters):
    its own reading is not Garde's. \\Xhh…\\ is bytes in the message's character set (its
    own: one character per byte, Latin-1 whatever MSH-18 says); a line break (\\.br\\ \\.sp\\
    \\.ce\\) is "\\n" (its own: "\\r", the segments' end); highlighting, other formatting,
    character-set switches and unknown sequences are dropped (its own: "_", spaces, or a
    warning quoting the whole value, a patient's name perhaps)."""

    def __init__(self, codec: str) -> None:
        super().__init__({".br": "\n", ".sp": "\n", ".ce": "\n"})
        self.codec = codec

    def __contains__(self, sequence: object) -> bool:
        return sequence not in ("F", "S", "T", "R", "E")

    def __missing__(self, sequence: str) -> str:
        if sequence.startswith("X"):
            try:
                return bytes.fromhex(sequence[1:]).decode(self.codec, "replace")
            except ValueError:
                return ""
        return ""


@dataclass(frozen=True)
class _Parsed:
    """The message parsed by python-hl7 (segments, fields, repetitions, components and
    subcomponents at its own delimiters); values read by position as sent, then decoded."""

    message: hl7.Message
    escapes: _Escapes

    def count(self, segment: str) -> int:
        try:
            return len(self.message.segments(segment))
        except KeyError:
            return 0

    def value(self, at: Location, subcomponent: int | None = None) -> str:
        """The first repetition's component (the whole field: component 1), its escape
        sequences decoded; with `subcomponent`, that one alone (a code inside a component).
        HL7's explicit null `""` reads as empty."""
        sent = _sent(self.message, at, subcomponent)
        if sent == '""':
            return ""
        # An escape character alone (a RIS that does not escape it) is kept as sent, and
        # what follows it: python-hl7 would drop them.
        esc = self.message.esc
        head, lone, tail = sent.rpartition(esc) if sent.count(esc) % 2 else (sent, "", "")
        return (self.message.unescape(head, self.escapes) + lone + tail).strip()


def _sent(message: hl7.Message, at: Location, subcomponent: int | None) -> str:
    """A value as sent, escape sequences and all: python-hl7's extract_field decodes them
    its own way, and reads a component's first subcomponent where Garde takes it whole
    (a RIS's clinical question with an unescaped "&")."""
    try:
        segment = message.segment(at.segment)
    except KeyError:
        return ""
    if at.field >= len(segment):
        return ""
    repetition = segment(at.field)(1)
    components = repetition if isinstance(repetition, hl7.Repetition) else [repetition]
    index = at.component or 1
    component = components[index - 1] if index <= len(components) else ""
    if subcomponent is None:
        return str(component)
    parts = component if isinstance(component, hl7.Component) else [component]
    return str(parts[subcomponent - 1]) if subcomponent <= len(parts) else ""


def read(raw: bytes) -> NewOrder | Cancel:
    """The order in `raw` (one MLLP frame's content), or Refused saying why."""
    header, segments = _message(raw)
    orders = segments.count("ORC")
    if orders != 1:
        reason = "an order (ORC) is required" if not orders else "one order (ORC) per message"
        code = REQUIRED_FIELD_MISSING if not orders else SEGMENT_SEQUENCE_ERROR
        raise Refused(header, [Problem(Location("ORC", 1), code, reason)])
    control = segments.value(Location("ORC", 1)).upper()
    placer, placer_at = _first(segments, Location("ORC", 2), Location("OBR", 2))
    if not placer:
        problem = Problem(
            placer_at, REQUIRED_FIELD_MISSING, "is required (the placer order number)"
        )
        raise Refused(header, [problem])
    if len(placer) > 64 or CONTROL.search(placer):
        problem = Problem(placer_at, DATA_TYPE_ERROR, "must be at most 64 printable characters")
        raise Refused(header, [problem])
    if control == "CA":
        return Cancel(header, placer)
    if control != "NW":
        problem = Problem(
            Location("ORC", 1), TABLE_VALUE_NOT_FOUND, "must be NW (new order) or CA (cancel)"
        )
        raise Refused(header, [problem])
    if not segments.count("OBR"):
        problem = Problem(Location("OBR", 4), REQUIRED_FIELD_MISSING, "an OBR is required")
        raise Refused(header, [problem])
    request, sources, problems = _request(segments, placer, placer_at)
    patient = _patient(segments, problems)
    if problems:
        raise Refused(header, problems)
    return NewOrder(header, placer, request, sources, patient)


def _message(raw: bytes) -> tuple[Header, _Parsed]:
    """MSH read, the text decoded in its charset, parsed by python-hl7 and checked by
    hl7apy."""
    # One character per byte: MSH is ASCII whatever follows.
    lines = _lines(raw.decode("iso8859-1"))
    not_hl7 = Problem(None, SEGMENT_SEQUENCE_ERROR, "not an HL7 v2 message (no MSH segment)")
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise Refused(Header(), [not_hl7], reject=True)
    msh = _parsed(lines[0], "iso8859-1")
    if msh is None:
        raise Refused(Header(), [not_hl7], reject=True)
    charset = msh.value(Location("MSH", 18))
    header = Header(
        control_id=msh.value(Location("MSH", 10))[:199],
        application=msh.value(Location("MSH", 3))[:180],
        facility=msh.value(Location("MSH", 4))[:180],
        processing_id=msh.value(Location("MSH", 11))[:3] or "P",
        charset=charset[:16],
    )
    if charset.upper() not in CHARSETS:
        problem = Problem(
            Location("MSH", 18),
            TABLE_VALUE_NOT_FOUND,
            "unknown character set: UNICODE UTF-8 or 8859/1 (and the other 8859 parts)",
        )
        raise Refused(header, [problem], reject=True)
    codec, decoded = _decoded(raw, CHARSETS[charset.upper()])
    if decoded is None:
        problem = Problem(Location("MSH", 18), DATA_TYPE_ERROR, f"the message is not {codec}")
        raise Refused(header, [problem], reject=True)
    header = dataclasses.replace(header, codec=codec)
    kind = msh.value(Location("MSH", 9)).upper()
    event = msh.value(Location("MSH", 9, 2)).upper()
    if kind != "ORM":
        problem = Problem(
            Location("MSH", 9), UNSUPPORTED_MESSAGE_TYPE, "only ORM^O01 orders are taken here"
        )
        raise Refused(header, [problem], reject=True)
    if event != "O01":
        problem = Problem(
            Location("MSH", 9, 2), UNSUPPORTED_EVENT_CODE, "only ORM^O01 orders are taken here"
        )
        raise Refused(header, [problem], reject=True)
    text = "\r".join(_lines(decoded))
    try:
        parse_message(text, find_groups=False)
    except UnsupportedVersion:
        problem = Problem(
            Location("MSH", 12), UNSUPPORTED_VERSION_ID, "an HL7 v2 version from 2.1 to 2.8.2"
        )
        raise Refused(header, [problem], reject=True) from None
    except InvalidName as e:  # its reason names the segment, not a value
        problem = Problem(None, SEGMENT_SEQUENCE_ERROR, f"unknown segment: {e}"[:200])
        raise Refused(header, [problem]) from None
    except HL7apyException:
        problem = Problem(None, SEGMENT_SEQUENCE_ERROR, "unreadable segments")
        raise Refused(header, [problem]) from None
    segments = _parsed(text, codec)
    if segments is None:
        raise Refused(header, [Problem(None, SEGMENT_SEQUENCE_ERROR, "unreadable segments")])
    return header, segments


def _parsed(text: str, codec: str) -> _Parsed | None:
    try:
        return _Parsed(hl7.parse(text), _Escapes(codec))
    except (hl7.ParseException, AssertionError, IndexError, ValueError):  # delimiters repeated…
        return None


def _lines(text: str) -> list[str]:
    """Segments end with CR; LF and CRLF are read as CR too (a RIS written on Unix)."""
    return [line for line in re.split(r"\r\n|\r|\n", text.strip()) if line.strip()]


def _decoded(raw: bytes, codec: str | None) -> tuple[str, str | None]:
    for candidate in [codec] if codec else ["utf-8", "iso8859-1"]:
        try:
            return candidate, raw.decode(candidate)
        except UnicodeDecodeError:
            continue
    return codec or "utf-8", None


def _first(segments: _Parsed, *places: Location) -> tuple[str, Location]:
    """The first value given among `places`, and where; none: "" at the first place."""
    for place in places:
        value = segments.value(place)
        if value:
            return value, place
    return "", places[0]


def _request(
    segments: _Parsed, placer: str, placer_at: Location
) -> tuple[dict[str, str], dict[str, Location], list[Problem]]:
    """CaseRequest's fields from ORC, OBR, TQ1 and ZDS; where each came from."""
    values: dict[str, str] = {}
    sources: dict[str, Location] = {}
    problems: list[Problem] = []

    def take(name: str, value: str, at: Location) -> None:
        sources[name] = at
        if value:
            values[name] = value

    accession, at = _first(segments, Location("OBR", 18), Location("ORC", 3))
    take("accession_number", accession or placer, at if accession else placer_at)
    exam = Location("OBR", 4)
    code = segments.value(exam)
    described = segments.value(Location("OBR", 4, 2)) or segments.value(Location("OBR", 4, 5))
    take("exam_code", code, exam)
    take("study_description", described or code, Location("OBR", 4, 2))
    take("modality", _modality(segments.value(Location("OBR", 24)), described), Location("OBR", 24))
    if "modality" not in values:
        problems.append(
            Problem(
                Location("OBR", 24),
                REQUIRED_FIELD_MISSING,
                "is required: the modality (" + ", ".join(vocabulary.MODALITIES) + "), "
                "or an OBR-4 text starting with it",
            )
        )
    site = Location("OBR", 15, 4)
    body_part = segments.value(site, 1) or segments.value(Location("OBR", 15), 1)
    if not body_part and described:
        body_part = _without_modality(described)[:64]
    take("body_part", body_part, site if segments.value(site, 1) else Location("OBR", 15))
    priority, at = _first(
        segments, Location("ORC", 7, 6), Location("OBR", 27, 6), Location("TQ1", 9)
    )
    take("priority", PRIORITIES.get(priority.upper(), priority) if priority else "routine", at)
    question, at = _first(segments, Location("OBR", 13), Location("OBR", 31, 2))
    take("clinical_question", question, at)
    physician, at = _person(segments, Location("ORC", 12), Location("OBR", 16))
    take("requesting_physician", physician, at)
    callback, at = _phone(segments, Location("ORC", 14), Location("OBR", 17))
    take("callback_phone", callback, at)
    take("study_instance_uid", segments.value(Location("ZDS", 1)), Location("ZDS", 1))
    return values, sources, problems


def _modality(section: str, described: str) -> str:
    """OBR-24 when it names a modality (it may name the department: RAD), else the OBR-4
    text's first word when that does ("CT head"); else OBR-24 as sent, for its reason."""
    for candidate in (section, described.split(" ", 1)[0] if described else ""):
        try:
            return vocabulary.modality(candidate)
        except vocabulary.UnknownWord:
            continue
    return section


def _without_modality(described: str) -> str:
    """ "CT head without contrast" → "head without contrast"."""
    first, _, rest = described.partition(" ")
    try:
        vocabulary.modality(first)
    except vocabulary.UnknownWord:
        return described
    return rest.strip() or described


def _person(segments: _Parsed, *places: Location) -> tuple[str, Location]:
    """An XCN as one says it: prefix, given name, family name (the id when no name)."""
    for place in places:
        parts = [segments.value(Location(place.segment, place.field, c), 1) for c in (6, 3, 2)]
        name = " ".join(p for p in parts if p) or segments.value(place)
        if name:
            return name, place
    return "", places[0]


def _phone(segments: _Parsed, *places: Location) -> tuple[str, Location]:
    """An XTN's number: unformatted (12), or country, area and local (5, 6, 7), or the
    number as written (1)."""
    for place in places:

        def part(c: int, p: Location = place) -> str:
            return segments.value(Location(p.segment, p.field, c))

        pieces = [part(5), part(6), part(7)]
        composed = ("+" if pieces[0] else "") + " ".join(p for p in pieces if p)
        number = part(12) or (composed if pieces[2] else "") or part(1)
        if number:
            return number, place
    return "", places[0]


def _patient(segments: _Parsed, problems: list[Problem]) -> Patient | None:
    """PID as the case records it, each value checked; None without a PID."""
    if not segments.count("PID"):
        return None

    def checked(at: Location, value: str, longest: int) -> str | None:
        if len(value) > longest or CONTROL.search(value):
            problems.append(
                Problem(at, DATA_TYPE_ERROR, f"must be at most {longest} printable characters")
            )
        return value or None

    identifier = checked(Location("PID", 3), segments.value(Location("PID", 3)), 64)
    family = segments.value(Location("PID", 5), 1)
    given = segments.value(Location("PID", 5, 2))
    name = checked(Location("PID", 5), " ".join(p for p in (family, given) if p), 200)
    born = segments.value(Location("PID", 7))
    birth_date = None
    if born:
        try:
            birth_date = date(int(born[:4]), int(born[4:6]), int(born[6:8]))
        except ValueError:
            problems.append(Problem(Location("PID", 7), DATA_TYPE_ERROR, "must be a date YYYYMMDD"))
    sex = segments.value(Location("PID", 8)).upper()
    if sex and sex not in SEXES:
        problems.append(
            Problem(Location("PID", 8), TABLE_VALUE_NOT_FOUND, "must be F, M, O, U, A or N")
        )
    return Patient(identifier, name, birth_date, SEXES.get(sex))
