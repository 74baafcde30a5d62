"""Schemathesis against the API's own /openapi.json: no 500s, answers as documented (SQLite).

Each operation gets generated requests that fit its schema (positive) and that do
not (negative, which must be refused with a 4xx). Schemathesis's pytest plugin
(``schema.parametrize``) cannot take the schema from a fixture on this pytest, so
the operations are listed from the document and driven through ``as_strategy``.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from test_api import build_app

from calsync.store.db import Store
from calsync.web.auth import create_api_key
from conftest import NOW, make_settings


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation; listing them needs no database."""
    document = build_app(None, lambda: NOW, []).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


@pytest.fixture
def api_schema(tmp_path, clock):
    """The API's schema, served by an app on a fresh SQLite store, and a valid API key."""
    store = Store.connect(make_settings(f"sqlite:///{tmp_path / 'calsync.db'}").database)
    store.upgrade()
    with store.write() as session:
        _, secret = create_api_key(session, name="schemathesis", now=NOW)
    config = SchemathesisConfig.from_dict(
        {
            # The key is sent explicitly (so the ignored-auth check also probes without it),
            # never generated.
            "generation": {"with-security-parameters": False},
            "checks": {
                # The schema cannot say which ids exist or which bookings overlap: a
                # well-formed request may still be refused for what the store holds.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "404", "409", "416"]
                }
            },
        }
    )
    app = build_app(store, clock, [])
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=config), secret
    store.close()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), _operations())
def test_operation_conforms_to_its_schema(api_schema, method, path, mode):
    """Generated requests never get a 500, and every answer matches the documented one."""
    schema, secret = api_schema
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {secret}"})

    check()
