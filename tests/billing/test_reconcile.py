"""`manage.py billing_reconcile` against the devstack's local Stripe and Paddle: a change made
at the provider whose webhook never arrived is repaired, and reported; nothing else moves."""

import datetime as dt
import uuid
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing import tasks
from billing.models import Invoice, Subscription, SubscriptionChange
from billing.providers.paddle import PROVIDER as PADDLE
from billing.providers.stripe import PROVIDER as STRIPE
from billing.services import subscriptions
from tenants.models import Tenant

from .paddle_support import checkout

pytestmark = pytest.mark.django_db

Paid = Callable[..., Subscription]


def _reconcile(*args: str) -> str:
    out = StringIO()
    call_command("billing_reconcile", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _row(tenant: Tenant) -> Subscription:
    return Subscription.objects.select_related("organization", "plan", "price").get(
        organization=tenant
    )


def test_a_seat_change_whose_stripe_webhook_was_lost_is_repaired(
    tenant_a: Tenant, tenant_b: Tenant, paid_at_stripe: Paid
) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")
    assert subscription.quantity == 2
    b_before = SubscriptionChange.objects.filter(organization=tenant_b).count()
    STRIPE.set_quantity(subscription=subscription, quantity=5, idempotency_key=uuid.uuid4().hex)

    report = _reconcile()

    repaired = _row(tenant_a)
    assert repaired.quantity == 5
    assert f"repaired alpha (stripe {subscription.provider_subscription_id})" in report
    assert "quantity 2 -> 5" in report
    assert "1 repaired" in report
    assert SubscriptionChange.objects.filter(organization=tenant_a, kind="seats_changed").exists()
    assert Invoice.objects.filter(organization=tenant_a, provider="stripe").exists()
    assert SubscriptionChange.objects.filter(organization=tenant_b).count() == b_before
    assert not Invoice.objects.filter(organization=tenant_b).exists()


def test_a_plan_change_whose_stripe_webhook_was_lost_is_repaired(
    tenant_a: Tenant, paid_at_stripe: Paid, stripe_prices: dict[tuple[str, str], object]
) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")
    growth = stripe_prices[("growth", "month")]
    STRIPE.change_price(subscription=subscription, price=growth, quantity=2)  # type: ignore[arg-type]

    report = _reconcile()

    assert _row(tenant_a).plan.code == "growth"
    assert "plan_id" in report and "price_id" in report


def test_a_payment_whose_stripe_webhook_was_lost_restores_the_organization(
    tenant_a: Tenant, paid_at_stripe: Paid
) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")
    failed_at = timezone.now() - dt.timedelta(days=9)
    subscriptions.payment_failed(subscription=subscription, at=failed_at)
    subscriptions.dunning_advance(now=failed_at + dt.timedelta(days=8))
    assert _row(tenant_a).dunning == Subscription.Dunning.READ_ONLY

    report = _reconcile()

    restored = _row(tenant_a)
    assert (restored.status, restored.dunning) == ("active", "none")
    assert restored.past_due_since is None
    assert "dunning read_only -> none" in report


def test_an_invoice_paid_before_a_later_failure_never_ends_it(
    tenant_a: Tenant, paid_at_stripe: Paid
) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")
    _reconcile()  # the first invoice, paid now, is mirrored
    later = timezone.now() + dt.timedelta(minutes=5)
    subscriptions.payment_failed(subscription=_row(tenant_a), at=later)

    _reconcile()

    assert _row(tenant_a).dunning == Subscription.Dunning.WARNED
    assert subscription.pk == _row(tenant_a).pk


def test_reconciling_again_repairs_nothing(tenant_a: Tenant, paid_at_stripe: Paid) -> None:
    paid_at_stripe(tenant_a, "starter", "month")
    _reconcile()
    changes = SubscriptionChange.objects.filter(organization=tenant_a).count()

    report = _reconcile()

    assert report.strip().endswith("1 subscriptions checked, 0 repaired, 0 failed")
    assert SubscriptionChange.objects.filter(organization=tenant_a).count() == changes


def test_a_subscription_the_provider_cannot_find_is_reported_and_the_others_go_on(
    tenant_a: Tenant, tenant_b: Tenant, paid_at_stripe: Paid
) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")
    STRIPE.set_quantity(subscription=subscription, quantity=4, idempotency_key=uuid.uuid4().hex)
    Subscription.objects.filter(organization=tenant_b).update(
        provider="stripe", provider_subscription_id="sub_missing_at_stripe"
    )

    with pytest.raises(CommandError, match="1 subscriptions could not be reconciled"):
        _reconcile()

    assert _row(tenant_a).quantity == 4
    assert _row(tenant_b).quantity == 1


def test_a_seat_change_whose_paddle_webhook_was_lost_is_repaired(tenant_a: Tenant) -> None:
    checkout(_row(tenant_a), quantity=2)
    subscription = _row(tenant_a)
    assert (subscription.provider, subscription.quantity) == ("paddle", 2)
    PADDLE.set_quantity(subscription=subscription, quantity=3, idempotency_key=uuid.uuid4().hex)

    report = _reconcile("--provider", "paddle")

    assert _row(tenant_a).quantity == 3
    assert "repaired alpha (paddle" in report
    assert "quantity 2 -> 3" in report


def test_the_nightly_task_reports_its_counts(tenant_a: Tenant, paid_at_stripe: Paid) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")
    STRIPE.set_quantity(subscription=subscription, quantity=3, idempotency_key=uuid.uuid4().hex)

    counts = tasks.billing_reconcile.apply().get()

    assert counts == {"checked": 1, "repaired": 1, "failed": 0}
    assert _row(tenant_a).quantity == 3
