"""Every record's API answers with an ETag; If-None-Match saves a download, and a change
sent with a stale If-Match gets 412 and changes nothing."""

import threading
from functools import partial

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Company
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client
from tests.crm.factories import CompanyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


@pytest.fixture
def company(tenant_a: Tenant) -> Company:
    with tenant_context(tenant_a):
        return Company.objects.create(name="Initech")


def test_a_record_answers_with_its_etag_and_304_while_it_still_matches(
    api: Client, company: Company
) -> None:
    first = api.get(f"/api/v1/companies/{company.pk}/")
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    assert api.get(f"/api/v1/companies/{company.pk}/")["ETag"] == etag  # stable

    unchanged = api.get(f"/api/v1/companies/{company.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    api.patch(f"/api/v1/companies/{company.pk}/", {"name": "Initrode"}, "application/json")
    changed = api.get(f"/api/v1/companies/{company.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_an_update_with_the_current_etag_is_made_and_answers_the_new_one(
    api: Client, company: Company
) -> None:
    etag = api.get(f"/api/v1/companies/{company.pk}/")["ETag"]
    updated = api.patch(
        f"/api/v1/companies/{company.pk}/",
        {"name": "Initrode"},
        "application/json",
        HTTP_IF_MATCH=etag,
    )
    assert updated.status_code == 200 and updated.json()["name"] == "Initrode"
    assert updated["ETag"] == api.get(f"/api/v1/companies/{company.pk}/")["ETag"] != etag


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_a_change_with_a_stale_etag_gets_412_and_changes_nothing(
    method: str, api: Client, company: Company, tenant_a: Tenant
) -> None:
    stale = api.get(f"/api/v1/companies/{company.pk}/")["ETag"]
    api.patch(f"/api/v1/companies/{company.pk}/", {"domain": "initech.example"}, "application/json")
    sent = getattr(api, method)(
        f"/api/v1/companies/{company.pk}/",
        {"name": "Overwritten"},
        "application/json",
        HTTP_IF_MATCH=stale,
    )
    assert sent.status_code == 412
    assert sent["Content-Type"].startswith("application/problem+json")
    assert sent.json()["code"] == "precondition-failed"
    with tenant_context(tenant_a):
        kept = Company.objects.get(pk=company.pk)
    assert (kept.name, kept.domain) == ("Initech", "initech.example")


def test_if_match_star_and_a_list_of_tags_are_understood(api: Client, company: Company) -> None:
    etag = api.get(f"/api/v1/companies/{company.pk}/")["ETag"]
    url = f"/api/v1/companies/{company.pk}/"
    assert api.patch(url, {"phone": "1"}, "application/json", HTTP_IF_MATCH="*").status_code == 200
    current = api.get(url)["ETag"]
    listed = f'"old", W/{current}, {etag}'
    assert (
        api.patch(url, {"phone": "2"}, "application/json", HTTP_IF_MATCH=listed).status_code == 200
    )


def test_another_organizations_record_is_404_whatever_if_match_says(
    company: Company, owner_b: User, tenant_b: Tenant, tenant_a: Tenant
) -> None:
    other = token_client(owner_b, tenant_b)
    response = other.patch(
        f"/api/v1/companies/{company.pk}/", {"name": "X"}, "application/json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 404


def test_the_schema_documents_the_conditional_headers(api: Client) -> None:
    schema = api.get("/api/schema/?format=json").json()
    detail = schema["paths"]["/api/v1/companies/{id}/"]
    assert any(p["name"] == "If-None-Match" for p in detail["get"]["parameters"])
    assert "304" in detail["get"]["responses"]
    assert "ETag" in detail["get"]["responses"]["200"]["headers"]
    for method in ("put", "patch", "delete"):
        assert any(p["name"] == "If-Match" for p in detail[method]["parameters"])
        assert "412" in detail[method]["responses"]


def _company_in(tenant: Tenant) -> None:
    CompanyFactory(name="Raced")


def test_two_changes_sent_with_the_same_etag_at_once_one_wins_the_other_gets_412() -> None:
    """Two clients, each on a connection of its own: the If-Match check locks the row, so
    the second sees the first's change and is refused."""
    from tests.support.connections import (
        committed_organization,
        run_on_own_connection,
        start_on_own_connection,
    )

    with committed_organization("etag", prepare=_company_in) as tenant:
        owner = User.objects.get(email=f"owner@{tenant.slug}.test")
        clients: list[Client] = []
        found: list[int] = []

        def prepare() -> None:
            clients.extend(token_client(owner, tenant) for _ in range(2))
            with tenant_context(tenant):
                found.append(Company.objects.get(name="Raced").pk)

        run_on_own_connection(prepare)
        url = f"/api/v1/companies/{found[0]}/"
        etags: list[str] = []
        run_on_own_connection(lambda: etags.append(clients[0].get(url)["ETag"]))
        go = threading.Barrier(2)
        codes: list[int] = []
        errors: list[BaseException] = []

        def change(client: Client, name: str) -> None:
            go.wait(timeout=10)
            response = client.patch(url, {"name": name}, "application/json", HTTP_IF_MATCH=etags[0])
            codes.append(response.status_code)

        threads = [
            start_on_own_connection(partial(change, client, name), errors)
            for client, name in zip(clients, ("A", "B"), strict=True)
        ]
        for thread in threads:
            thread.join(timeout=30)
        assert not errors, errors
        assert sorted(codes) == [200, 412]
