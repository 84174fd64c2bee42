"""The SCIM endpoints pass the scim2-tester checker (RFC 7643/7644) with no failure.

scim2-client calls the Django application in process (its WSGI engine) with alpha's host
and a SCIM token of alpha, inside the test's transaction, so nothing needs a server.
"""

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import CheckResult, Status, check_server

from iam.scim.services import scim_token_create
from tenants.models import Tenant
from tenants.services import tenant_url

FAILED = {Status.ERROR, Status.CRITICAL}


class _InTestTransaction:
    """Django's WSGI handler without the connection closing of a request's end, which would
    end the test's transaction (django.test.Client leaves it out the same way)."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()  # type: ignore[attr-defined]
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]


@pytest.fixture
def scim_client(tenant_a: Tenant) -> Iterator[WSGISCIMClient]:
    _, raw = scim_token_create(tenant=tenant_a, by=None, name="scim2-tester")
    yield WSGISCIMClient(
        _InTestTransaction(),
        base_url=tenant_url(tenant_a, "/scim/v2"),
        headers={"Authorization": f"Bearer {raw}"},
    )


def _describe(results: list[CheckResult]) -> str:
    return "\n".join(
        f"{r.status.name} {r.resource_type or ''} {r.title}: {r.reason}"
        for r in results
        if r.status in FAILED
    )


def test_scim2_tester_finds_no_failure(scim_client: WSGISCIMClient) -> None:
    results = check_server(scim_client)
    ran = {r.title for r in results if r.status != Status.SKIPPED}
    assert not [r for r in results if r.status in FAILED], _describe(results)
    # Discovery, every CRUD operation and the three PATCH operations ran, for both types.
    for check in (
        "query_all_schemas",
        "query_all_resource_types",
        "object_creation",
        "object_query",
        "object_query_without_id",
        "object_replacement",
        "object_deletion",
        "check_add_attribute",
        "check_remove_attribute",
        "check_replace_attribute",
    ):
        assert check in ran, sorted(ran)
    for resource_type in ("User", "Group"):
        assert any(r.resource_type == resource_type and r.status == Status.SUCCESS for r in results)
