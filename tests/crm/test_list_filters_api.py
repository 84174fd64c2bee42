"""The contact and company lists of the API filter by company, creation days and custom
field values, and sort as asked; bad values are field errors, never a 500."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Contact, CustomField
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import CompanyFactory, ContactFactory, CustomFieldFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


def _names(response: object) -> list[str]:
    assert response.status_code == 200, response.json()  # type: ignore[attr-defined]
    return [
        r.get("last_name") or r.get("name")
        for r in response.json()["results"]  # type: ignore[attr-defined]
    ]


def test_contacts_filter_by_company_and_creation_day(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        hooli = CompanyFactory(name="Hooli")
        ContactFactory(last_name="Belson", company=hooli)
        old = ContactFactory(last_name="Old", company=hooli)
        ContactFactory(last_name="Bachman")
        Contact.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    assert _names(api.get(f"/api/v1/contacts/?company={hooli.pk}")) == ["Belson", "Old"]
    since = (timezone.localdate() - dt.timedelta(days=7)).isoformat()
    assert sorted(_names(api.get(f"/api/v1/contacts/?created_after={since}"))) == [
        "Bachman",
        "Belson",
    ]
    assert _names(api.get(f"/api/v1/contacts/?created_before={since}")) == ["Old"]


def test_contacts_and_companies_sort_as_asked_page_after_page(
    api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        for name in ("Cole", "Abbott", "Baker"):
            ContactFactory(last_name=name)
            CompanyFactory(name=f"{name} Ltd")
    first = api.get("/api/v1/contacts/?ordering=last_name&page_size=2")
    assert _names(first) == ["Abbott", "Baker"]
    assert _names(api.get(first.json()["next"])) == ["Cole"]
    assert _names(api.get("/api/v1/contacts/?ordering=-last_name")) == ["Cole", "Baker", "Abbott"]
    assert _names(api.get("/api/v1/companies/?ordering=name")) == [
        "Abbott Ltd",
        "Baker Ltd",
        "Cole Ltd",
    ]


def test_custom_field_values_filter_the_lists(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        CustomFieldFactory(key="tier", type=CustomField.Type.CHOICE, options=["Gold", "Silver"])
        CustomFieldFactory(key="seats", type=CustomField.Type.NUMBER)
        CustomFieldFactory(key="vip", type=CustomField.Type.BOOLEAN)
        CustomFieldFactory(
            key="industry", entity=CustomField.Entity.COMPANY, type=CustomField.Type.TEXT
        )
        ContactFactory(last_name="Gold", custom={"tier": "Gold", "seats": 10, "vip": True})
        ContactFactory(last_name="Silver", custom={"tier": "Silver", "seats": 2.5})
        ContactFactory(last_name="None", custom={})
        CompanyFactory(name="Bank", custom={"industry": "Banking"})
        CompanyFactory(name="Farm", custom={"industry": "Farming"})
    assert _names(api.get("/api/v1/contacts/?custom.tier=gold")) == ["Gold"]
    assert _names(api.get("/api/v1/contacts/?custom.seats=2.5")) == ["Silver"]
    assert _names(api.get("/api/v1/contacts/?custom.seats=10&custom.vip=true")) == ["Gold"]
    assert sorted(_names(api.get("/api/v1/contacts/?custom.vip="))) == ["None", "Silver"]
    assert _names(api.get("/api/v1/companies/?custom.industry=FARMING")) == ["Farm"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("custom.nope=1", "custom.nope"),
        ("custom.seats=many", "custom.seats"),
        ("custom.vip=maybe", "custom.vip"),
        ("custom.passport=X1", "custom.passport"),
        ("ordering=shoe_size", "ordering"),
        ("created_after=yesterday", "created_after"),
        ("company=0", "company"),
    ],
)
def test_bad_list_filters_are_field_errors(
    api: Client, tenant_a: Tenant, query: str, field: str
) -> None:
    with tenant_context(tenant_a):
        CustomFieldFactory(key="seats", type=CustomField.Type.NUMBER)
        CustomFieldFactory(key="vip", type=CustomField.Type.BOOLEAN)
        CustomFieldFactory(key="passport", type=CustomField.Type.TEXT, sensitive=True)
    response = api.get(f"/api/v1/contacts/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in response.json()["errors"]


def test_a_company_of_another_organization_filters_to_nothing(
    api: Client, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        theirs = CompanyFactory(name="Theirs")
        ContactFactory(last_name="Elsewhere", company=theirs)
    assert _names(api.get(f"/api/v1/contacts/?company={theirs.pk}")) == []


def test_a_filtered_and_sorted_list_reads_a_fixed_number_of_statements(
    api: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        CustomFieldFactory(key="tier", type=CustomField.Type.TEXT)
        for n in range(30):
            ContactFactory(last_name=f"N{n:02d}", custom={"tier": "a"})
    api.get("/api/v1/contacts/")  # warm the token's bookkeeping
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        assert len(_names(api.get("/api/v1/contacts/?custom.tier=a&ordering=last_name"))) == 25
