"""`/openapi.json` covers every endpoint, and schemathesis finds no 5xx and no answer that breaks it."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import ADMIN_TOKEN, RESEMBLE_TOKENS, LiveServer, load_fixture
from webhook_app.config.plugins import provider_classes
from webhook_app.config.settings import Settings
from webhook_app.model.routes import Route
from webhook_app.web import hooks
from webhook_app.web.openapi import build_spec

NOT_IN_THE_DOCUMENT = {"/metrics", "/openapi.json", "/static/<filename>"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'events.db'}",
        data_dir=str(folder),
        admin_tokens=(ADMIN_TOKEN,),
        provider_tokens={"resemble": RESEMBLE_TOKENS},
        routes=(Route(name="log", handler="log"),),
    )
    server = LiveServer(settings)
    for name in ("resemble_dataset_issue.json", "resemble_finished.json"):
        server.post_callback(load_fixture(name))
    yield server
    server.close()


def test_every_endpoint_is_in_the_document(live: LiveServer) -> None:
    document = httpx.get(f"{live.url}/openapi.json").json()
    documented = {path.replace("{", "<").replace("}", ">") for path in document["paths"]}
    routed = {  # a converter (`<path:voice_id>`) is the router's business, not the document's
        re.sub(r"<\w+:", "<", rule.rule)
        for rule in live.app.url_map.iter_rules()
        if not rule.rule.startswith("/ui")
    }
    served = routed | {hooks.PATH}  # the callback endpoint, ahead of Flask's routes
    assert served - NOT_IN_THE_DOCUMENT == documented
    assert document["openapi"].startswith("3.")
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {"error"}
    assert document == build_spec(live.app, list(provider_classes().values()))


def _documented_app() -> Any:
    """An app as `serve` builds it (no database is opened to document it)."""
    from webhook_app import create_app

    folder = tempfile.mkdtemp(prefix="openapi-")
    settings = Settings(
        database_url=f"sqlite:///{folder}/events.db",
        admin_tokens=(ADMIN_TOKEN,),
        routes=(Route(name="log", handler="log"),),
    )
    return create_app(settings)


schema = schemathesis.openapi.from_dict(
    build_spec(_documented_app(), list(provider_classes().values()))
)  # the same document /openapi.json serves
OPERATIONS = [result.ok() for result in schema.get_all_operations()]
CASES = [
    pytest.param(operation, mode, id=f"{mode.value} {operation.label}")
    for operation in OPERATIONS
    for mode in GenerationMode
    # Invalid input needs an input to make invalid: /healthz takes none.
    if mode is GenerationMode.POSITIVE
    or any(
        len(group)
        for group in (operation.path_parameters, operation.query, operation.headers, operation.body)
    )
]


# One test per operation and mode, each with an id of its own: `schema.parametrize()` gave
# every operation the same node id, and pytest-xdist ran (and counted) them as one test.
@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_api_conforms_to_its_document(operation: Any, mode: GenerationMode, live: LiveServer) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: Any) -> None:
        # Every check but "schema-valid data is accepted": opaque ids and cursors that only this
        # service can mint are valid strings by schema, yet rightly answered 404 or 400.
        # A case whose headers are invalid on purpose (the admin token left out) goes as generated:
        # adding the token would make it valid, and its 200 would look like invalid data accepted.
        negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
        case.call_and_validate(
            base_url=live.url,
            headers={} if negative_headers else {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            excluded_checks=[positive_data_acceptance],
        )

    conforms()
