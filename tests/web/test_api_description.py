"""openapi.json is generated from the views' marks (web/api/describe.py): every route carries
one, and in the tests' stacks an answer unlike its description fails loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask, Response

from garde.db import upgrade
from garde.settings import Settings
from web import create_app
from web.api.describe import check_answer, openapi_document, operations


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    data_dir: Path = tmp_path_factory.mktemp("described")
    settings = Settings.from_env({"GARDE_DATA_DIR": str(data_dir)})
    upgrade(settings.database_url)
    return create_app(settings)


def test_every_api_route_says_what_it_takes_and_answers(app: Flask) -> None:
    bare = [f"{method} {rule.rule}" for rule, method, op in operations(app) if op is None]
    assert bare == [], "API routes without an @operation mark"


def test_the_document_refers_only_to_schemas_it_defines(app: Flask) -> None:
    doc = openapi_document(app)
    text = json.dumps(doc)
    names = set(doc["components"]["schemas"])
    refs = {ref.rsplit("/", 1)[-1] for ref in _refs(doc) if "/schemas/" in ref}
    assert refs <= names, refs - names
    assert "$defs" not in text  # every nested model is a component, not a local definition
    case = doc["paths"]["/cases"]["post"]
    assert case["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CaseRequest"
    }
    assert set(case["responses"]) >= {"200", "201", "400", "401", "403", "429"}
    required = doc["components"]["schemas"]["CaseRequest"]["required"]
    assert "accession_number" in required and "subspecialty" not in required


def test_an_answer_unlike_its_description_becomes_a_500_naming_it(app: Flask) -> None:
    with app.test_request_context("/api/v1/cases/1"):
        app.preprocess_request()
        stray = Response(json.dumps({"id": 1, "sight": "record"}), mimetype="application/json")
        checked = check_answer(stray)
        assert checked.status_code == 500
        assert "GET /api/v1/cases/1 answered 200 unlike its model" in checked.get_json()["detail"]

        teapot = Response(json.dumps({"error": "x"}), status=418, mimetype="application/json")
        assert "not described" in check_answer(teapot).get_json()["detail"]

        missing = Response(
            json.dumps({"error": "not found", "detail": None}), 404, mimetype="application/json"
        )
        assert check_answer(missing) is missing  # an id no row has: documented for every id


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []
