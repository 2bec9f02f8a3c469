"""schemathesis over the real service's own ``/openapi.json`` (finding 21).

Every operation the document describes is sent generated requests, valid
and invalid against the schema, with a supervisor token, a tier1 token, a
token signed with the wrong secret and no token at all.  Whatever is sent,
the answer is never a 5xx, every 4xx carries the SPEC error shape with a
SPEC code that matches its status, and the answer conforms to the document
(a documented status, content type and body schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from screenpop.openapi import openapi_document
from tests.fuzz_helpers import FUZZ_SETTINGS, assert_client_answer, host_token, service_in_thread
from tests.service_helpers import make

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
TOKENS = {
    "supervisor": lambda: host_token("agent-3"),
    "tier1": lambda: host_token("agent-1"),
    "invalid": lambda: host_token("agent-3", secret="not-the-secret-of-this-service-0123456789"),
    "none": lambda: None,
}


def _operations() -> list[tuple[str, str, bool, bool]]:
    """(method, path, secured, has input to break) of every operation, read without a service.

    ``/openapi.json`` itself takes no input, and schemathesis leaves out the
    operation its schema was loaded from.
    """
    document = openapi_document(make("sqlite+aiosqlite:///:memory:"))
    return [
        (method.upper(), path, "security" in operation, _breakable(operation))
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if path != "/openapi.json"
    ]


def _breakable(operation: dict[str, Any]) -> bool:
    """Whether schema-invalid requests exist: a body, or a query parameter (a path string has none)."""
    return "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", []))


CASES = [
    pytest.param(method, path, token, mode, id=f"{method} {path} {token} {mode.value}")
    for method, path, secured, breakable in _operations()
    for token in (TOKENS if secured else ["none"])
    for mode in (GenerationMode if breakable else [GenerationMode.POSITIVE])
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, schemathesis.BaseSchema]]:
    """One real service for the module, and the schema loaded from its own /openapi.json."""
    store = Path(tmp_path_factory.mktemp("fuzz-api")) / "store.db"
    with service_in_thread(make(f"sqlite+aiosqlite:///{store}")) as base:
        yield base, schemathesis.openapi.from_url(f"{base}/openapi.json")


def test_document_lists_every_operation(service: tuple[str, schemathesis.BaseSchema]) -> None:
    """The document served on /openapi.json has exactly the operations the fuzz cases cover."""
    _, schema = service
    served = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert served == {(method, path) for method, path, _, _ in _operations()}


@pytest.mark.parametrize(("method", "path", "token", "mode"), CASES)
def test_fuzz_operation(
    service: tuple[str, schemathesis.BaseSchema], method: str, path: str, token: str, mode: GenerationMode
) -> None:
    """Generated requests to one operation get no 5xx, SPEC-shaped 4xx, and answers the document allows."""
    base, schema = service
    operation = schema[path][method]
    minted = TOKENS[token]()
    headers = {"Authorization": f"Bearer {minted}"} if minted else {}
    session = requests.Session()

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        if token != "none":
            case.headers = {**(case.headers or {}), **headers}
        response = case.call(base_url=base, session=session, timeout=30)
        what = f"{method} {path} with {token} token: {case.as_curl_command()}"
        assert_client_answer(
            response.status_code, response.content, response.headers.get("content-type", [""])[0], what
        )
        case.validate_response(response, checks=CHECKS)

    try:
        fuzz()
    finally:
        session.close()
