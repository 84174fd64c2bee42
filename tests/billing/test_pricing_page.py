"""The public pricing page: rendered from the public plans and their prices, monthly or
yearly, in each currency they are sold in, with each plan's limits and features, Enterprise
as "Talk to us", and linked from the home page."""

import re

import pytest
from django.test import Client

from billing.models import Interval, Plan, Price
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


def _card(content: bytes, code: str) -> str:
    page = content.decode()
    found = re.search(rf'data-testid="plan-{code}">(.*?)</article>', page, re.S)
    assert found, f"no card for {code}"
    return found.group(1)


def _price(card: str) -> str:
    found = re.search(r'data-testid="price">(.*?)</p>', card, re.S)
    assert found
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_the_page_shows_each_public_plan_with_its_monthly_price(public_client: Client) -> None:
    response = public_client.get("/pricing/")
    assert response.status_code == 200
    page = response.content.decode()
    order = [page.index(f'data-testid="plan-{code}"') for code in ("free", "starter", "growth")]
    assert order == sorted(order)  # cheapest first
    assert _price(_card(response.content, "free")).startswith("Free")
    assert _price(_card(response.content, "starter")) == "$15 a member a month billed monthly"
    assert _price(_card(response.content, "growth")).startswith("$39")


def test_yearly_prices_are_shown_per_month_with_what_a_year_costs(public_client: Client) -> None:
    response = public_client.get("/pricing/", {"interval": "year"})
    assert response.status_code == 200
    assert _price(_card(response.content, "starter")) == (
        "$12 a member a month billed yearly, $144 a seat"
    )
    assert b'data-testid="interval-year"' in response.content
    assert b"(save 20%)" in response.content


def test_another_currency_shows_its_own_prices(public_client: Client) -> None:
    response = public_client.get("/pricing/", {"currency": "eur", "interval": "month"})
    assert _price(_card(response.content, "growth")) == "€36 a member a month billed monthly"
    assert b'aria-current="page">EUR<' in response.content


def test_an_unknown_currency_or_interval_falls_back_rather_than_failing(
    public_client: Client,
) -> None:
    response = public_client.get("/pricing/", {"currency": "<x>", "interval": "decade"})
    assert response.status_code == 200
    assert _price(_card(response.content, "starter")).startswith("$15")


def test_limits_and_features_come_from_the_plan(public_client: Client) -> None:
    free = _card(public_client.get("/pricing/").content, "free")
    assert re.search(r"Contacts</dt><dd[^>]*>1,000<", free)
    assert re.search(r"Members</dt><dd[^>]*>2<", free)
    assert "Not included:</span>\n            Single sign-on" in free
    growth = _card(public_client.get("/pricing/").content, "growth")
    assert "Included:</span>\n            Single sign-on" in growth
    assert "Audit log (kept 365 days)" in growth
    enterprise = _card(public_client.get("/pricing/").content, "enterprise")
    assert re.search(r"Contacts</dt><dd[^>]*>Unlimited<", enterprise)


def test_enterprise_is_talk_to_us_and_growth_offers_its_trial(public_client: Client) -> None:
    content = public_client.get("/pricing/").content
    enterprise = _card(content, "enterprise")
    assert "Talk to us" in enterprise and "mailto:sales@" in enterprise
    assert "$" not in _price(enterprise)
    assert "Try it free for 14 days" in _card(content, "growth")


def test_an_edit_of_a_plan_shows_on_the_page(public_client: Client) -> None:
    starter = Plan.objects.get(code="starter")
    Price.objects.filter(plan=starter, currency="USD", interval=Interval.MONTH).update(
        unit_amount=1750
    )
    Plan.objects.filter(pk=starter.pk).update(limits={**starter.limits, "contacts": 30000})
    card = _card(public_client.get("/pricing/").content, "starter")
    assert _price(card).startswith("$17.50")
    assert re.search(r"Contacts</dt><dd[^>]*>30,000<", card)


def test_private_and_custom_plans_are_not_listed(public_client: Client, tenant_a: Tenant) -> None:
    Plan.objects.create(code="hidden", name="Hidden", is_public=False, rank=5)
    Plan.objects.create(code="acme-deal", name="Acme deal", organization=tenant_a, rank=6)
    page = public_client.get("/pricing/").content
    assert b'data-testid="plan-hidden"' not in page
    assert b'data-testid="plan-acme-deal"' not in page


def test_the_home_page_links_to_pricing(public_client: Client) -> None:
    home = public_client.get("/")
    assert b'href="/pricing/"' in home.content


def test_the_pricing_page_is_on_the_bare_domain_only(tenant_a: Tenant) -> None:
    response = Client(HTTP_HOST=host_of(tenant_a)).get("/pricing/")
    assert response.status_code in (302, 404)


def test_the_public_header_and_footer_link_to_pricing(public_client: Client) -> None:
    page = public_client.get("/pricing/").content.decode()
    assert re.search(r'<a href="/pricing/" class="nav-link" aria-current="page">Pricing</a>', page)
    footer = page[page.index("<footer") :]
    assert 'href="/pricing/"' in footer
