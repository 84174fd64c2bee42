"""The organization's Billing settings: its plan, seats and usage, the changes its owners
make (through the provider), and its invoices.

For members with the billing right (owners, the billing role, custom roles that grant
it); anyone else gets the forbidden page with the reason.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing import entitlements
from billing.exceptions import ProviderError
from billing.forms import CouponForm, PlanForm
from billing.models import Invoice, Plan, Price, Subscription
from billing.services import changes
from iam.authz.guards import requires
from iam.models import Membership
from problems.exceptions import DomainError
from problems.forms import add_field_errors
from tenants.models import Tenant

log = structlog.get_logger(__name__)

INVOICES_SHOWN = 24  # two years of monthly invoices; the portal keeps the rest


def _subscription(tenant: Tenant) -> Subscription:
    subscription = (
        Subscription.objects.select_related("plan", "price", "organization")
        .filter(organization=tenant)
        .first()
    )
    if subscription is None:  # organizations made before billing existed start a trial
        from billing.services.subscriptions import trial_start

        subscription = trial_start(tenant=tenant)
    return subscription


def _currencies(subscription: Subscription) -> list[str]:
    if changes.has_provider_subscription(subscription):
        return [subscription.currency]
    found = sorted(set(Price.objects.filter(active=True).values_list("currency", flat=True)))
    # The organization's own currency first, so it is the form's default.
    return sorted(found, key=lambda c: c != subscription.currency)


def _plan_form(subscription: Subscription, plans: list[Plan], data: Any = None) -> PlanForm:
    choices = [(p.code, p.name) for p in plans if not p.contact_sales]
    initial = {
        "plan": subscription.plan.code,
        "interval": subscription.price.interval if subscription.price else "month",
        "currency": subscription.currency,
    }
    return PlanForm(data, plans=choices, currencies=_currencies(subscription), initial=initial)


def _page(
    request: HttpRequest,
    subscription: Subscription,
    *,
    plan_form: PlanForm | None = None,
    coupon_form: CouponForm | None = None,
    status: int = 200,
) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    plans = changes.plans_offered(tenant=tenant)
    trial_days_left = None
    if subscription.status == Subscription.Status.TRIALING and subscription.trial_ends_at:
        left = subscription.trial_ends_at - timezone.now()
        trial_days_left = max(0, left.days + (1 if left.seconds else 0))
    context = {
        "subscription": subscription,
        "plans": plans,
        "trial_days_left": trial_days_left,
        "members": Membership.objects.filter(tenant=tenant, deactivated_at=None).count(),
        "usage": entitlements.usage(tenant),
        "invoices": list(Invoice.objects.filter(organization=tenant)[:INVOICES_SHOWN]),
        # What a period costs for the seats billed now (before tax and coupons).
        "period_total": subscription.price.unit_amount * subscription.quantity
        if subscription.price and subscription.is_paid
        else None,
        "at_provider": changes.has_provider_subscription(subscription),
        "self_serve": changes.is_self_serve(subscription),
        "plan_form": plan_form or _plan_form(subscription, plans),
        "coupon_form": coupon_form or CouponForm(),
        # The pricing page's address for plans sold by contract.
        "sales_email": f"sales@{django_settings.BASE_DOMAIN}",
    }
    return render(request, "billing/settings/billing.html", context, status=status)


def _here(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("billing:settings"))


def _failed(request: HttpRequest, exc: DomainError) -> None:
    if isinstance(exc, ProviderError):
        log.warning("billing.provider_refused", org=request.tenant.pk, detail=exc.detail)  # type: ignore[attr-defined]
        messages.error(
            request, f"The payment provider could not do that: {exc.detail} Nothing was changed."
        )
    else:
        messages.error(request, exc.detail)


@login_required
@requires("admin.billing")
@require_GET
def billing_settings(request: HttpRequest) -> HttpResponse:
    """The organization's plan, seats, usage, period and invoices."""
    subscription = _subscription(request.tenant)  # type: ignore[attr-defined]
    if request.GET.get("checkout") == "done":
        messages.info(
            request,
            "Thank you: your payment is being confirmed; the plan shows here in a moment.",
        )
    return _page(request, subscription)


@login_required
@requires("admin.billing")
@require_POST
def plan_choose(request: HttpRequest) -> HttpResponse:
    """Buy a plan (off to the provider's checkout) or move a paid one to another plan."""
    tenant = request.tenant  # type: ignore[attr-defined]
    subscription = _subscription(tenant)
    form = _plan_form(subscription, changes.plans_offered(tenant=tenant), request.POST)
    if not form.is_valid():
        return _page(request, subscription, plan_form=form, status=400)
    data = form.cleaned_data
    try:
        if changes.has_provider_subscription(subscription):
            changes.subscription_price_change(
                subscription=subscription,
                by=request.user,
                plan_code=data["plan"],
                interval=data["interval"],
            )
        else:
            url = changes.subscription_checkout_url(
                subscription=subscription,
                by=request.user,
                plan_code=data["plan"],
                interval=data["interval"],
                currency=data["currency"] or subscription.currency,
                success_url=_here(request) + "?checkout=done",
                cancel_url=_here(request),
            )
            return redirect(url)
    except ProviderError as exc:
        _failed(request, exc)
        return redirect("billing:settings")
    except DomainError as exc:
        if not add_field_errors(form, exc):
            form.add_error(None, exc.detail)
        return _page(request, subscription, plan_form=form, status=exc.status)
    subscription.refresh_from_db()
    messages.success(request, f"The organization is now on {subscription.plan.name}.")
    return redirect("billing:settings")


def _action(request: HttpRequest, change: Any, done: str) -> HttpResponse:
    subscription = _subscription(request.tenant)  # type: ignore[attr-defined]
    try:
        change(subscription=subscription, by=request.user)
    except DomainError as exc:
        _failed(request, exc)
    else:
        messages.success(request, done)
    return redirect("billing:settings")


@login_required
@requires("admin.billing")
@require_POST
def subscription_cancel(request: HttpRequest) -> HttpResponse:
    return _action(
        request,
        changes.subscription_cancel,
        "The subscription ends with the current period; until then nothing changes.",
    )


@login_required
@requires("admin.billing")
@require_POST
def subscription_resume(request: HttpRequest) -> HttpResponse:
    return _action(request, changes.subscription_resume, "The subscription renews again.")


@login_required
@requires("admin.billing")
@require_POST
def interval_switch(request: HttpRequest) -> HttpResponse:
    return _action(
        request, changes.subscription_interval_switch, "The billing interval was changed."
    )


@login_required
@requires("admin.billing")
@require_POST
def coupon_apply(request: HttpRequest) -> HttpResponse:
    subscription = _subscription(request.tenant)  # type: ignore[attr-defined]
    form = CouponForm(request.POST)
    if not form.is_valid():
        return _page(request, subscription, coupon_form=form, status=400)
    try:
        changes.subscription_coupon_apply(
            subscription=subscription, by=request.user, coupon=form.cleaned_data["coupon"]
        )
    except ProviderError as exc:
        form.add_error("coupon", f"The payment provider refused it: {exc.detail}")
        return _page(request, subscription, coupon_form=form, status=400)
    except DomainError as exc:
        if not add_field_errors(form, exc):
            form.add_error(None, exc.detail)
        return _page(request, subscription, coupon_form=form, status=exc.status)
    messages.success(request, "The coupon was applied.")
    return redirect("billing:settings")


@login_required
@requires("admin.billing")
@require_POST
def portal_open(request: HttpRequest) -> HttpResponse:
    """Off to the provider's customer portal (cards, billing address), and back here."""
    subscription = _subscription(request.tenant)  # type: ignore[attr-defined]
    try:
        url = changes.subscription_portal_url(subscription=subscription, return_url=_here(request))
    except DomainError as exc:
        _failed(request, exc)
        return redirect("billing:settings")
    return redirect(url)
