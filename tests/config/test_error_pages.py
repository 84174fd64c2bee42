"""In development (DEBUG on) a path that leads nowhere gets the product's 404 page, as in
production, rather than Django's page listing every URL pattern; real errors keep their
traceback."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Contact
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

PRODUCT_404 = "The page you are looking for does not exist"
DJANGO_404 = ("Using the URLconf", "urlpatterns", "DEBUG = True")


@pytest.fixture
def development(settings: Any) -> Iterator[None]:
    settings.DEBUG = True
    yield


def assert_products_404(response: object) -> None:
    assert response.status_code == 404  # type: ignore[attr-defined]
    page = response.content.decode()  # type: ignore[attr-defined]
    assert PRODUCT_404 in page
    for marker in DJANGO_404:
        assert marker not in page


@pytest.mark.parametrize("path", ["/no-such-page/", "/contacts/not-a-number/"])
def test_mistyped_path_on_an_organization_host_gets_the_products_404_page(
    development: None, client_a: Client, path: str
) -> None:
    assert_products_404(client_a.get(path))


def test_mistyped_path_on_the_public_site_gets_the_products_404_page(
    development: None, public_client: Client
) -> None:
    assert_products_404(public_client.get("/no-such-page/"))


def test_missing_record_gets_the_products_404_page(
    development: None, client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        missing = (Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    assert_products_404(client_a.get(f"/contacts/{missing}/"))


def test_mistyped_api_path_still_gets_a_problem(development: None, client_a: Client) -> None:
    response = client_a.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_a_path_without_its_slash_is_still_redirected(development: None, client_a: Client) -> None:
    response = client_a.get("/contacts")
    assert response.status_code == 301
    assert response["Location"] == "/contacts/"


def test_real_errors_keep_their_traceback_in_development(
    development: None, settings: Any, tenant_a: Tenant, member_a: object
) -> None:
    settings.ROOT_URLCONF = "tests.config.urls_with_a_failing_view"
    client = Client(HTTP_HOST=host_of(tenant_a), raise_request_exception=False)
    client.force_login(member_a)  # type: ignore[arg-type]
    response = client.get("/failing/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "RuntimeError" in page and "the failing view failed" in page
    assert "Traceback" in page


def test_production_shows_the_same_404_page(client_a: Client) -> None:
    assert not settings.DEBUG
    assert_products_404(client_a.get("/no-such-page/"))
