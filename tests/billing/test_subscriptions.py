"""Trials at sign-up, the provider's state applied only when newer, and the history it leaves."""

import datetime as dt

import pytest
from django.utils import timezone

from billing import entitlements
from billing.exceptions import PlanLimitReached
from billing.models import Plan, Price, Subscription, SubscriptionChange
from billing.providers.base import SubscriptionState
from billing.services import subscriptions
from iam.models import Membership, Role
from tenants.models import Tenant
from tenants.services import provision_tenant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _priced(tenant: Tenant, *, code: str = "starter", interval: str = "month") -> Price:
    """Give the tenant's subscription a provider id and the plan's USD price a Stripe id."""
    price = Price.objects.get(plan__code=code, interval=interval, currency="USD")
    price.provider_ids = {"stripe": f"price_{code}_{interval}"}
    price.save()
    Subscription.objects.filter(organization=tenant).update(
        provider="stripe", provider_subscription_id=f"sub_{tenant.slug}"
    )
    return price


def _state(tenant: Tenant, **overrides: object) -> SubscriptionState:
    values: dict[str, object] = {
        "subscription_id": f"sub_{tenant.slug}",
        "customer_id": f"cus_{tenant.slug}",
        "status": "active",
        "price_id": "price_starter_month",
        "quantity": 2,
    }
    values.update(overrides)
    return SubscriptionState(**values)  # type: ignore[arg-type]


def test_a_new_organization_starts_a_growth_trial_without_a_card() -> None:
    owner = UserFactory()
    tenant = provision_tenant(slug="trialco", name="Trial Co", owner=owner)

    subscription = Subscription.objects.get(organization=tenant)
    assert subscription.plan.code == "growth"
    assert subscription.status == Subscription.Status.TRIALING
    assert subscription.provider_subscription_id == ""
    assert subscription.trial_ends_at is not None
    days = round((subscription.trial_ends_at - subscription.created_at) / dt.timedelta(days=1))
    assert days == Plan.objects.get(code="growth").trial_days == 14
    [change] = SubscriptionChange.objects.filter(organization=tenant)
    assert (change.kind, change.mrr) == ("trial_started", 0)


def test_a_paid_state_subscribes_and_keeps_its_mrr_in_the_history(tenant_a: Tenant) -> None:
    price = _priced(tenant_a)

    subscriptions.subscription_apply_state(
        provider="stripe", state=_state(tenant_a, quantity=3), occurred_at=T0
    )

    subscription = Subscription.objects.get(organization=tenant_a)
    assert (subscription.plan.code, subscription.status, subscription.quantity) == (
        "starter",
        "active",
        3,
    )
    change = SubscriptionChange.objects.filter(organization=tenant_a).order_by("id").last()
    assert change is not None
    assert (change.kind, change.mrr, change.currency) == (
        "subscribed",
        3 * price.unit_amount,
        "USD",
    )

    # A later price edit does not rewrite what was recorded.
    Price.objects.filter(pk=price.pk).update(unit_amount=price.unit_amount * 2)
    change.refresh_from_db()
    assert change.mrr == 3 * 1500


def test_an_older_state_arriving_late_never_rolls_the_subscription_back(tenant_a: Tenant) -> None:
    _priced(tenant_a)
    subscriptions.subscription_apply_state(
        provider="stripe", state=_state(tenant_a, quantity=5), occurred_at=T0
    )
    subscriptions.subscription_apply_state(
        provider="stripe", state=_state(tenant_a, quantity=2), occurred_at=T0 - dt.timedelta(1)
    )

    assert Subscription.objects.get(organization=tenant_a).quantity == 5
    assert SubscriptionChange.objects.filter(organization=tenant_a, quantity=2).count() == 0


def test_the_same_state_twice_leaves_one_change(tenant_a: Tenant) -> None:
    _priced(tenant_a)
    for _ in range(2):
        subscriptions.subscription_apply_state(
            provider="stripe", state=_state(tenant_a), occurred_at=T0
        )

    kinds = list(
        SubscriptionChange.objects.filter(organization=tenant_a).values_list("kind", flat=True)
    )
    assert kinds.count("subscribed") == 1


def test_a_state_for_another_organizations_subscription_touches_only_that_one(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _priced(tenant_a)
    before = Subscription.objects.get(organization=tenant_b)

    subscriptions.subscription_apply_state(
        provider="stripe", state=_state(tenant_a, quantity=7), occurred_at=T0
    )

    after = Subscription.objects.get(organization=tenant_b)
    assert (after.plan_id, after.status, after.quantity) == (
        before.plan_id,
        before.status,
        before.quantity,
    )


def test_seats_are_limited_by_the_plan_and_open_invitations_count(tenant_a: Tenant) -> None:
    Subscription.objects.filter(organization=tenant_a).update(plan=Plan.objects.get(code="free"))
    # The suite's organizations have an owner and a member: Free's two seats are taken.
    assert Membership.objects.filter(tenant=tenant_a).count() == 2

    with pytest.raises(PlanLimitReached) as refused:
        entitlements.require_capacity(tenant=tenant_a, name="seats")

    assert refused.value.extra["limit"] == 2
    assert refused.value.extra["current"] == 2
    assert refused.value.extra["upgrade_url"].endswith("/settings/billing/")
    assert refused.value.status == 402 and refused.value.code == "plan-limit"


def test_an_unlimited_plan_answers_without_counting(tenant_a: Tenant) -> None:
    Subscription.objects.filter(organization=tenant_a).update(
        plan=Plan.objects.get(code="enterprise")
    )
    for _ in range(3):
        Membership.objects.create(user=UserFactory.create(), tenant=tenant_a, role=Role.MEMBER)

    entitlements.require_capacity(tenant=tenant_a, name="seats", adding=10_000)


def test_a_trial_that_ended_unpaid_falls_back_to_free_not_suspended(tenant_a: Tenant) -> None:
    Subscription.objects.filter(organization=tenant_a).update(
        trial_ends_at=timezone.now() - dt.timedelta(minutes=1)
    )

    assert subscriptions.trials_expire() >= 1

    subscription = Subscription.objects.get(organization=tenant_a)
    assert (subscription.plan.code, subscription.status) == ("free", "free")
    tenant_a.refresh_from_db()
    assert not tenant_a.is_suspended


def test_an_organization_with_a_custom_plan_is_deleted_with_it() -> None:
    from billing.services.manual import plan_custom_create
    from tenants.services import tenant_delete

    operator = UserFactory.create(is_staff=True)
    tenant = provision_tenant(slug="customco", name="Custom Co", owner=UserFactory.create())
    subscription = plan_custom_create(
        organization=tenant,
        by=operator,
        name="Custom Co contract",
        limits={"seats": 40},
        features={"sso": True},
        unit_amount=2500,
        currency="EUR",
    )
    custom = subscription.plan

    tenant_delete(tenant=tenant)

    assert not Plan.objects.filter(pk=custom.pk).exists()
    assert not SubscriptionChange.objects.filter(plan=custom).exists()
    # A public plan in use by others is still there.
    assert Plan.objects.filter(code="growth").exists()


def test_someone_invited_then_added_directly_takes_one_seat_not_two(
    tenant_a: Tenant, owner_a: object
) -> None:
    from iam.services import invitation_create, membership_create

    Subscription.objects.filter(organization=tenant_a).update(plan=Plan.objects.get(code="starter"))
    before = entitlements.count(tenant_a, "seats")
    invitation_create(tenant=tenant_a, by=owner_a, email="Dana@Example.test")  # type: ignore[arg-type]
    assert entitlements.count(tenant_a, "seats") == before + 1

    dana = UserFactory.create(email="dana@example.test")
    membership_create(user=dana, tenant=tenant_a)

    assert entitlements.count(tenant_a, "seats") == before + 1
