"""Products and the line items of deals: services, API, field errors, isolation, statement
counts, and the deal's amount taken from its lines."""

from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Deal, LineItem, Pipeline, Product
from crm.services.line_items import line_item_add, line_item_remove, line_item_update
from crm.services.products import product_create, product_deactivate, product_update
from iam.models import User
from problems.exceptions import DomainError, InvalidFields
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import ProductFactory

pytestmark = pytest.mark.django_db


def a_deal(*, name: str = "Rollout", currency: str = "USD", amount: str = "0") -> Deal:
    pipeline = Pipeline.objects.get(is_default=True)
    return Deal.objects.create(
        name=name,
        currency=currency,
        amount=Decimal(amount),
        pipeline=pipeline,
        stage=pipeline.stages.order_by("position").first(),
    )


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


@pytest.fixture
def member_api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


# Products: services


def test_a_product_is_created_with_its_currency_upper_cased(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        product = product_create(by=None, name=" Seat ", sku="S-1", price="49.5", currency="eur")
        assert (product.name, product.price, product.currency) == ("Seat", Decimal("49.50"), "EUR")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "EURO"),
        ("currency", "XXY"),
        ("price", "-1"),
        ("price", "1.005"),
        ("price", "ten"),
        ("name", ""),
        ("name", "x" * 201),
        ("sku", "s" * 65),
    ],
)
def test_a_bad_product_value_is_a_field_error_and_nothing_is_kept(
    tenant_a: Tenant, field: str, value: str
) -> None:
    data = {"name": "Seat", "price": "10", "currency": "USD", field: value}
    with tenant_context(tenant_a):
        with pytest.raises(InvalidFields) as raised:
            product_create(by=None, **data)
        assert field in raised.value.errors
        assert not Product.objects.exists()


def test_a_sku_is_unique_when_given_but_many_products_have_none(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        product_create(by=None, name="A", sku="")
        product_create(by=None, name="B", sku="")
        product_create(by=None, name="C", sku="C-1")
        with pytest.raises(DomainError) as raised:
            product_create(by=None, name="D", sku="C-1")
        assert raised.value.status == 409
        assert raised.value.field_errors() == {"sku": ["Another product has the SKU C-1."]}
        other = product_create(by=None, name="E")
        with pytest.raises(DomainError):
            product_update(product=other, by=None, sku="C-1")


def test_a_deactivated_product_is_kept_but_not_on_sale(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        product = ProductFactory()
        product_deactivate(product=product, by=None)
        product.refresh_from_db()
        assert product.is_active is False


# Products: API


def test_owner_creates_edits_and_deactivates_a_product_through_the_api(owner_api: Client) -> None:
    created = owner_api.post(
        "/api/v1/products/",
        {"name": "Onboarding", "sku": "ONB", "price": "1200.00", "currency": "EUR"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    patched = owner_api.patch(
        f"/api/v1/products/{pk}/", {"price": "1500"}, content_type="application/json"
    )
    assert patched.json()["price"] == "1500.00"
    withdrawn = owner_api.patch(
        f"/api/v1/products/{pk}/", {"is_active": False}, content_type="application/json"
    )
    assert withdrawn.json()["is_active"] is False
    assert owner_api.delete(f"/api/v1/products/{pk}/").status_code == 204
    assert owner_api.get(f"/api/v1/products/{pk}/").status_code == 404


def test_a_product_on_a_deal_cant_be_deleted_but_can_be_withdrawn(
    owner_api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        seat = ProductFactory(currency="USD")
        line_item_add(deal=a_deal(currency="USD"), by=None, product=seat)
    refused = owner_api.delete(f"/api/v1/products/{seat.pk}/")
    assert refused.status_code == 409
    assert refused.json()["code"] == "product-in-use"
    with tenant_context(tenant_a):
        assert Product.objects.filter(pk=seat.pk, is_active=True).exists()


def test_a_member_reads_products_but_cant_change_them(member_api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        product = ProductFactory()
    assert member_api.get(f"/api/v1/products/{product.pk}/").status_code == 200
    refused = member_api.post(
        "/api/v1/products/", {"name": "Seat"}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert member_api.delete(f"/api/v1/products/{product.pk}/").status_code == 403


def test_a_currency_that_isnt_iso_4217_is_a_field_error_on_the_api(owner_api: Client) -> None:
    response = owner_api.post(
        "/api/v1/products/",
        {"name": "Seat", "currency": "ABC"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "currency" in response.json()["errors"]


def test_a_taken_sku_is_a_conflict_on_the_api(owner_api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        ProductFactory(sku="DUP")
    response = owner_api.post(
        "/api/v1/products/", {"name": "Seat", "sku": "DUP"}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "product-sku-taken"


def test_products_are_filtered_by_active_and_q(member_api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        ProductFactory(name="Gold support", sku="GS")
        ProductFactory(name="Silver support", sku="SS", is_active=False)
        ProductFactory(name="Seat", sku="SEAT")

    def names(query: str) -> set[str]:
        response = member_api.get(f"/api/v1/products/?{query}")
        assert response.status_code == 200, response.content
        return {p["name"] for p in response.json()["results"]}

    assert names("q=support") == {"Gold support", "Silver support"}
    assert names("q=support&active=true") == {"Gold support"}
    assert names("active=false") == {"Silver support"}
    assert names("q=seat") == {"Seat"}
    assert member_api.get("/api/v1/products/?active=maybe").status_code == 400


def test_the_product_list_takes_a_fixed_number_of_statements(
    member_api: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        ProductFactory.create_batch(20)
    member_api.get("/api/v1/products/")  # warm: the host cache, the token's last-used stamp
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        assert len(member_api.get("/api/v1/products/").json()["results"]) == 20


def test_another_organizations_product_is_not_found(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    with tenant_context(tenant_b):
        theirs = ProductFactory()
    api = token_client(owner_a, tenant_a)
    assert api.get(f"/api/v1/products/{theirs.pk}/").status_code == 404
    patched = api.patch(
        f"/api/v1/products/{theirs.pk}/", {"name": "Mine"}, content_type="application/json"
    )
    assert patched.status_code == 404
    assert api.delete(f"/api/v1/products/{theirs.pk}/").status_code == 404
    assert api.get("/api/v1/products/").json()["results"] == []
    with tenant_context(tenant_b):
        theirs.refresh_from_db()
        assert theirs.name != "Mine"
        assert theirs.is_active


# Line items: services


def test_a_deal_with_line_items_takes_its_amount_from_them(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        deal = a_deal(amount="5000")
        seat = ProductFactory(name="Seat", price=Decimal("40.00"))
        first = line_item_add(deal=deal, by=None, product=seat, quantity="10")
        assert (first.name, first.unit_price) == ("Seat", Decimal("40.00"))
        line_item_add(
            deal=deal,
            by=None,
            name="Set-up",
            unit_price="333.33",
            quantity="1",
            discount_percent="10",
        )
        deal.refresh_from_db()
        # 10 × 40 = 400, plus 333.33 × 0.9 = 300.00 (299.997, to the cent)
        assert deal.amount == Decimal("700.00")
        line_item_update(item=first, by=None, quantity="5")
        deal.refresh_from_db()
        assert deal.amount == Decimal("500.00")
        line_item_remove(item=first, by=None)
        deal.refresh_from_db()
        assert deal.amount == Decimal("300.00")


def test_a_product_in_another_currency_is_refused_with_a_field_error(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        deal = a_deal(currency="EUR", amount="10")
        with pytest.raises(InvalidFields) as raised:
            line_item_add(deal=deal, by=None, product=ProductFactory(currency="USD"))
        assert "product" in raised.value.errors
        assert not LineItem.objects.exists()
        deal.refresh_from_db()
        assert deal.amount == Decimal("10.00")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", "0"),
        ("quantity", "-2"),
        ("unit_price", "-0.01"),
        ("discount_percent", "100.5"),
        ("discount_percent", "-1"),
        ("name", ""),
    ],
)
def test_a_bad_line_value_is_a_field_error(tenant_a: Tenant, field: str, value: str) -> None:
    data = {"name": "Set-up", "unit_price": "10", "quantity": "1", field: value}
    with tenant_context(tenant_a):
        deal = a_deal()
        with pytest.raises(InvalidFields) as raised:
            line_item_add(deal=deal, by=None, **data)
        assert field in raised.value.errors
        assert not LineItem.objects.exists()


def test_a_withdrawn_product_cant_be_added_to_a_deal(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        deal = a_deal()
        with pytest.raises(InvalidFields) as raised:
            line_item_add(deal=deal, by=None, product=ProductFactory(is_active=False))
        assert "product" in raised.value.errors


# Line items: API


def test_line_items_round_trip_through_the_api(member_api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        deal = a_deal()
        seat = ProductFactory(price=Decimal("25.00"))
    url = f"/api/v1/deals/{deal.pk}/line-items/"
    created = member_api.post(
        url, {"product": seat.pk, "quantity": "4"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    line = created.json()
    assert (line["unit_price"], line["total"], line["deal"]) == ("25.00", "100.00", deal.pk)
    patched = member_api.patch(
        f"{url}{line['id']}/", {"discount_percent": "50"}, content_type="application/json"
    )
    assert patched.json()["total"] == "50.00"
    assert [item["id"] for item in member_api.get(url).json()] == [line["id"]]
    with tenant_context(tenant_a):
        deal.refresh_from_db()
        assert deal.amount == Decimal("50.00")
    assert member_api.delete(f"{url}{line['id']}/").status_code == 204
    with tenant_context(tenant_a):
        deal.refresh_from_db()
        assert deal.amount == Decimal("0.00")


def test_a_product_in_another_currency_is_a_field_error_on_the_api(
    member_api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = a_deal(currency="EUR")
        seat = ProductFactory(currency="USD")
    response = member_api.post(
        f"/api/v1/deals/{deal.pk}/line-items/",
        {"product": seat.pk},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["product"]


def test_a_discount_over_100_is_a_field_error_on_the_api(
    member_api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = a_deal()
    response = member_api.post(
        f"/api/v1/deals/{deal.pk}/line-items/",
        {"name": "Set-up", "unit_price": "10", "discount_percent": "150"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "discount_percent" in response.json()["errors"]


def test_line_items_of_another_organizations_deal_are_not_found(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_b):
        deal = a_deal()
        item = line_item_add(deal=deal, by=None, name="Theirs", unit_price="1")
    with tenant_context(tenant_a):
        assert not Deal.objects.filter(pk=deal.pk).exists()
    api = token_client(member_a, tenant_a)
    url = f"/api/v1/deals/{deal.pk}/line-items/"
    assert api.get(url).status_code == 404
    assert (
        api.post(url, {"name": "x", "unit_price": "1"}, content_type="application/json").status_code
        == 404
    )
    assert api.get(f"{url}{item.pk}/").status_code == 404
    assert api.delete(f"{url}{item.pk}/").status_code == 404
    assert api.get("/api/v1/deals/999999/line-items/").status_code == 404


def test_a_line_item_is_only_reached_through_its_own_deal(
    member_api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        one, other = a_deal(name="One"), a_deal(name="Other")
        item = line_item_add(deal=one, by=None, name="Set-up", unit_price="1")
    assert member_api.get(f"/api/v1/deals/{other.pk}/line-items/{item.pk}/").status_code == 404


def test_the_line_item_list_takes_a_fixed_number_of_statements(
    member_api: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        deal = a_deal()
        for i in range(15):
            line_item_add(deal=deal, by=None, product=ProductFactory(), quantity=str(i + 1))
    member_api.get(
        f"/api/v1/deals/{deal.pk}/line-items/"
    )  # warm: the host cache, the token's last-used stamp
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        assert len(member_api.get(f"/api/v1/deals/{deal.pk}/line-items/").json()) == 15


def test_a_deal_with_line_items_refuses_another_amount_or_currency(
    member_api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = a_deal(currency="USD")
        line_item_add(deal=deal, by=None, name="Set-up", unit_price="120")
    url = f"/api/v1/deals/{deal.pk}/"
    amount = member_api.patch(url, {"amount": "5.00"}, content_type="application/json")
    assert amount.status_code == 400
    assert list(amount.json()["errors"]) == ["amount"]
    currency = member_api.patch(url, {"currency": "EUR"}, content_type="application/json")
    assert currency.status_code == 400
    assert list(currency.json()["errors"]) == ["currency"]
    same = member_api.patch(url, {"amount": "120.00"}, content_type="application/json")
    assert same.status_code == 200
    with tenant_context(tenant_a):
        deal.refresh_from_db()
        assert (deal.amount, deal.currency) == (Decimal("120.00"), "USD")
