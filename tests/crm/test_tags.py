"""Tags: names trimmed and matched whatever their case, the `tags` field and `?tag=` filter
of contacts and companies, /api/v1/tags/ with counts, rename and delete, isolation."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Company, Contact, Tag
from crm.services.tags import tag_delete, tag_rename, tags_set
from iam.models import User
from problems.exceptions import DomainError, InvalidFields
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import CompanyFactory, ContactFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


def test_tags_are_trimmed_matched_whatever_their_case_and_made_on_first_use(
    tenant_a: Tenant,
) -> None:
    with tenant_context(tenant_a):
        existing = TagFactory(name="VIP")
        contact = ContactFactory()
        tags = tags_set(record=contact, names=["  vip ", "2024", "Vip"], by=None)
        assert [t.name for t in tags] == ["VIP", "2024"]
        assert tags[0].pk == existing.pk
        assert Tag.objects.count() == 2
        assert set(contact.tags.values_list("name", flat=True)) == {"VIP", "2024"}


@pytest.mark.parametrize("name", ["", "   ", "x" * 51, "x" * 200, 7, None, "a\x00b"])
def test_a_bad_tag_name_is_a_field_error_and_changes_nothing(
    tenant_a: Tenant, name: object
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
        tags_set(record=contact, names=["kept"], by=None)
        with pytest.raises(InvalidFields) as raised:
            tags_set(record=contact, names=["fine", name], by=None)
        assert list(raised.value.errors) == ["tags.1"]
        assert list(contact.tags.values_list("name", flat=True)) == ["kept"]
        assert not Tag.objects.filter(name="fine").exists()


def test_renaming_a_tag_to_another_tags_name_is_a_conflict(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        TagFactory(name="vip")
        other = TagFactory(name="gold")
        with pytest.raises(DomainError) as raised:
            tag_rename(tag=other, name=" VIP ", by=None)
        assert raised.value.status == 409
        assert tag_rename(tag=other, name=" Gold ", by=None).name == "Gold"


def test_deleting_a_tag_keeps_the_records(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
        (tag,) = tags_set(record=contact, names=["gone"], by=None)
        tag_delete(tag=tag, by=None)
        assert Contact.objects.filter(pk=contact.pk).exists()
        assert not contact.tags.exists()


# The `tags` field and the `?tag=` filter


def test_a_contact_is_created_and_updated_with_tags_through_the_api(api: Client) -> None:
    created = api.post(
        "/api/v1/contacts/",
        {"first_name": "Ada", "tags": ["vip", " 2024 "]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["tags"] == ["2024", "vip"]
    pk = created.json()["id"]
    patched = api.patch(
        f"/api/v1/contacts/{pk}/", {"tags": ["VIP"]}, content_type="application/json"
    )
    assert patched.json()["tags"] == ["vip"]
    untouched = api.patch(
        f"/api/v1/contacts/{pk}/", {"title": "CTO"}, content_type="application/json"
    )
    assert untouched.json()["tags"] == ["vip"]


def test_a_200_character_tag_is_a_field_error_and_nothing_is_created(
    api: Client, tenant_a: Tenant
) -> None:
    response = api.post(
        "/api/v1/contacts/",
        {"first_name": "Ada", "tags": ["ok", "x" * 200]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == ["tags.1"]
    with tenant_context(tenant_a):
        assert not Contact.objects.exists()
        assert not Tag.objects.exists()


def test_tags_that_arent_a_list_of_text_are_a_field_error(api: Client) -> None:
    for tags in ("vip", [1], [["vip"]], {"a": "b"}):
        response = api.post(
            "/api/v1/companies/",
            {"name": "Initech", "tags": tags},
            content_type="application/json",
        )
        assert response.status_code == 400, tags
        assert any(key.startswith("tags") for key in response.json()["errors"])


def test_contacts_and_companies_are_filtered_by_tag_case_aside(
    api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        tagged, plain = ContactFactory(first_name="Tagged"), ContactFactory(first_name="Plain")
        tags_set(record=tagged, names=["VIP"], by=None)
        tags_set(record=plain, names=["other"], by=None)
        company = CompanyFactory(name="Initech")
        CompanyFactory(name="Hooli")
        tags_set(record=company, names=["vip"], by=None)
    contacts = api.get("/api/v1/contacts/?tag=vip").json()["results"]
    assert [c["first_name"] for c in contacts] == ["Tagged"]
    assert contacts[0]["tags"] == ["VIP"]
    companies = api.get("/api/v1/companies/?tag=%20Vip%20").json()["results"]
    assert [c["name"] for c in companies] == ["Initech"]
    assert api.get("/api/v1/contacts/?tag=nobody").json()["results"] == []


def test_the_contact_list_with_tags_takes_a_fixed_number_of_statements(
    api: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        for i in range(20):
            tags_set(record=ContactFactory(), names=["vip", f"t{i}"], by=None)
    api.get("/api/v1/contacts/?tag=vip")  # warm: the host cache, the token's last-used stamp
    with django_assert_max_num_queries(7) as captured:  # type: ignore[operator]
        assert len(api.get("/api/v1/contacts/?tag=vip").json()["results"]) == 20
    few = len(captured.captured_queries)
    with tenant_context(tenant_a):
        for i in range(20):
            tags_set(record=ContactFactory(), names=["vip", f"u{i}"], by=None)
    with django_assert_max_num_queries(few):  # type: ignore[operator]
        api.get("/api/v1/contacts/?tag=vip&page_size=40")


def test_the_company_list_with_tags_takes_a_fixed_number_of_statements(
    api: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        for i in range(20):
            tags_set(record=CompanyFactory(), names=["vip", f"t{i}"], by=None)
    api.get("/api/v1/companies/")  # warm: the host cache, the token's last-used stamp
    with django_assert_max_num_queries(7):  # type: ignore[operator]
        assert len(api.get("/api/v1/companies/").json()["results"]) == 20


# /api/v1/tags/


def test_the_tag_list_counts_the_records_of_each_kind(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        for contact in ContactFactory.create_batch(3):
            tags_set(record=contact, names=["vip"], by=None)
        tags_set(record=CompanyFactory(), names=["vip", "partner"], by=None)
    body = api.get("/api/v1/tags/").json()["results"]
    counts = {
        t["name"]: (t["contacts_count"], t["companies_count"], t["deals_count"]) for t in body
    }
    assert counts == {"partner": (0, 1, 0), "vip": (3, 1, 0)}


def test_the_tag_list_takes_a_fixed_number_of_statements(
    api: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        for i in range(30):
            tags_set(record=ContactFactory(), names=[f"t{i:02d}"], by=None)
    api.get("/api/v1/tags/?page_size=30")  # warm: the host cache, the token's last-used stamp
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        assert len(api.get("/api/v1/tags/?page_size=30").json()["results"]) == 30


def test_an_owner_renames_and_deletes_a_tag_and_a_member_cant(
    api: Client, owner_api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
        (tag,) = tags_set(record=contact, names=["vip"], by=None)
        TagFactory(name="gold")
    url = f"/api/v1/tags/{tag.pk}/"
    assert api.patch(url, {"name": "VIP"}, content_type="application/json").status_code == 403
    assert api.delete(url).status_code == 403
    taken = owner_api.patch(url, {"name": "GOLD"}, content_type="application/json")
    assert taken.status_code == 409
    renamed = owner_api.patch(url, {"name": "Key account"}, content_type="application/json")
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["contacts_count"] == 1
    assert api.get(f"/api/v1/contacts/{contact.pk}/").json()["tags"] == ["Key account"]
    too_long = owner_api.patch(url, {"name": "x" * 200}, content_type="application/json")
    assert too_long.status_code == 400
    assert owner_api.delete(url).status_code == 204
    assert api.get(f"/api/v1/contacts/{contact.pk}/").json()["tags"] == []
    assert owner_api.post("/api/v1/tags/", {"name": "new"}).status_code == 405


def test_another_organizations_tags_are_not_found(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    with tenant_context(tenant_b):
        company = CompanyFactory()
        (theirs,) = tags_set(record=company, names=["theirs"], by=None)
    api = token_client(owner_a, tenant_a)
    assert api.get(f"/api/v1/tags/{theirs.pk}/").status_code == 404
    patched = api.patch(
        f"/api/v1/tags/{theirs.pk}/", {"name": "mine"}, content_type="application/json"
    )
    assert patched.status_code == 404
    assert api.delete(f"/api/v1/tags/{theirs.pk}/").status_code == 404
    assert api.get("/api/v1/tags/").json()["results"] == []
    assert api.get("/api/v1/companies/?tag=theirs").json()["results"] == []
    with tenant_context(tenant_b):
        assert Tag.objects.get(pk=theirs.pk).name == "theirs"
        assert Company.objects.get(pk=company.pk).tags.count() == 1


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/leads/", {"first_name": "Lee", "last_name": "Moss"}),
        ("/api/v1/deals/", {"name": "Rollout"}),
    ],
)
def test_leads_and_deals_take_tags_and_filter_by_them(
    api: Client, url: str, body: dict[str, str]
) -> None:
    created = api.post(url, {**body, "tags": ["Hot", " 2024"]}, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["tags"] == ["2024", "Hot"]
    pk = created.json()["id"]
    assert api.post(url, body, content_type="application/json").status_code == 201
    assert [r["id"] for r in api.get(f"{url}?tag=hot").json()["results"]] == [pk]
    patched = api.patch(f"{url}{pk}/", {"tags": []}, content_type="application/json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["tags"] == []
    too_long = api.patch(f"{url}{pk}/", {"tags": ["x" * 200]}, content_type="application/json")
    assert too_long.status_code == 400
    assert list(too_long.json()["errors"]) == ["tags.0"]
