"""The Billing settings page: what owners see, who else is turned away, and how refused
changes read (field errors and messages, never a 500). Changes that reach Stripe are in
tests/billing/test_billing_stripe.py."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import Invoice, Price, Subscription
from billing.providers.base import SubscriptionState
from billing.services.subscriptions import subscription_apply_state
from iam.models import Membership, Role, User
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/settings/billing/"


def _browser(user: User, tenant: Tenant) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def _active_on_starter(tenant: Tenant, *, seats: int = 2) -> Subscription:
    """Make the organization's subscription an active Starter one at Stripe, as a webhook
    would (nothing is asked of Stripe)."""
    price = Price.objects.get(plan__code="starter", interval="month", currency="USD")
    price.provider_ids = {**price.provider_ids, "stripe": f"price_page_{tenant.slug}"}
    price.save()
    Subscription.objects.filter(organization=tenant).update(provider="stripe")
    now = timezone.now()
    applied = subscription_apply_state(
        provider="stripe",
        state=SubscriptionState(
            subscription_id=f"sub_page_{tenant.slug}",
            customer_id=f"cus_page_{tenant.slug}",
            status="active",
            price_id=f"price_page_{tenant.slug}",
            quantity=seats,
            current_period_start=now,
            current_period_end=now + dt.timedelta(days=30),
            organization_id=tenant.pk,
        ),
        occurred_at=now,
    )
    assert applied is not None
    return applied


def _invoice(tenant: Tenant, number: str, total: int = 2400) -> Invoice:
    return Invoice.objects.create(
        organization=tenant,
        provider="stripe",
        provider_invoice_id=f"in_{number}",
        number=number,
        status=Invoice.Status.PAID,
        currency="USD",
        subtotal=total - 400,
        tax=400,
        total=total,
        amount_paid=total,
        period_start=timezone.now() - dt.timedelta(days=30),
        period_end=timezone.now(),
        issued_at=timezone.now(),
        hosted_url=f"https://pay.example.test/{number}",
        pdf_url=f"https://pay.example.test/{number}.pdf",
    )


def test_owner_sees_the_trial_with_days_left_seats_and_usage(
    tenant_a: Tenant, owner_a: User
) -> None:
    response = _browser(owner_a, tenant_a).get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Growth" in page
    assert "Trial, 14 days left" in page or "Trial, 13 days left" in page
    assert 'data-testid="members-count">2<' in page
    assert 'data-limit="seats"' in page
    assert "Continue to payment" in page  # no paid subscription yet: a checkout
    assert 'href="/settings/billing/"' in page  # the owner's menu has Billing


@pytest.mark.parametrize("role", [Role.MEMBER, Role.ADMIN])
def test_members_and_admins_get_the_forbidden_page(tenant_a: Tenant, role: str) -> None:
    user = UserFactory()
    Membership.objects.create(user=user, tenant=tenant_a, role=role)
    client = _browser(user, tenant_a)

    page = client.get(URL)
    change = client.post(f"{URL}cancel/")

    assert page.status_code == change.status_code == 403
    assert b"Only owners of the organization manage its billing." in page.content
    assert b'href="/settings/billing/"' not in page.content  # not in their menu either


def test_an_owner_of_b_cannot_open_the_billing_of_a(tenant_a: Tenant, owner_b: User) -> None:
    response = _browser(owner_b, tenant_a).get(URL)

    assert response.status_code in (302, 403, 404)
    assert b"Billing" not in response.content or response.status_code != 200


def test_invoices_list_shows_only_the_organizations_own(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    _invoice(tenant_a, "A-0001", total=2400)
    _invoice(tenant_b, "B-0001")

    page = _browser(owner_a, tenant_a).get(URL).content.decode()

    assert "A-0001" in page
    assert "24.00 USD" in page and "4.00 USD" in page
    assert "https://pay.example.test/A-0001.pdf" in page
    assert "B-0001" not in page


def test_an_active_subscription_shows_its_price_period_and_the_changes_it_allows(
    tenant_a: Tenant, owner_a: User
) -> None:
    _active_on_starter(tenant_a, seats=2)

    page = _browser(owner_a, tenant_a).get(URL).content.decode()

    assert 'data-testid="plan-name">Starter<' in page
    assert 'data-testid="plan-status">Active<' in page
    assert 'data-testid="seats-billed">2<' in page
    assert "Cancel at period end" in page and "Bill yearly instead" in page
    assert "Renews on" in page
    assert "Change plan" in page


def test_a_contract_plan_is_not_offered_for_checkout_but_named_with_talk_to_us(
    tenant_a: Tenant, owner_a: User
) -> None:
    client = _browser(owner_a, tenant_a)

    page = client.get(URL).content.decode()
    refused = client.post(
        f"{URL}plan/", {"plan": "enterprise", "interval": "month", "currency": "USD"}
    )

    assert "Talk to us" in page
    assert '<option value="enterprise"' not in page
    assert refused.status_code == 400
    assert b"Select a valid choice" in refused.content
    assert Subscription.objects.get(organization=tenant_a).plan.code == "growth"


def test_a_plan_in_a_currency_it_is_not_sold_in_is_a_field_error(
    tenant_a: Tenant, owner_a: User
) -> None:
    Price.objects.filter(plan__code="starter", currency="EUR").update(active=False)
    Price.objects.get_or_create(
        plan_id=Price.objects.get(plan__code="growth", interval="month", currency="USD").plan_id,
        interval="month",
        currency="EUR",
        defaults={"unit_amount": 3000},
    )

    response = _browser(owner_a, tenant_a).post(
        f"{URL}plan/", {"plan": "starter", "interval": "month", "currency": "EUR"}
    )

    assert response.status_code == 422
    assert b"not sold monthly in EUR" in response.content


def test_cancelling_without_a_paid_subscription_says_why_and_changes_nothing(
    tenant_a: Tenant, owner_a: User
) -> None:
    client = _browser(owner_a, tenant_a)

    response = client.post(f"{URL}cancel/", follow=True)

    assert response.status_code == 200
    assert b"There is no paid subscription yet: choose a plan first." in response.content
    subscription = Subscription.objects.get(organization=tenant_a)
    assert (subscription.status, subscription.cancel_at_period_end) == ("trialing", False)


def test_resuming_a_subscription_not_set_to_end_is_refused_with_a_message(
    tenant_a: Tenant, owner_a: User
) -> None:
    _active_on_starter(tenant_a)

    response = _browser(owner_a, tenant_a).post(f"{URL}resume/", follow=True)

    assert b"The subscription is not set to end: nothing to resume." in response.content


def test_an_empty_coupon_is_a_field_error(tenant_a: Tenant, owner_a: User) -> None:
    _active_on_starter(tenant_a)

    response = _browser(owner_a, tenant_a).post(f"{URL}coupon/", {"coupon": "  "})

    assert response.status_code == 400
    assert b"This field is required." in response.content


def test_the_portal_before_any_payment_is_refused_with_a_message(
    tenant_a: Tenant, owner_a: User
) -> None:
    response = _browser(owner_a, tenant_a).post(f"{URL}portal/", follow=True)

    assert b"The payment portal opens once the organization has paid for a plan." in (
        response.content
    )


def test_a_contract_organization_is_told_to_talk_to_us(tenant_a: Tenant, owner_a: User) -> None:
    Subscription.objects.filter(organization=tenant_a).update(provider="manual")
    client = _browser(owner_a, tenant_a)

    page = client.get(URL).content.decode()
    refused = client.post(f"{URL}cancel/", follow=True)

    assert "invoiced by contract" in page
    assert 'data-testid="plan-form"' not in page
    assert b"invoiced by contract" in refused.content
