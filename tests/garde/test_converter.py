"""Garde's payload converter (garde/converter.py) decodes every value crossing the workflow
boundary exactly as Temporal's own converter does: the same value from a good payload, and the
same refusal, naming the field, from a bad one."""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.converter import DefaultPayloadConverter

import garde.messages
from garde.converter import GardePayloadConverter
from garde.domain import Tier
from garde.messages import RankedExpert, Ranking
from workflows.state import CaseState

TEMPORAL = DefaultPayloadConverter()
GARDE = GardePayloadConverter()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


def _dataclasses_in(hint: object) -> list[type]:
    if inspect.isclass(hint) and dataclasses.is_dataclass(hint):
        return [hint]
    return [found for arg in typing.get_args(hint) for found in _dataclasses_in(arg)]


def _crossing() -> list[type]:
    """Every dataclass of garde.messages, the state a case carries over, and every dataclass
    their fields hold."""
    seen: set[type] = set()
    todo = [c for _, c in inspect.getmembers(garde.messages, inspect.isclass)]
    todo = [c for c in todo if dataclasses.is_dataclass(c)] + [CaseState]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            for hint in typing.get_type_hints(cls).values():
                todo.extend(_dataclasses_in(hint))
    return sorted(seen, key=lambda c: c.__qualname__)


CROSSING = _crossing()


def _decoded(payload: Payload, hint: type, converter: DefaultPayloadConverter) -> Any:
    """The value, or the refusal as its type and the chain of its messages."""
    try:
        return converter.from_payloads([payload], [hint])[0]
    except Exception as e:
        chain: list[BaseException] = [e]
        while chain[-1].__cause__ is not None:
            chain.append(chain[-1].__cause__)
        return (type(e).__name__, *map(str, chain))


def test_the_boundary_is_every_message_and_what_they_hold() -> None:
    names = {c.__qualname__ for c in CROSSING}
    assert {"CaseStart", "CaseRecord", "RankedExpert", "Ranking", "CaseState"} <= names
    assert len(names) >= 60


@pytest.mark.parametrize("cls", CROSSING, ids=lambda c: c.__qualname__)
@settings(
    max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data())
def test_a_value_is_decoded_as_temporal_decodes_it(cls: type, data: st.DataObject) -> None:
    value = data.draw(st.from_type(cls))
    payload = TEMPORAL.to_payloads([value])[0]
    assert _decoded(payload, cls, GARDE) == _decoded(payload, cls, TEMPORAL) == value


@pytest.mark.parametrize("cls", CROSSING, ids=lambda c: c.__qualname__)
@settings(
    max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data())
def test_a_field_of_the_wrong_shape_is_refused_as_temporal_refuses_it(
    cls: type, data: st.DataObject
) -> None:
    fields = json.loads(TEMPORAL.to_payloads([data.draw(st.from_type(cls))])[0].data)
    if not fields:
        return
    name = data.draw(st.sampled_from(sorted(fields)))
    fields[name] = data.draw(JSON_VALUES)
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(fields).encode())
    assert _decoded(payload, cls, GARDE) == _decoded(payload, cls, TEMPORAL)


def test_a_refusal_names_the_field_and_why() -> None:
    ranking = dataclasses.asdict(Ranking(1, Tier.PRIMARY, 0, 3, 0, None, None))
    ranking["load"] = "many"
    bad = {"expert_id": 7, "ranking": ranking}
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps([bad]).encode())
    refusal = _decoded(payload, list[RankedExpert], GARDE)
    assert refusal == (
        "TypeError",
        "Failed converting list[garde.messages.RankedExpert] index 0",
        "Failed converting field ranking on dataclass <class 'garde.messages.RankedExpert'>",
        "Failed converting field load on dataclass <class 'garde.messages.Ranking'>",
        "Expected value to be int|float, was <class 'str'>",
    )
