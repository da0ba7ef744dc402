"""What crosses the workflow boundary is annotated with types, not strings: Temporal's
converter reads a dataclass's type hints for every value it decodes, and a string annotation
is compiled and evaluated again each time (garde/messages.py)."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import garde.messages

# A cycle, so one side is a string: a case's start holds its studies, and a study's arrival
# the case's start when its images opened the case (a DICOM signal, not a case's every step).
CYCLE = {"garde.messages.StudyArrival.case_start"}


def _dataclasses_in(hint: object) -> list[type]:
    if inspect.isclass(hint) and dataclasses.is_dataclass(hint):
        return [hint]
    return [found for arg in typing.get_args(hint) for found in _dataclasses_in(arg)]


def _crossing() -> set[type]:
    """Every dataclass of garde.messages, and every dataclass their fields hold."""
    seen: set[type] = set()
    todo = [
        c
        for _, c in inspect.getmembers(garde.messages, inspect.isclass)
        if dataclasses.is_dataclass(c)
    ]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for hint in typing.get_type_hints(cls).values():
            todo.extend(_dataclasses_in(hint))
    return seen


def test_every_dataclass_crossing_the_boundary_has_type_annotations() -> None:
    crossing = _crossing()
    assert garde.messages.CaseRecord in crossing
    strings = {
        f"{cls.__module__}.{cls.__qualname__}.{name}"
        for cls in crossing
        for klass in cls.__mro__
        for name, hint in vars(klass).get("__annotations__", {}).items()
        if isinstance(hint, str)
    }
    assert strings == CYCLE, sorted(strings)
