"""The organization admin shows leads, deals, activities, products and tags to owners and
admins; their changes follow the product's rules, so here they are read and deleted, and a
deletion moves contacts, companies, leads and deals to the trash as everywhere else."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Activity, Deal, LineItem, Product, Tag
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db

LISTS = ["lead", "deal", "activity", "product", "tag"]


@pytest.fixture
def admin_web(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


@pytest.mark.parametrize("model", LISTS)
def test_an_owner_browses_the_sales_records_in_the_admin(
    admin_web: Client, tenant_a: Tenant, model: str
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(name="Rollout for Admin")
        LeadFactory(first_name="Adminia", last_name="Lead")
        Activity.objects.create(kind=Activity.Kind.NOTE, subject="Admin note", deal=deal)
        Product.objects.create(name="Admin seat", price=10, currency="EUR")
        Tag.objects.create(name="admin-visible")
    page = admin_web.get(f"/admin/crm/{model}/")
    assert page.status_code == 200
    expected = {
        "lead": "Adminia",
        "deal": "Rollout for Admin",
        "activity": "Admin note",
        "product": "Admin seat",
        "tag": "admin-visible",
    }[model]
    assert expected in page.content.decode()
    assert admin_web.get(f"/admin/crm/{model}/add/").status_code == 403


def test_a_deal_is_read_not_changed_in_the_admin(admin_web: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(name="Unchanged")
    view = admin_web.get(f"/admin/crm/deal/{deal.pk}/change/")
    assert view.status_code == 200 and "Unchanged" in view.content.decode()
    sent = admin_web.post(f"/admin/crm/deal/{deal.pk}/change/", {"name": "Changed"})
    assert sent.status_code == 403
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=deal.pk).name == "Unchanged"


@pytest.mark.parametrize("model", ["contact", "company", "lead", "deal"])
def test_deleting_in_the_admin_moves_the_record_to_the_trash(
    admin_web: Client, tenant_a: Tenant, model: str
) -> None:
    factories = {
        "contact": ContactFactory,
        "company": CompanyFactory,
        "lead": LeadFactory,
        "deal": DealFactory,
    }
    with tenant_context(tenant_a):
        record = factories[model]()
    deleted = admin_web.post(f"/admin/crm/{model}/{record.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    with tenant_context(tenant_a):
        kept = type(record).with_trashed.get(pk=record.pk)  # type: ignore[attr-defined]
        assert kept.deleted_at is not None
        assert not type(record).objects.filter(pk=record.pk).exists()


def test_a_product_on_deals_cant_be_deleted_in_the_admin(
    admin_web: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        sold = Product.objects.create(name="Sold seat", price=10, currency="EUR")
        spare = Product.objects.create(name="Spare seat", price=10, currency="EUR")
        deal = DealFactory(currency="EUR")
        LineItem.objects.create(deal=deal, product=sold, name="Sold seat", unit_price=10)
    assert admin_web.get(f"/admin/crm/product/{sold.pk}/delete/").status_code == 403
    both = {"action": "delete_selected", "_selected_action": [sold.pk, spare.pk], "post": "yes"}
    refused = admin_web.post("/admin/crm/product/", both)
    assert "Cannot delete" in refused.content.decode()
    with tenant_context(tenant_a):
        assert Product.objects.count() == 2
    spare_only = {**both, "_selected_action": [spare.pk]}
    assert admin_web.post("/admin/crm/product/", spare_only).status_code == 302
    with tenant_context(tenant_a):
        assert list(Product.objects.values_list("name", flat=True)) == ["Sold seat"]


def test_a_member_cant_open_the_sales_records_in_the_admin(client_a: Client) -> None:
    for model in LISTS:
        assert client_a.get(f"/admin/crm/{model}/").status_code == 403


def test_another_organizations_admin_sees_none_of_them(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(name="Alpha only")
    other = Client(HTTP_HOST=host_of(tenant_b))
    other.force_login(owner_b)
    assert "Alpha only" not in other.get("/admin/crm/deal/").content.decode()
    missing = other.get(f"/admin/crm/deal/{deal.pk}/change/", follow=True)
    assert "doesn’t exist" in missing.content.decode()
