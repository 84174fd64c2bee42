"""Signing in on an organization's host: for its members only, with failed attempts counted
per account and per client address on every host alike, and no organization sign-up offered
to people without an account."""

import pytest
from django.test import Client

from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(host: str, email: str, password: str, address: str = "127.0.0.1") -> Client:
    client = Client(HTTP_HOST=host, REMOTE_ADDR=address)
    client.post("/accounts/login/", {"login": email, "password": password})
    return client


def _is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _form_errors(host: str, email: str, password: str) -> list[str]:
    response = Client(HTTP_HOST=host).post(
        "/accounts/login/", {"login": email, "password": password}
    )
    assert response.status_code == 200
    return list(response.context["form"].non_field_errors())


def test_failed_sign_ins_of_an_account_count_together_on_every_host(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """5 failures in 5 minutes lock the account out, whichever hosts they were made on."""
    hosts = [host_of(tenant_a), host_of(tenant_b), "localhost", host_of(tenant_b), "localhost"]
    for n, host in enumerate(hosts):
        assert not _is_signed_in(_sign_in(host, "member@alpha.test", "wrong", f"203.0.113.{n}"))
    locked = _sign_in(host_of(tenant_a), "member@alpha.test", PASSWORD, "198.51.100.1")
    assert not _is_signed_in(locked)
    assert (
        "Too many failed login attempts"
        in _form_errors(host_of(tenant_a), "member@alpha.test", PASSWORD)[0]
    )


def test_failed_sign_ins_from_one_address_count_together_on_every_host(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """10 failures a minute from one client address, whichever accounts and hosts."""
    for n in range(10):
        host = (host_of(tenant_a), host_of(tenant_b), "localhost")[n % 3]
        assert not _is_signed_in(_sign_in(host, f"nobody{n}@example.test", "wrong", "203.0.113.7"))
    assert not _is_signed_in(
        _sign_in(host_of(tenant_a), "member@alpha.test", PASSWORD, "203.0.113.7")
    )
    assert _is_signed_in(_sign_in(host_of(tenant_a), "member@alpha.test", PASSWORD, "203.0.113.8"))


def test_the_right_password_on_another_organizations_host_is_answered_as_a_wrong_one(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    client = _sign_in(host_of(tenant_b), "member@alpha.test", PASSWORD)
    assert not _is_signed_in(client)
    refused = _form_errors(host_of(tenant_b), "member@alpha.test", PASSWORD)
    wrong = _form_errors(host_of(tenant_b), "member@alpha.test", "not-the-password")
    unknown = _form_errors(host_of(tenant_b), "ghost@beta.test", "not-the-password")
    assert refused == wrong == unknown and refused


def test_sign_ins_on_another_organizations_host_count_as_failures(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    for n in range(5):
        _sign_in(host_of(tenant_b), "member@alpha.test", PASSWORD, f"203.0.113.{n}")
    assert not _is_signed_in(_sign_in(host_of(tenant_a), "member@alpha.test", PASSWORD))


def test_organization_sign_in_page_points_people_without_an_account_to_their_invitation(
    tenant_a: Tenant,
) -> None:
    page = Client(HTTP_HOST=host_of(tenant_a)).get("/accounts/login/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "invitation" in text and "Alpha Inc" in text
    assert "/signup/" not in text and "sign up" not in text.lower()


def test_organization_sign_up_address_explains_that_an_admin_invites_people(
    tenant_a: Tenant,
) -> None:
    page = Client(HTTP_HOST=host_of(tenant_a)).get("/accounts/signup/")
    assert page.status_code == 200
    assert "invit" in page.content.decode()
    assert "/signup/" not in page.content.decode()


def test_public_sign_in_page_still_offers_organization_sign_up(public_client: Client) -> None:
    page = public_client.get("/accounts/login/")
    assert 'href="/signup/"' in page.content.decode()
