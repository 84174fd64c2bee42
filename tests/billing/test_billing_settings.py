"""The Billing settings page: what owners see, who else is turned away, the changes they make
at (local) Stripe, and how refused changes read (field errors and messages, never a 500)."""

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from billing.models import Invoice, Price, Subscription, SubscriptionChange
from billing.providers.base import SubscriptionState
from billing.services.subscriptions import subscription_apply_state
from iam.models import Membership, Role, User
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import UserFactory

from . import stripe_support as s

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
    assert b"None of your roles" in page.content and b"includes the Billing right" in page.content
    assert b'href="/settings/billing/"' not in page.content  # not in their menu either


def test_an_owner_of_b_cannot_open_the_billing_of_a(tenant_a: Tenant, owner_b: User) -> None:
    client = _browser(owner_b, tenant_a)

    page = client.get(URL)
    change = client.post(f"{URL}cancel/")

    assert page.status_code == change.status_code == 403
    assert b"Growth" not in page.content


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


def test_a_failed_payment_offers_paying_in_the_portal_at_the_top_and_a_contract_none(
    tenant_a: Tenant, owner_a: User
) -> None:
    subscription = _active_on_starter(tenant_a)
    Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.PAST_DUE)
    client = _browser(owner_a, tenant_a)

    at_stripe = client.get(URL).content.decode()
    Subscription.objects.filter(pk=subscription.pk).update(provider="manual")
    by_contract = client.get(URL).content.decode()

    alert = at_stripe.split('data-testid="past-due"', 1)[1].split("</div>", 1)[0]
    assert "Pay the open invoice in the payment portal" in alert
    assert 'action="/settings/billing/portal/"' in alert and "Pay in the payment portal" in alert
    assert "Pay the open invoice so" in by_contract
    assert "Pay in the payment portal" not in by_contract  # invoiced by contract: no portal


def test_a_contract_plan_is_not_offered_for_checkout_but_named_with_talk_to_us(
    tenant_a: Tenant, owner_a: User
) -> None:
    client = _browser(owner_a, tenant_a)

    page = client.get(URL).content.decode()
    refused = client.post(
        f"{URL}plan/", {"plan": "enterprise", "interval": "month", "currency": "USD"}
    )

    assert "Talk to us" in page and "mailto:sales@localhost?subject=Enterprise" in page
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


# At local Stripe ------------------------------------------------------------------------


def _remote(subscription: Subscription) -> dict[str, Any]:
    return s.client().v1.subscriptions.retrieve(subscription.provider_subscription_id).to_dict()


def test_choosing_a_plan_on_a_trial_goes_to_stripe_checkout_for_every_member(
    tenant_a: Tenant, owner_a: User, stripe_prices: dict[tuple[str, str], Price]
) -> None:
    response = _browser(owner_a, tenant_a).post(
        f"{URL}plan/", {"plan": "starter", "interval": "year", "currency": "USD"}
    )

    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(settings.STRIPE_API_BASE + "/checkout/pay/cs_")
    session = s.client().v1.checkout.sessions.retrieve(urlsplit(url).path.rsplit("/", 1)[1])
    assert session.amount_total == stripe_prices[("starter", "year")].unit_amount * 2
    assert session.client_reference_id == str(tenant_a.pk)
    back = urlsplit(str(session.success_url))
    assert (back.netloc, back.path) == ("alpha.localhost", URL)
    assert parse_qs(back.query) == {"checkout": ["done"]}


def test_a_paid_organization_moves_to_another_plan_prorated_at_stripe(
    tenant_a: Tenant,
    owner_a: User,
    paid_at_stripe: Callable[..., Subscription],
    stripe_prices: dict[tuple[str, str], Price],
) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")

    response = _browser(owner_a, tenant_a).post(
        f"{URL}plan/", {"plan": "growth", "interval": "month", "currency": "USD"}, follow=True
    )

    assert b"The organization is now on Growth." in response.content
    remote = _remote(subscription)
    assert (
        remote["items"]["data"][0]["price"]["id"]
        == (stripe_prices[("growth", "month")].provider_ids["stripe"])
    )
    subscription.refresh_from_db()
    assert (subscription.plan.code, subscription.status) == ("growth", "active")
    change = SubscriptionChange.objects.filter(organization=tenant_a).latest("id")
    assert (change.kind, change.actor_id) == ("plan_changed", owner_a.pk)
    assert change.mrr == stripe_prices[("growth", "month")].unit_amount * 2


def test_the_same_plan_again_is_a_field_error_and_stripe_is_not_asked(
    tenant_a: Tenant, owner_a: User, paid_at_stripe: Callable[..., Subscription]
) -> None:
    paid_at_stripe(tenant_a, "starter", "month")

    response = _browser(owner_a, tenant_a).post(
        f"{URL}plan/", {"plan": "starter", "interval": "month", "currency": "USD"}
    )

    assert response.status_code == 409
    assert b"already on Starter, billed monthly" in response.content


def test_switching_to_yearly_billing_keeps_the_plan(
    tenant_a: Tenant, owner_a: User, paid_at_stripe: Callable[..., Subscription]
) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")

    _browser(owner_a, tenant_a).post(f"{URL}interval/")

    subscription.refresh_from_db()
    assert subscription.plan.code == "starter"
    assert subscription.price is not None and subscription.price.interval == "year"
    assert _remote(subscription)["items"]["data"][0]["price"]["recurring"]["interval"] == "year"


def test_cancel_at_period_end_then_resume(
    tenant_a: Tenant, owner_a: User, paid_at_stripe: Callable[..., Subscription]
) -> None:
    subscription = paid_at_stripe(tenant_a)
    client = _browser(owner_a, tenant_a)

    cancelled = client.post(f"{URL}cancel/", follow=True)
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is True
    assert _remote(subscription)["cancel_at_period_end"] is True
    assert b"Resume the subscription" in cancelled.content

    client.post(f"{URL}resume/")
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is False
    assert _remote(subscription)["cancel_at_period_end"] is False
    kinds = list(
        SubscriptionChange.objects.filter(organization=tenant_a).values_list("kind", flat=True)
    )
    assert kinds[-2:] == ["cancel_scheduled", "resumed"]


def test_a_coupon_stripe_knows_is_applied_and_an_unknown_one_is_a_field_error(
    tenant_a: Tenant, owner_a: User, paid_at_stripe: Callable[..., Subscription]
) -> None:
    subscription = paid_at_stripe(tenant_a)
    code = f"WELCOME{tenant_a.pk}{subscription.pk}"
    s.client().v1.coupons.create(params={"id": code, "percent_off": 20, "duration": "forever"})
    client = _browser(owner_a, tenant_a)

    unknown = client.post(f"{URL}coupon/", {"coupon": "NO-SUCH-COUPON"})
    known = client.post(f"{URL}coupon/", {"coupon": code})

    assert unknown.status_code == 400
    assert b"The payment provider refused it" in unknown.content
    assert known.status_code == 302
    subscription.refresh_from_db()
    assert subscription.coupon == code


def test_the_portal_opens_at_stripe_and_returns_here(
    tenant_a: Tenant, owner_a: User, paid_at_stripe: Callable[..., Subscription]
) -> None:
    paid_at_stripe(tenant_a)

    response = _browser(owner_a, tenant_a).post(f"{URL}portal/")

    assert response.status_code == 302
    assert response["Location"].startswith(settings.STRIPE_API_BASE)


def test_stripe_unreachable_is_a_clear_message_not_a_500(
    tenant_a: Tenant,
    owner_a: User,
    paid_at_stripe: Callable[..., Subscription],
    settings: object,
) -> None:
    subscription = paid_at_stripe(tenant_a)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # type: ignore[attr-defined]

    response = _browser(owner_a, tenant_a).post(f"{URL}cancel/", follow=True)

    assert response.status_code == 200
    assert b"The payment provider could not do that" in response.content
    assert b"Nothing was changed." in response.content
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is False


def test_a_downgrade_below_what_the_organization_uses_is_a_field_error(
    tenant_a: Tenant, owner_a: User, paid_at_stripe: Callable[..., Subscription]
) -> None:
    subscription = paid_at_stripe(tenant_a, "growth", "month")
    for _ in range(9):  # 11 members; Starter allows 10
        Membership.objects.create(user=UserFactory(), tenant=tenant_a, role=Role.MEMBER)

    response = _browser(owner_a, tenant_a).post(
        f"{URL}plan/", {"plan": "starter", "interval": "month", "currency": "USD"}
    )

    assert response.status_code == 402
    assert b"The Starter plan allows 10 members; this organization has 11." in response.content
    assert _remote(subscription)["items"]["data"][0]["price"]["id"] == (
        subscription.price.provider_ids["stripe"] if subscription.price else None
    )


def test_a_trial_shows_its_members_and_no_seats_billed(tenant_a: Tenant, owner_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)

    page = client.get("/settings/billing/").content.decode()

    assert 'data-testid="members-count">2<' in page
    assert 'data-testid="seats-billed"' not in page  # nothing is billed during a trial
