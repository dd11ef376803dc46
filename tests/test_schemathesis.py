"""Property-based API testing from the OpenAPI schema: no input may produce a 500 or break the schema.

Cases are generated per operation with schemathesis strategies driven by Hypothesis directly (the
schemathesis pytest plugin does not support this pytest version).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from api.app import create_app
from kb.config import Settings

EXAMPLES = int(os.environ.get("ST_EXAMPLES", "30"))  # raise it to hunt rare failing cases
INDEX_DEPENDENT = {"GET /api/search"}
"""Schema-valid filter values that no document has (language, tag, product) are a 422 naming the values
the index has: the schema cannot list them, so "valid data accepted" is not checked there."""


@pytest.fixture(scope="module")
def operations(kb_settings: Settings):
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(kb_settings))
    return {f"{op.method.upper()} {op.path}": op for op in (r.ok() for r in schema.get_all_operations())}


def test_every_operation_is_covered(operations):
    assert {"GET /api/search", "POST /api/similar", "GET /api/documents/{doc_id}", "GET /api/gaps", "GET /healthz",
            "POST /api/feedback", "GET /api/feedback"} <= set(operations)


@pytest.mark.parametrize("name", ["GET /api/search", "POST /api/similar", "GET /api/documents/{doc_id}",
                                  "GET /api/documents/{doc_id}/similar", "GET /api/gaps", "GET /healthz",
                                  "POST /api/admin/reload", "POST /api/feedback", "GET /api/feedback"])
def test_operation_conforms_to_schema(operations, name: str):
    @given(case=operations[name].as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(excluded_checks=[positive_data_acceptance] if name in INDEX_DEPENDENT else None)

    check()
