"""Schema-driven fuzzing of the whole API (schemathesis): whatever a client sends, the line
answers with a 2xx or a 4xx problem — never a server error — and every answer conforms to the
OpenAPI document (a status it documents for that operation, its content type and its schema),
on both backends. The document itself is checked too: a bearer scheme, a typed success body
and the problem schema on every operation, and no 422 anywhere (the line answers 400).

Schemathesis draws bodies, query parameters, path ids and headers from the document; on top of
its values, every string it draws may be swapped for a hostile one (odd unicode digits, odd time
offsets and leap seconds, years 0 and 10000, huge and negative numbers as text) and every
request may carry an odd ``Last-Event-ID``, so the whole surface meets them — not only the
fields tests/e2e/test_e2e_hostile_fuzz.py aims at.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 250  # spread over every operation of the schema

#: Strings a hostile client sends where the document says "string" (dates, ids, cursors…).
HOSTILE_STRINGS = [
    "١٢٣", "٣", "²", "𝟗", "１２", "-1", "99999999999999999999999", "9223372036854775808",
    "2026-11-28T06:00:00+23:59", "2026-11-28T06:00:00-00:00", "2026-12-31T23:59:60Z",
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
    "10000-01-01T00:00:00Z", "٢٠٢٦-١١-٢٨T06:00:00Z", "1e999", "NaN", "-0",
]
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance]
PROBLEM = "#/components/schemas/ProblemOut"


def test_document_tells_the_truth(server) -> None:
    """Every operation: a typed success body, each problem status with the problem schema and
    an example, the bearer scheme where a token is needed; no 422, no untyped object; an
    example on every JSON request body."""
    import httpx

    doc = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        **doc["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    ids = set()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            ids.add(op["operationId"])
            responses = op["responses"]
            assert "422" not in responses, where
            success = [c for c in responses if c.startswith("2")]
            assert len(success) == 1, where
            if success[0] != "204":
                schema = responses[success[0]]["content"]["application/json"]["schema"]
                assert schema.get("$ref", "").endswith("Out"), (where, schema)
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    problem = response["content"]["application/problem+json"]
                    assert problem["schema"] == {"$ref": PROBLEM}, (where, code)
                    assert problem["example"]["status"] == int(code), (where, code)
            assert {"400", "413", "429"} <= set(responses), where
            if path != "/v1/health":
                assert op["security"] == [{"bearer": []}], where
                assert "401" in responses, where
                assert all(p["name"].lower() != "authorization"
                           for p in op.get("parameters", [])), where
            for body in op.get("requestBody", {}).get("content", {}).values():
                assert "example" in body, where
    assert len(ids) == sum(len(ops) for ops in doc["paths"].values())  # unique ids


def test_docs_example_declaration_is_taken(server, api) -> None:
    """The request example of "Declare an operation" is one the line takes (its times are
    made relative to when the document was made), so "Try it out" works as shown."""
    import httpx

    doc = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    body = doc["paths"]["/v1/operations"]["post"]["requestBody"]["content"][
        "application/json"]["example"]
    check = api.blue.post("/v1/operations/check", json=body)
    assert check.status_code == 200, check.text
    assert check.json()["acceptable"] is True, check.text


def _hostile(value: object, swap: bool, pick: str) -> object:
    """The drawn value with its first string (depth-first) swapped for ``pick``."""
    if not swap:
        return value
    if isinstance(value, str):
        return pick
    if isinstance(value, dict):
        for k, v in value.items():
            new = _hostile(v, swap, pick)
            if new is not v:
                return {**value, k: new}
    if isinstance(value, list):
        for i, v in enumerate(value):
            new = _hostile(v, swap, pick)
            if new is not v:
                return [*value[:i], new, *value[i + 1:]]
    return value


@pytest.mark.parametrize("party", ["blue", "mission"])
def test_no_request_meets_a_server_error(server, party: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # the SSE stream never ends by design; its JSON polling form has its own tests
    cases = st.one_of([op.as_strategy() for op in operations if op.path != "/v1/events"])
    headers = {"Authorization": f"Bearer {server.tokens[party]}"}

    @given(case=cases, swap=st.booleans(), where=st.sampled_from(["body", "query", "path"]),
           pick=st.sampled_from(HOSTILE_STRINGS))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case, swap: bool, where: str, pick: str) -> None:
        if where == "body" and case.body is not None and not isinstance(case.body, bytes):
            case.body = _hostile(case.body, swap, pick)
        elif where == "query" and case.query:
            case.query = _hostile(case.query, swap, pick)
        elif where == "path" and case.path_parameters:
            case.path_parameters = _hostile(case.path_parameters, swap, pick)
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


@pytest.mark.parametrize("cursor", ["١٢٣", "٣", "-1", "99999999999999999999999", "1e3", "x"])
def test_event_page_with_hostile_cursors_conforms(server, cursor: str) -> None:
    """The JSON page of ``/v1/events`` (the operation the fuzz above leaves out, as its SSE
    form never ends) with odd ``after``/``limit`` and ``Last-Event-ID``."""
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    events = schema["/v1/events"]["GET"]
    headers = {"Authorization": f"Bearer {server.tokens['red']}",
               "Last-Event-ID": cursor.encode()}  # type: ignore[dict-item]
    for query in ({"after": cursor}, {"limit": cursor}, {"after": "0", "limit": cursor}, {}):
        case = events.Case(query=query)
        case.call_and_validate(headers=headers, checks=CHECKS)
