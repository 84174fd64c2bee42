"""The organization admin is for owners and admins; everyone else gets the product's pages,
never the admin's own sign-in form."""

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client

from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

ADMIN_PATHS = ["/admin/", "/admin/login/", "/admin/crm/contact/", "/admin/crm/contact/1/history/"]


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_plain_member_opening_the_admin_gets_the_403_page(client_a: Client, path: str) -> None:
    response = client_a.get(path)
    assert response.status_code == 403
    page = response.content.decode()
    # The decision point's reason: the admin is for the CRM set-up right.
    assert "includes the CRM set-up right" in page
    assert 'href="/"' in page or "Back to the dashboard" in page  # the way back
    assert "login to a different account" not in page.lower()
    assert 'name="password"' not in page


@pytest.mark.parametrize("path", ["/admin/", "/admin/crm/contact/"])
def test_anonymous_visitor_of_the_admin_is_sent_to_the_products_sign_in(
    tenant_a: Tenant, path: str
) -> None:
    response = Client(HTTP_HOST=host_of(tenant_a)).get(path)
    assert response.status_code == 302
    assert response["Location"] == f"{resolve_url(settings.LOGIN_URL)}?next={path}"


def test_admin_opening_the_admins_sign_in_page_lands_on_its_index(
    tenant_a: Tenant, owner_a: User
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    response = client.get("/admin/login/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
