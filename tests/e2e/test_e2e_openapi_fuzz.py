"""Schema-driven fuzzing of the whole API (schemathesis): whatever a client sends, the line
answers with a 2xx or a 4xx problem — never a server error — on both backends."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

EXAMPLES = 250  # spread over every operation of the schema


@pytest.mark.parametrize("party", ["blue", "mission"])
def test_no_request_meets_a_server_error(server, party: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # the SSE stream never ends by design; its JSON polling form has its own tests
    cases = st.one_of([op.as_strategy() for op in operations if op.path != "/v1/events"])
    headers = {"Authorization": f"Bearer {server.tokens[party]}"}

    @given(case=cases)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    fuzz()
