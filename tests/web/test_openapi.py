"""The API against its own OpenAPI document (schemathesis): no generated input makes it fail (5xx),
and what it answers is what the document says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from monitor.matching.nlp import LanguagePipelines
from tests.web.support import CONFIG, make_env

# schemathesis drives an ASGI app through starlette's TestClient, which warns about its own httpx use
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:starlette.*")

HOST = "127.0.0.1:9464"
EXAMPLES = 10  # per operation: odd strings, huge numbers, wrong types; the whole run stays under a minute
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def test_openapi_no_generated_request_fails_the_server(tmp_path: Path, pipelines: LanguagePipelines) -> None:
    """Every operation of the document, with generated parameters and bodies (valid and not)."""
    config = CONFIG.replace(
        "  folders:", "  feeds:\n    - {url: 'https://feeds.example.org/a.rss', name: A}\n  folders:"
    )
    env = make_env(tmp_path, pipelines, config=config)
    env.add("La NATO a Vilnius", "Il vertice della NATO; il cessate il fuoco a Gaza.")
    env.add("Finlandia", "La Finlandia al voto.")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", env.app, headers={"host": HOST})
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            derandomize=True,
            database=None,
        )
        def exercise(case: Any) -> None:
            if "/channels/" in case.path:  # the console channel would print its sample: keep output quiet
                case.path_parameters = {"name": "no-such-channel"}
            # a first backtest builds its language's tables: seconds on a loaded machine, not a failure
            response = case.call(headers={"host": HOST}, timeout=60)
            case.validate_response(response, checks=CHECKS)

        exercise()


def test_openapi_document_names_every_api_route(tmp_path: Path, pipelines: LanguagePipelines) -> None:
    from starlette.routing import Route

    env = make_env(tmp_path, pipelines)
    from monitor.web.openapi import openapi_document

    documented = {
        (path.replace("{id}", "{id:int}"), method.upper())
        for path, operations in openapi_document(ingest=True)["paths"].items()
        for method in operations
    }
    served = {
        (route.path, method)
        for route in env.app.routes
        if isinstance(route, Route)
        and route.path.startswith("/api/v1/")
        and route.path != "/api/v1/openapi.json"
        for method in (route.methods or ())
        if method != "HEAD"
    }
    assert served == documented
