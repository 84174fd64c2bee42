"""Changes an organization's owners make to its subscription: checkout, plan and interval,
cancelling at the period's end and resuming, coupons, and the provider's customer portal.

Each change is asked of the provider first; what the provider answers (its
`SubscriptionState`) is then applied through `subscription_apply_state`, the same way a
webhook is, so the page shows the change at once and the webhook that follows finds
nothing left to do. A provider's refusal raises `ProviderError` and nothing changes here.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing import entitlements
from billing.exceptions import BillingRuleBroken, PlanLimitReached, PlanNotOffered
from billing.models import LIMIT_LABELS, Interval, Plan, Price, Provider, Subscription
from billing.providers import provider_for
from billing.providers.base import BillingProvider, SubscriptionState
from iam.audit import audit_record
from iam.models import Membership
from tenants.models import Tenant

from .subscriptions import subscription_apply_state

log = structlog.get_logger(__name__)

Status = Subscription.Status


def seat_count_billable(*, tenant: Tenant) -> int:
    """The seats an organization pays for: its members not switched off (at least one)."""
    return max(1, Membership.objects.filter(tenant=tenant, deactivated_at=None).count())


def has_provider_subscription(subscription: Subscription) -> bool:
    """Whether a subscription runs at a provider (checked out, not ended): changes go there;
    otherwise a paid plan starts with a checkout."""
    return bool(subscription.provider_subscription_id) and subscription.status not in (
        Status.CANCELED,
        Status.FREE,
    )


def is_self_serve(subscription: Subscription) -> bool:
    """Whether owners change this subscription themselves (manual invoicing is by contract)."""
    return subscription.provider != Provider.MANUAL


def plans_offered(*, tenant: Tenant) -> list[Plan]:
    """The plans the Billing settings offer: the public ones and the organization's own."""
    return list(
        Plan.objects.filter(Q(is_public=True) | Q(organization=tenant))
        .prefetch_related("prices")
        .order_by("rank", "code")
    )


def price_offered(*, tenant: Tenant, plan_code: str, interval: str, currency: str) -> Price:
    """The active self-serve price of `plan_code` per `interval` in `currency`; PlanNotOffered
    (naming the field at fault) when there is none."""
    plan = (
        Plan.objects.filter(Q(is_public=True) | Q(organization=tenant), code=plan_code).first()
        if plan_code
        else None
    )
    if plan is None:
        raise PlanNotOffered("Choose one of the plans offered.", field="plan")
    if plan.contact_sales:
        raise PlanNotOffered(
            f"The {plan.name} plan is sold by contract: talk to us to have it.", field="plan"
        )
    if not plan.prices.filter(active=True, unit_amount__gt=0).exists():
        raise PlanNotOffered(f"The {plan.name} plan is free: nothing to buy.", field="plan")
    if interval not in Interval.values:
        raise PlanNotOffered("Choose monthly or yearly.", field="interval")
    price = (
        Price.objects.select_related("plan")
        .filter(plan=plan, interval=interval, currency=currency.upper(), active=True)
        .first()
    )
    if price is None:
        raise PlanNotOffered(
            f"The {plan.name} plan is not sold {Interval(interval).label.lower()} in "
            f"{currency.upper() or 'that currency'}.",
            field="currency"
            if Price.objects.filter(plan=plan, interval=interval).exists()
            else "interval",
        )
    return price


# Seats are billed: a plan cannot be bought for more members than it allows. Other things
# above a smaller plan's limits stay (readable and editable); only adding more is refused.
_KEPT_LIMITS = ("seats",)


def plan_fits(*, tenant: Tenant, plan: Plan) -> None:
    """Refuse (PlanLimitReached, 402) a plan with fewer seats than the organization has
    members: Starter, for 10, cannot be billed for 12."""
    for name in _KEPT_LIMITS:
        limit = plan.limit(name)
        if limit is None:
            continue
        try:
            used = entitlements.count(tenant, name, limit)
        except LookupError:  # nothing counts it in this deployment
            continue
        if used > limit:
            raise PlanLimitReached(
                f"The {plan.name} plan allows {limit} {LIMIT_LABELS[name]}; this organization "
                f"has {used}. Remove some first, or choose a larger plan.",
                field="plan",
                limit_name=name,
                limit=limit,
                current=used,
                plan=plan.code,
                upgrade_url=entitlements.upgrade_url(tenant),
            )


def _provider(subscription: Subscription) -> BillingProvider:
    if not is_self_serve(subscription):
        raise BillingRuleBroken(
            "This organization is invoiced by contract: talk to us to change it."
        )
    return provider_for(subscription.provider)


def _require_provider_subscription(subscription: Subscription) -> None:
    if not has_provider_subscription(subscription):
        raise BillingRuleBroken("There is no paid subscription yet: choose a plan first.")


def _plan_terms(subscription: Subscription) -> dict[str, Any]:
    """What an owner's change can change, as the audit log compares it."""
    price = subscription.price
    return {
        "plan": subscription.plan.code,
        "interval": price.interval if price else None,
        "status": subscription.status,
        "cancel_at_period_end": subscription.cancel_at_period_end,
    }


def _apply(
    subscription: Subscription, state: SubscriptionState, *, by: Any, action: str, **noted: Any
) -> Subscription:
    """Store what the provider answered, with its audit row (`action`, and `noted` values
    such as a coupon code); the subscription as it now is."""
    before = _plan_terms(subscription)
    with transaction.atomic():
        applied = subscription_apply_state(
            provider=subscription.provider, state=state, occurred_at=timezone.now(), actor=by
        )
        subscription.refresh_from_db()
        after = _plan_terms(subscription)
        changes: dict[str, Any] = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        changes.update({k: [None, v] for k, v in noted.items()})
        audit_record(
            action=f"billing.{action}",
            target=("subscription", subscription.pk, subscription.plan.name),
            changes=changes,
            actor=by,
            tenant=subscription.organization,
        )
    return applied or subscription


def subscription_checkout_url(
    *,
    subscription: Subscription,
    by: Any,
    plan_code: str,
    interval: str,
    currency: str,
    success_url: str,
    cancel_url: str,
    coupon: str = "",
) -> str:
    """Where the owner pays for a first paid plan, for every member's seat.

    Only when the organization has no subscription at the provider yet (a trial, Free, or
    one that ended); a running one changes its price instead (`subscription_price_change`).
    """
    provider = _provider(subscription)
    if has_provider_subscription(subscription):
        raise BillingRuleBroken(
            "This organization already pays for a plan: change it instead of checking out."
        )
    price = price_offered(
        tenant=subscription.organization,
        plan_code=plan_code,
        interval=interval,
        currency=currency,
    )
    plan_fits(tenant=subscription.organization, plan=price.plan)
    quantity = seat_count_billable(tenant=subscription.organization)
    url = provider.checkout_url(
        subscription=subscription,
        price=price,
        quantity=quantity,
        success_url=success_url,
        cancel_url=cancel_url,
        coupon=coupon.strip(),
        customer_email=getattr(by, "email", "") or "",
    )
    log.info(
        "billing.checkout_started",
        org=subscription.organization_id,
        plan=price.plan.code,
        interval=price.interval,
        seats=quantity,
    )
    return url


def subscription_price_change(
    *, subscription: Subscription, by: Any, plan_code: str, interval: str
) -> Subscription:
    """Move a running subscription to another plan or interval in its currency, prorated."""
    provider = _provider(subscription)
    _require_provider_subscription(subscription)
    price = price_offered(
        tenant=subscription.organization,
        plan_code=plan_code,
        interval=interval,
        currency=subscription.currency,
    )
    if price.pk == subscription.price_id:
        raise BillingRuleBroken(
            f"The organization is already on {price.plan.name}, billed "
            f"{Interval(price.interval).label.lower()}.",
            field="plan",
        )
    plan_fits(tenant=subscription.organization, plan=price.plan)
    state = provider.change_price(
        subscription=subscription, price=price, quantity=subscription.quantity
    )
    log.info(
        "billing.price_changed",
        org=subscription.organization_id,
        plan=price.plan.code,
        interval=price.interval,
    )
    return _apply(subscription, state, by=by, action="plan_changed")


def subscription_interval_switch(*, subscription: Subscription, by: Any) -> Subscription:
    """Bill the same plan yearly instead of monthly, or monthly instead of yearly."""
    _require_provider_subscription(subscription)
    current = subscription.price.interval if subscription.price else Interval.MONTH
    other = Interval.YEAR if current == Interval.MONTH else Interval.MONTH
    return subscription_price_change(
        subscription=subscription, by=by, plan_code=subscription.plan.code, interval=other
    )


def subscription_cancel(*, subscription: Subscription, by: Any) -> Subscription:
    """Stop renewing: the plan stays until the paid period ends, then the organization is Free."""
    provider = _provider(subscription)
    _require_provider_subscription(subscription)
    if subscription.cancel_at_period_end:
        raise BillingRuleBroken("The subscription already ends with this period.")
    state = provider.cancel_at_period_end(subscription=subscription)
    log.info("billing.cancel_scheduled", org=subscription.organization_id)
    return _apply(subscription, state, by=by, action="cancel_scheduled")


def subscription_resume(*, subscription: Subscription, by: Any) -> Subscription:
    """Undo a scheduled cancellation: the subscription renews again."""
    provider = _provider(subscription)
    _require_provider_subscription(subscription)
    if not subscription.cancel_at_period_end:
        raise BillingRuleBroken("The subscription is not set to end: nothing to resume.")
    state = provider.resume(subscription=subscription)
    log.info("billing.resumed", org=subscription.organization_id)
    return _apply(subscription, state, by=by, action="resumed")


def subscription_coupon_apply(*, subscription: Subscription, by: Any, coupon: str) -> Subscription:
    """Apply a coupon (promotion code) to the running subscription."""
    code = coupon.strip()
    if not code:
        raise PlanNotOffered("Enter a coupon code.", field="coupon")
    if len(code) > 80:
        raise PlanNotOffered("A coupon code has at most 80 characters.", field="coupon")
    provider = _provider(subscription)
    _require_provider_subscription(subscription)
    state = provider.apply_coupon(subscription=subscription, coupon=code)
    log.info("billing.coupon_applied", org=subscription.organization_id)
    return _apply(subscription, state, by=by, action="coupon_applied", coupon=code)


def subscription_portal_url(*, subscription: Subscription, return_url: str) -> str:
    """The provider's customer portal (cards, billing address, past invoices)."""
    provider = _provider(subscription)
    if not subscription.provider_customer_id:
        raise BillingRuleBroken(
            "The payment portal opens once the organization has paid for a plan."
        )
    return provider.portal_url(subscription=subscription, return_url=return_url)
