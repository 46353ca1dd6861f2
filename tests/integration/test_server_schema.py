"""Schemathesis against the app's own OpenAPI document: no 5xx and no response off its schema."""

from __future__ import annotations

import uuid

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from serving import Served

EXAMPLES_PER_OPERATION = 30
#: Operations whose inputs carry meaning no OpenAPI schema states, so that a schema-valid request
#: may rightly be refused; every other operation must accept what its schema admits. (A cursor
#: is opaque: any text fits its schema, only the ones the record issued are accepted.)
SEMANTIC = {
    "POST /methods": "parameters_schema must itself be a valid JSON Schema",
    "POST /tokens": "expires_at must be later than the record's clock",
    "POST /principals": "operator and safety are never held together",
    "POST /principals/{principal_id}/roles": "operator and safety are never held together",
    # free-form JSON objects: no text in them, at any depth and keys included, may hold NUL or a
    # lone surrogate, which their schema (any object) does not state
    **{
        operation: "a free-form JSON object holds text that reads back"
        for operation in ("POST /runs", "POST /runs/{run_id}/adjust", "POST /plans", "POST /plans/{plan_id}/revise",
                          "POST /methods/{method_id}/revise", "POST /procedures/{procedure_id}/steps")
    },
}


def role_for(method: str, path: str) -> str:
    """The role whose token drives an operation, so that generated requests reach the record."""
    if method == "GET":
        return "admin" if path.startswith("/tokens") else "viewer"
    if path.startswith(("/enclosures", "/assets", "/methods", "/plans", "/tokens", "/principals")):
        return "admin"
    if path.startswith("/clearances/") and not path.endswith(("/bind", "/submit")):
        return "safety"
    return "operator"


def test_every_operation_keeps_the_documented_contract(tmp_path, clock):
    served = Served(f"sqlite:///{tmp_path / 'record.db'}", clock=clock)
    served.clearance(subject_ids=[served.ids.subject])
    schema = schemathesis.openapi.from_asgi("/openapi.json", served.app)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        headers = {"Authorization": f"Bearer {served.tokens[role_for(operation.method.upper(), operation.path)]}"}
        label = f"{operation.method.upper()} {operation.path}"
        paged = any(parameter.name == "cursor" for parameter in operation.iter_parameters())
        excluded = [positive_data_acceptance] if paged or label in SEMANTIC else []

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            suppress_health_check=list(HealthCheck),
            deadline=None,
            derandomize=True,
        )
        def exercise(case):
            # a client sends a fresh key per command; generated keys repeat across unrelated bodies
            keyed = {"Idempotency-Key": str(uuid.uuid4())} if "Idempotency-Key" in (case.headers or {}) else {}
            case.call_and_validate(headers={**headers, **keyed}, excluded_checks=excluded)

        exercise()
        checked.append(f"{operation.method.upper()} {operation.path}")
    served.close()
    assert len(checked) >= 50 and "POST /runs" in checked
