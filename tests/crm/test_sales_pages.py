"""Pages of products, a deal's line items, and tags on contact and company pages and lists."""

from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Contact, Deal, Lead, LineItem, Pipeline, Product, Tag
from crm.services.line_items import line_item_add
from crm.services.tags import tags_set
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory, ProductFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def owner_client(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


# Products


def test_an_owner_adds_a_product_and_members_see_it(
    owner_client: Client, client_a: Client, tenant_a: Tenant
) -> None:
    response = owner_client.post(
        "/products/new/",
        {"name": "Onboarding", "sku": "ONB", "price": "990", "currency": "eur", "is_active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    with tenant_context(tenant_a):
        product = Product.objects.get(sku="ONB")
        assert (product.currency, product.price) == ("EUR", Decimal("990.00"))
    page = client_a.get("/products/").content.decode()
    assert "Onboarding" in page and "990.00 EUR" in page
    assert "New product" not in page


def test_a_member_cant_add_edit_or_withdraw_products(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        product = ProductFactory()
    assert client_a.get("/products/new/").status_code == 403
    assert client_a.post(f"/products/{product.pk}/deactivate/").status_code == 403
    with tenant_context(tenant_a):
        product.refresh_from_db()
        assert product.is_active


def test_a_bad_currency_or_taken_sku_is_shown_next_to_its_field(
    owner_client: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        ProductFactory(sku="TAKEN")
    response = owner_client.post(
        "/products/new/", {"name": "Seat", "sku": "TAKEN", "price": "1", "currency": "ABC"}
    )
    assert response.status_code == 400
    assert "three-letter ISO 4217 code" in response.content.decode()
    response = owner_client.post(
        "/products/new/", {"name": "Seat", "sku": "TAKEN", "price": "1", "currency": "USD"}
    )
    assert response.status_code == 400
    assert "Another product has the SKU TAKEN." in response.content.decode()
    with tenant_context(tenant_a):
        assert Product.objects.count() == 1


def test_an_owner_withdraws_a_product_and_it_leaves_the_list_on_sale(
    owner_client: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        product = ProductFactory(name="Legacy plan")
    assert owner_client.post(f"/products/{product.pk}/deactivate/").status_code == 302
    notice = owner_client.get("/products/").content.decode()
    assert "Legacy plan is no longer on sale." in notice
    assert "Legacy plan" not in owner_client.get("/products/").content.decode()
    assert "Legacy plan" in owner_client.get("/products/?active=no").content.decode()


# Line items on a deal


def test_adding_a_product_line_updates_the_deals_amount(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(currency="USD", amount=Decimal("1"))
        seat = ProductFactory(name="Seat", price=Decimal("30.00"))
    response = client_a.post(
        f"/deals/{deal.pk}/line-items/add/",
        {
            f"line-{deal.pk}-product": seat.pk,
            f"line-{deal.pk}-quantity": "3",
            f"line-{deal.pk}-discount_percent": "0",
        },
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Seat" in html and "90.00 USD" in html
    assert f'hx-swap-oob="innerHTML:#deal-amount-{deal.pk}">90.00 USD<' in html
    with tenant_context(tenant_a):
        deal.refresh_from_db()
        assert deal.amount == Decimal("90.00")


def test_a_line_without_product_or_name_gets_a_field_error(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory()
    response = client_a.post(
        f"/deals/{deal.pk}/line-items/add/",
        {f"line-{deal.pk}-quantity": "1", f"line-{deal.pk}-discount_percent": "0"},
        **HTMX,
    )
    assert "Give the line a name, or choose a product." in response.content.decode()
    with tenant_context(tenant_a):
        assert not LineItem.objects.exists()


def test_products_in_another_currency_are_neither_offered_nor_accepted(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(currency="EUR")
        dollars = ProductFactory(name="Dollar seat", currency="USD")
        ProductFactory(name="Euro seat", currency="EUR")
    section = client_a.get(f"/deals/{deal.pk}/line-items/", **HTMX).content.decode()
    assert "Euro seat" in section and "Dollar seat" not in section
    response = client_a.post(
        f"/deals/{deal.pk}/line-items/add/",
        {
            f"line-{deal.pk}-product": dollars.pk,
            f"line-{deal.pk}-quantity": "1",
            f"line-{deal.pk}-discount_percent": "0",
        },
        **HTMX,
    )
    assert "Select a valid choice" in response.content.decode()
    with tenant_context(tenant_a):
        assert not LineItem.objects.exists()


def test_removing_a_line_recomputes_the_amount(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory()
        item = line_item_add(deal=deal, by=None, name="Set-up", unit_price="100")
        line_item_add(deal=deal, by=None, name="Training", unit_price="50")
    response = client_a.post(f"/deals/{deal.pk}/line-items/{item.pk}/remove/", **HTMX)
    assert response.status_code == 200
    with tenant_context(tenant_a):
        deal.refresh_from_db()
        assert deal.amount == Decimal("50.00")


def test_another_organizations_deal_has_no_line_items_page(
    client_a: Client, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        deal = DealFactory()
        item = line_item_add(deal=deal, by=None, name="Theirs", unit_price="1")
    assert client_a.get(f"/deals/{deal.pk}/line-items/").status_code == 404
    added = client_a.post(
        f"/deals/{deal.pk}/line-items/add/", {f"line-{deal.pk}-name": "x"}, **HTMX
    )
    assert added.status_code == 404
    assert client_a.post(f"/deals/{deal.pk}/line-items/{item.pk}/remove/").status_code == 404
    with tenant_context(tenant_b):
        assert LineItem.objects.filter(pk=item.pk).exists()
        assert Deal.objects.get(pk=deal.pk).line_items.count() == 1


# Tags on pages


def test_a_contact_is_tagged_from_its_form_and_shows_its_chips(
    client_a: Client, tenant_a: Tenant
) -> None:
    response = client_a.post(
        "/contacts/new/", {"first_name": "Ada", "last_name": "Lovelace", "tags": "vip, 2024 ,"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(tenant_a):
        contact = Contact.objects.get(first_name="Ada")
        assert sorted(contact.tags.values_list("name", flat=True)) == ["2024", "vip"]
    page = client_a.get(f"/contacts/{contact.pk}/").content.decode()
    assert 'href="/contacts/?tag=vip"' in page
    form = client_a.get(f"/contacts/{contact.pk}/edit/").content.decode()
    assert 'value="2024, vip"' in form


def test_a_200_character_tag_is_a_field_error_on_the_form(
    client_a: Client, tenant_a: Tenant
) -> None:
    response = client_a.post("/companies/new/", {"name": "Initech", "tags": "ok, " + "x" * 200})
    assert response.status_code == 400
    assert "Give a tag of 1 to 50 characters." in response.content.decode()
    with tenant_context(tenant_a):
        assert not Tag.objects.exists()


def test_the_contact_and_company_lists_filter_by_tag(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        tags_set(record=ContactFactory(first_name="Tagged"), names=["VIP"], by=None)
        ContactFactory(first_name="Untagged")
        tags_set(record=CompanyFactory(name="Initech"), names=["vip"], by=None)
        CompanyFactory(name="Hooli")
    contacts = client_a.get("/contacts/?tag=vip").content.decode()
    assert "Tagged" in contacts and "Untagged" not in contacts
    rows = client_a.get("/contacts/?tag=vip", **HTMX).content.decode()
    assert "Tagged" in rows and "Untagged" not in rows
    companies = client_a.get("/companies/?tag=VIP").content.decode()
    assert "Initech" in companies and "Hooli" not in companies


def test_the_contact_list_with_tags_takes_a_fixed_number_of_statements(
    client_a: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        for i in range(5):
            tags_set(record=ContactFactory(), names=["vip", f"a{i}"], by=None)
    client_a.get("/contacts/")  # warm the host and session caches
    with django_assert_max_num_queries(20) as few:  # type: ignore[operator]
        client_a.get("/contacts/")
    with tenant_context(tenant_a):
        for i in range(20):
            tags_set(record=ContactFactory(), names=["vip", f"b{i}"], by=None)
    # A little room for the session's and the host cache's occasional upkeep; a statement
    # per row would add 15 or more.
    with django_assert_max_num_queries(len(few.captured_queries) + 3):  # type: ignore[operator]
        assert client_a.get("/contacts/").status_code == 200


def test_the_deal_page_shows_its_line_items_and_a_form_to_add_one(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(currency="EUR")
        line_item_add(deal=deal, by=None, name="Workshop", unit_price="700", quantity="2")
    page = client_a.get(f"/deals/{deal.pk}/").content.decode()
    assert 'data-testid="line-items"' in page
    assert "Workshop" in page and "1400.00 EUR" in page
    assert f'hx-post="/deals/{deal.pk}/line-items/add/"' in page


def test_a_lead_is_tagged_from_its_form_and_the_lead_list_filters_by_tag(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    fields = {"last_name": "Lovelace", "source": "event", "status": "new"}
    for first_name, tags in (("Ada", "Hot, 2024"), ("Bea", "")):
        response = client_a.post(
            "/leads/new/",
            {**fields, "first_name": first_name, "tags": tags, "owner_id": str(member_a.pk)},
        )
        assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(tenant_a):
        lead = Lead.objects.get(first_name="Ada")
        assert sorted(lead.tags.values_list("name", flat=True)) == ["2024", "Hot"]
    assert 'href="/leads/?tag=Hot"' in client_a.get(f"/leads/{lead.pk}/").content.decode()
    listed = client_a.get("/leads/?tag=hot").content.decode()
    assert "Ada" in listed and "Bea" not in listed


def test_a_deal_is_tagged_from_its_form_and_shows_its_chips(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        pipeline = Pipeline.objects.get(is_default=True)
    created = client_a.post(
        "/deals/new/",
        {
            "name": "Rollout",
            "pipeline": pipeline.pk,
            "amount": "10",
            "currency": "EUR",
            "owner_id": member_a.pk,
            "tags": "renewal",
        },
    )
    assert created.status_code == 302, created.context and created.context["form"].errors
    page = client_a.get(created["Location"]).content.decode()
    assert "renewal" in page
    edit = client_a.get(created["Location"] + "edit/").content.decode()
    assert 'value="renewal"' in edit


@pytest.mark.parametrize("kind", ["leads", "deals"])
def test_the_lead_and_deal_lists_show_tag_chips_in_a_fixed_number_of_statements(
    client_a: Client, tenant_a: Tenant, django_assert_max_num_queries: object, kind: str
) -> None:
    factory = LeadFactory if kind == "leads" else DealFactory

    def make(count: int, prefix: str) -> None:
        with tenant_context(tenant_a):
            for i in range(count):
                tags_set(record=factory(), names=["vip", f"{prefix}{i}"], by=None)

    make(3, "a")
    client_a.get(f"/{kind}/")  # warm the host and session caches
    with django_assert_max_num_queries(40) as few:  # type: ignore[operator]
        page = client_a.get(f"/{kind}/").content.decode()
    assert f'href="/{kind}/?tag=a0"' in page
    make(15, "b")
    # A little room for the session's and the host cache's occasional upkeep; a statement
    # per row would add 15 or more.
    with django_assert_max_num_queries(len(few.captured_queries) + 3):  # type: ignore[operator]
        assert 'href="/' + kind + '/?tag=b14"' in client_a.get(f"/{kind}/").content.decode()


def test_without_javascript_adding_a_line_returns_to_the_deals_page(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory()
    response = client_a.post(
        f"/deals/{deal.pk}/line-items/add/",
        {
            f"line-{deal.pk}-name": "Workshop",
            f"line-{deal.pk}-unit_price": "500",
            f"line-{deal.pk}-quantity": "1",
            f"line-{deal.pk}-discount_percent": "0",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/deals/{deal.pk}/"


# Tags settings


def test_an_owner_renames_and_deletes_tags_on_the_tags_page(
    owner_client: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
        vip, old = tags_set(record=contact, names=["vip", "old"], by=None)
    page = owner_client.get("/settings/tags/").content.decode()
    assert "1 contact · 0 companies · 0 leads · 0 deals" in page
    renamed = owner_client.post(f"/settings/tags/{vip.pk}/rename/", {"name": " Key account "})
    assert renamed.status_code == 302
    taken = owner_client.post(f"/settings/tags/{vip.pk}/rename/", {"name": "OLD"})
    assert taken.status_code == 409
    assert "There is already a tag named OLD." in taken.content.decode()
    too_long = owner_client.post(f"/settings/tags/{vip.pk}/rename/", {"name": "x" * 200})
    assert too_long.status_code == 400
    assert "Give a tag of 1 to 50 characters." in too_long.content.decode()
    assert owner_client.post(f"/settings/tags/{old.pk}/delete/").status_code == 302
    with tenant_context(tenant_a):
        assert list(contact.tags.values_list("name", flat=True)) == ["Key account"]


def test_members_cant_open_or_use_the_tags_page(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        (tag,) = tags_set(record=ContactFactory(), names=["vip"], by=None)
    assert client_a.get("/settings/tags/").status_code == 403
    assert client_a.post(f"/settings/tags/{tag.pk}/rename/", {"name": "x"}).status_code == 403
    assert client_a.post(f"/settings/tags/{tag.pk}/delete/").status_code == 403
    with tenant_context(tenant_a):
        assert Tag.objects.get(pk=tag.pk).name == "vip"


def test_another_organizations_tag_cant_be_renamed_or_deleted(
    owner_client: Client, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        (tag,) = tags_set(record=ContactFactory(), names=["theirs"], by=None)
    assert owner_client.post(f"/settings/tags/{tag.pk}/rename/", {"name": "x"}).status_code == 404
    assert owner_client.post(f"/settings/tags/{tag.pk}/delete/").status_code == 404
    with tenant_context(tenant_b):
        assert Tag.objects.get(pk=tag.pk).name == "theirs"


def test_changing_a_lines_quantity_and_discount_recomputes_the_amount(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory()
        item = line_item_add(deal=deal, by=None, name="Set-up", unit_price="100")
    url = f"/deals/{deal.pk}/line-items/{item.pk}/change/"
    changed = client_a.post(
        url, {"quantity": "3", "unit_price": "100", "discount_percent": "50"}, **HTMX
    )
    assert changed.status_code == 200
    assert f'hx-swap-oob="innerHTML:#deal-amount-{deal.pk}">150.00 EUR<' in changed.content.decode()
    refused = client_a.post(
        url, {"quantity": "0", "unit_price": "100", "discount_percent": "0"}, **HTMX
    )
    assert "Give a quantity greater than 0." in refused.content.decode()
    with tenant_context(tenant_a):
        deal.refresh_from_db()
        item.refresh_from_db()
        assert (deal.amount, item.quantity) == (Decimal("150.00"), Decimal("3.00"))


def test_a_line_of_another_deal_or_organization_cant_be_changed(
    client_a: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        mine, other = DealFactory(), DealFactory()
        item = line_item_add(deal=mine, by=None, name="Set-up", unit_price="100")
    with tenant_context(tenant_b):
        theirs = DealFactory()
        their_item = line_item_add(deal=theirs, by=None, name="Theirs", unit_price="1")
    body = {"quantity": "9", "unit_price": "1", "discount_percent": "0"}
    assert client_a.post(f"/deals/{other.pk}/line-items/{item.pk}/change/", body).status_code == 404
    url = f"/deals/{theirs.pk}/line-items/{their_item.pk}/change/"
    assert client_a.post(url, body).status_code == 404
    with tenant_context(tenant_b):
        their_item.refresh_from_db()
        assert their_item.quantity == Decimal("1.00")
