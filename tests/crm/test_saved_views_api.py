"""Saved views through the API: a member's own, shared ones, who may change them, what they
may hold, and isolation between organizations."""

from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import SavedView
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


def _post(client: Client, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/saved-views/", body, content_type="application/json")


def test_a_member_saves_a_view_and_finds_it_in_the_list(api: Client, member_a: User) -> None:
    created = _post(
        api,
        {
            "list": "contacts",
            "name": "My VIPs",
            "query": {"tag": "vip", "mine": "on", "q": ""},
            "columns": ["owner", "email"],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["query"] == {"tag": "vip", "mine": "on"}
    assert body["columns"] == ["email", "owner"]  # in the list's own order
    assert (body["user_id"], body["is_shared"]) == (member_a.pk, False)
    listed = api.get("/api/v1/saved-views/?list=contacts").json()
    assert [v["name"] for v in listed] == ["My VIPs"]
    assert api.get("/api/v1/saved-views/?list=deals").json() == []


def test_another_members_view_is_seen_only_once_shared(api: Client, owner_api: Client) -> None:
    private = _post(owner_api, {"list": "deals", "name": "Mine only"}).json()
    shared = _post(owner_api, {"list": "deals", "name": "Team", "is_shared": True}).json()
    names = [v["name"] for v in api.get("/api/v1/saved-views/").json()]
    assert names == ["Team"]
    assert api.get(f"/api/v1/saved-views/{private['id']}/").status_code == 404
    assert api.get(f"/api/v1/saved-views/{shared['id']}/").status_code == 200


def test_only_the_member_who_saved_a_shared_view_changes_or_deletes_it(
    api: Client, owner_api: Client, tenant_a: Tenant
) -> None:
    shared = _post(owner_api, {"list": "leads", "name": "Hot", "is_shared": True}).json()
    url = f"/api/v1/saved-views/{shared['id']}/"
    renamed = api.patch(url, {"name": "Mine now"}, content_type="application/json")
    assert renamed.status_code == 403
    assert renamed.json()["code"] == "saved-view-not-yours"
    assert api.delete(url).status_code == 403
    assert (
        owner_api.patch(url, {"name": "Hotter"}, content_type="application/json").json()["name"]
        == "Hotter"
    )
    assert owner_api.delete(url).status_code == 204
    with tenant_context(tenant_a):
        assert not SavedView.objects.filter(pk=shared["id"]).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"list": "tickets", "name": "x"}, "list"),
        ({"list": "contacts", "name": "  "}, "name"),
        ({"list": "contacts", "name": "x", "query": {"stage": "3"}}, "query.stage"),
        ({"list": "deals", "name": "x", "columns": ["nope"]}, "columns.0"),
        ({"list": "contacts", "name": "x", "query": {"q": "a\u0000b"}}, "query.q"),
    ],
)
def test_a_view_holds_only_what_its_list_knows(
    api: Client, body: dict[str, Any], field: str
) -> None:
    response = _post(api, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_a_column_of_another_list_is_refused(api: Client) -> None:
    response = _post(api, {"list": "contacts", "name": "x", "columns": ["stage"]})
    assert response.status_code == 400
    assert "columns" in response.json()["errors"]


def test_two_views_of_a_list_cannot_share_a_name(api: Client) -> None:
    assert _post(api, {"list": "companies", "name": "Big"}).status_code == 201
    again = _post(api, {"list": "companies", "name": "BIG"})
    assert again.status_code == 400
    assert "name" in again.json()["errors"]
    assert _post(api, {"list": "leads", "name": "Big"}).status_code == 201


def test_the_list_of_a_view_is_fixed_once_saved(api: Client) -> None:
    view = _post(api, {"list": "companies", "name": "Big"}).json()
    changed = api.patch(
        f"/api/v1/saved-views/{view['id']}/", {"list": "deals"}, content_type="application/json"
    )
    assert changed.status_code == 200
    assert changed.json()["list"] == "companies"


def test_a_view_of_another_organization_is_not_found(
    api: Client, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_b):
        theirs = SavedView.objects.create(
            user_id=owner_b.pk, records="contacts", name="Theirs", is_shared=True
        )
    url = f"/api/v1/saved-views/{theirs.pk}/"
    assert api.get(url).status_code == 404
    assert api.patch(url, {"name": "x"}, content_type="application/json").status_code == 404
    assert api.delete(url).status_code == 404
    assert api.get("/api/v1/saved-views/").json() == []


def test_the_list_of_views_reads_in_a_fixed_number_of_statements(
    api: Client, tenant_a: Tenant, member_a: User, django_assert_max_num_queries: Any
) -> None:
    with tenant_context(tenant_a):
        for i in range(20):
            SavedView.objects.create(user_id=member_a.pk, records="contacts", name=f"V{i}")
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/saved-views/").json()) == 20


def test_sharing_takes_only_true_or_false(api: Client) -> None:
    response = _post(api, {"list": "contacts", "name": "x", "is_shared": 0})
    assert response.status_code == 400
    assert "is_shared" in response.json()["errors"]
