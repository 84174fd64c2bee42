"""Writes of billing: trials, the provider's state applied, dunning, and the history they leave.

Every change of a subscription goes through `_change`, which saves it and appends the
`SubscriptionChange` row the finance figures are computed from, in one transaction.
Provider states are applied only when newer (by the provider's clock) than what is stored,
so events that arrive late or twice never roll a subscription back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from billing.models import Invoice, Plan, Price, Provider, Subscription, SubscriptionChange
from billing.providers.base import InvoiceState, SubscriptionState
from billing.standing import standing_forget
from iam.authz.holders import member_list_with_permission
from tenants.models import Tenant
from tenants.services import tenant_restore, tenant_suspend, tenant_url

log = structlog.get_logger(__name__)

TRIAL_PLAN = "growth"
FREE_PLAN = "free"

Kind = SubscriptionChange.Kind
Status = Subscription.Status
Dunning = Subscription.Dunning


def mrr_of(subscription: Subscription) -> int:
    """The monthly recurring revenue the subscription brings now, in minor units."""
    if subscription.status not in (Status.ACTIVE, Status.PAST_DUE):
        return 0
    if subscription.provider == Provider.MANUAL and subscription.price is None:
        return 0
    if subscription.price is None:
        return 0
    return subscription.price.monthly_amount * subscription.quantity


def _change(
    subscription: Subscription,
    kind: str,
    *,
    at: dt.datetime | None = None,
    actor: Any = None,
    note: str = "",
) -> SubscriptionChange:
    """Save `subscription` and append the history row of this change (call in a transaction)."""
    subscription.save()
    return SubscriptionChange.objects.create(
        organization_id=subscription.organization_id,
        kind=kind,
        effective_at=at or timezone.now(),
        plan=subscription.plan,
        status=subscription.status,
        quantity=subscription.quantity,
        currency=subscription.currency,
        mrr=mrr_of(subscription),
        actor=actor,
        note=note[:300],
    )


def billing_recipients(tenant: Tenant) -> list[str]:
    """The addresses of the people who hear about the organization's bills: its members
    with the billing right (owners, the billing role, custom roles that grant it)."""
    return list(
        member_list_with_permission(tenant=tenant, permission="admin.billing")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


def _open_invoice_url(tenant: Tenant) -> str:
    """The provider's page for paying the organization's latest open invoice, if it has one:
    a suspended organization's own pages are closed, so its owners pay there."""
    url = (
        Invoice.objects.filter(organization=tenant, status=Invoice.Status.OPEN)
        .exclude(hosted_url="")
        .values_list("hosted_url", flat=True)
        .first()
    )
    return url or ""


def _mail(tenant: Tenant, template: str, context: dict[str, Any]) -> None:
    """Send billing mail `template` to the organization's owners once the transaction commits."""
    recipients = billing_recipients(tenant)
    if not recipients:
        return
    billing_url = tenant_url(tenant, "/settings/billing/")
    context = {
        "organization": tenant.name,
        "billing_url": billing_url,
        "pay_url": _open_invoice_url(tenant) or billing_url,
        **context,
    }
    subject = render_to_string(f"billing/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"billing/email/{template}_message.txt", context)

    def send() -> None:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)

    transaction.on_commit(send, robust=True)


# Trials -----------------------------------------------------------------------------------


def trial_start(*, tenant: Tenant, at: dt.datetime | None = None) -> Subscription:
    """Give a new organization a trial of Growth, without a card, with the default provider."""
    now = at or timezone.now()
    plan = Plan.objects.get(code=TRIAL_PLAN)
    subscription = Subscription(
        organization=tenant,
        plan=plan,
        provider=settings.BILLING_DEFAULT_PROVIDER,
        status=Status.TRIALING,
        quantity=1,
        currency=settings.BILLING_DEFAULT_CURRENCY,
        trial_ends_at=now + dt.timedelta(days=plan.trial_days),
    )
    with transaction.atomic():
        _change(subscription, Kind.TRIAL_STARTED, at=now)
    return subscription


def _of(rows: Any, organization: Tenant | None) -> Any:
    """`rows` of one organization only, when one is named (a run for that organization)."""
    return rows if organization is None else rows.filter(organization=organization)


def trials_remind(*, now: dt.datetime | None = None, organization: Tenant | None = None) -> int:
    """E-mail the owners of each trial ending within the reminder window, once per trial.

    Only our own trials (no subscription at a provider yet): a trial taken at checkout has
    a payment method, and the provider charges it when the trial ends.
    """
    now = now or timezone.now()
    horizon = now + dt.timedelta(days=settings.BILLING_TRIAL_REMINDER_DAYS)
    sent = 0
    due = Subscription.objects.filter(
        status=Status.TRIALING,
        provider_subscription_id="",
        trial_ends_at__gt=now,
        trial_ends_at__lte=horizon,
        trial_reminder_sent_at__isnull=True,
    ).values_list("pk", flat=True)
    for pk in list(_of(due, organization)):
        with transaction.atomic():
            subscription = (
                Subscription.objects.select_for_update()
                .select_related("organization", "plan")
                .get(pk=pk)
            )
            if subscription.trial_reminder_sent_at is not None or (
                subscription.status != Status.TRIALING
            ):
                continue
            subscription.trial_reminder_sent_at = now
            subscription.save(update_fields=["trial_reminder_sent_at", "updated_at"])
            _mail(
                subscription.organization,
                "trial_ending",
                {"plan": subscription.plan.name, "ends_at": subscription.trial_ends_at},
            )
            sent += 1
    return sent


def trials_expire(*, now: dt.datetime | None = None, organization: Tenant | None = None) -> int:
    """Move each trial that ended unpaid to Free (it keeps working and keeps its data; only
    its limits change). A trial at a provider is left to the provider, whose charge (or
    cancellation) at the trial's end arrives as its state."""
    now = now or timezone.now()
    free = Plan.objects.get(code=FREE_PLAN)
    ended = 0
    due = Subscription.objects.filter(
        status=Status.TRIALING, provider_subscription_id="", trial_ends_at__lte=now
    )
    for pk in list(_of(due, organization).values_list("pk", flat=True)):
        with transaction.atomic():
            subscription = Subscription.objects.select_for_update().get(pk=pk)
            ends = subscription.trial_ends_at
            if (
                subscription.status != Status.TRIALING
                or subscription.provider_subscription_id
                or ends is None
                or ends > now
            ):
                continue
            subscription.plan = free
            subscription.price = None
            subscription.status = Status.FREE
            _change(subscription, Kind.TRIAL_ENDED, at=ends)
            ended += 1
    log.info("billing.trials_expired", count=ended)
    return ended


# The provider's state ---------------------------------------------------------------------


def _price_for(provider: str, price_id: str) -> Price | None:
    if not price_id:
        return None
    return (
        Price.objects.select_related("plan")
        .filter(**{f"provider_ids__{provider}": price_id})
        .first()
    )


def _subscription_for(
    provider: str, subscription_id: str, organization_id: int | None
) -> Subscription | None:
    """The stored subscription a provider state is about, locked for the change."""
    rows = Subscription.objects.select_for_update(of=("self",)).select_related("plan", "price")
    found = None
    # Trials have no provider id yet: an empty id must never match one of them.
    if subscription_id:
        found = rows.filter(provider=provider, provider_subscription_id=subscription_id).first()
    if found is None and organization_id is not None:
        found = rows.filter(organization_id=organization_id).first()
    return found


def _is_stale(subscription: Subscription, occurred_at: dt.datetime) -> bool:
    seen = subscription.provider_updated_at
    return seen is not None and occurred_at < seen


def subscription_apply_state(
    *,
    provider: str,
    state: SubscriptionState,
    occurred_at: dt.datetime,
    actor: Any = None,
) -> Subscription | None:
    """Make the stored subscription what the provider says it was at `occurred_at`.

    A state older than the last one applied is ignored. Returns the subscription, or None
    when the state is about no organization of ours (or was stale).
    """
    with transaction.atomic():
        subscription = _subscription_for(provider, state.subscription_id, state.organization_id)
        if subscription is None:
            log.warning("billing.unknown_subscription", provider=provider, id=state.subscription_id)
            return None
        if _is_stale(subscription, occurred_at):
            log.info("billing.stale_state", provider=provider, id=state.subscription_id)
            return None
        before = (
            subscription.plan_id,
            subscription.price_id,
            subscription.status,
            subscription.quantity,
            subscription.cancel_at_period_end,
        )
        first = subscription.provider_subscription_id != state.subscription_id
        price = _price_for(provider, state.price_id)
        subscription.provider = provider
        subscription.provider_subscription_id = state.subscription_id
        subscription.provider_customer_id = state.customer_id or subscription.provider_customer_id
        subscription.provider_updated_at = occurred_at
        subscription.current_period_start = state.current_period_start
        subscription.current_period_end = state.current_period_end
        subscription.cancel_at_period_end = state.cancel_at_period_end
        subscription.coupon = state.coupon
        dunning_reached: str | None = None
        if state.status == Status.CANCELED:
            subscription.plan = Plan.objects.get(code=FREE_PLAN)
            subscription.price = None
            subscription.status = Status.CANCELED
            subscription.cancel_at_period_end = False
            # Nothing more is billed (a provider cancels after its last retry failed): the
            # organization goes on free, and dunning, which waits for a payment, ends.
            dunning_reached = _dunning_clear(subscription)
            kind: str = Kind.CANCELED
        else:
            if price is not None:
                subscription.plan = price.plan
                subscription.price = price
                subscription.currency = price.currency
            subscription.quantity = max(1, state.quantity)
            subscription.synced_quantity = subscription.quantity
            subscription.trial_ends_at = state.trial_ends_at or subscription.trial_ends_at
            # Past due is dunning's: it starts below (or from a failed invoice) and only a
            # paid invoice ends it, so a late "active" never skips the payment.
            if state.status != Status.PAST_DUE and subscription.status != Status.PAST_DUE:
                subscription.status = state.status
            kind = _kind_of(before, subscription, first=first)
        after = (
            subscription.plan_id,
            subscription.price_id,
            subscription.status,
            subscription.quantity,
            subscription.cancel_at_period_end,
        )
        if before == after and not first:
            subscription.save()
        else:
            _change(subscription, kind, at=occurred_at, actor=actor)
        if state.status == Status.PAST_DUE:
            payment_failed(subscription=subscription, at=occurred_at)
        if dunning_reached is not None:
            _dunning_ended(subscription, reached=dunning_reached)
    log.info("billing.subscription_applied", provider=provider, org=subscription.organization_id)
    return subscription


def _kind_of(before: tuple[Any, ...], subscription: Subscription, *, first: bool) -> str:
    plan_id, price_id, status, quantity, cancel_at_period_end = before
    if first or status in (Status.TRIALING, Status.FREE, Status.CANCELED):
        return Kind.SUBSCRIBED
    if subscription.plan_id != plan_id:
        return Kind.PLAN_CHANGED
    if subscription.price_id != price_id:
        return Kind.INTERVAL_CHANGED
    if subscription.quantity != quantity:
        return Kind.SEATS_CHANGED
    if subscription.cancel_at_period_end and not cancel_at_period_end:
        return Kind.CANCEL_SCHEDULED
    if cancel_at_period_end and not subscription.cancel_at_period_end:
        return Kind.RESUMED
    return Kind.PLAN_CHANGED


def invoice_apply_state(
    *, provider: str, state: InvoiceState, occurred_at: dt.datetime
) -> Invoice | None:
    """Mirror an invoice; a failed payment starts dunning and a paid one ends it."""
    with transaction.atomic():
        subscription = _subscription_for(provider, state.subscription_id, state.organization_id)
        if subscription is None:
            log.warning(
                "billing.unknown_invoice_subscription", provider=provider, id=state.invoice_id
            )
            return None
        invoice = (
            Invoice.objects.select_for_update()
            .filter(provider=provider, provider_invoice_id=state.invoice_id)
            .first()
        )
        if (
            invoice is not None
            and invoice.provider_updated_at
            and occurred_at < invoice.provider_updated_at
        ):
            return invoice
        if invoice is None:
            invoice = Invoice(provider=provider, provider_invoice_id=state.invoice_id)
        invoice.organization_id = subscription.organization_id
        invoice.number = state.number or invoice.number
        invoice.status = state.status
        invoice.currency = state.currency.upper()
        invoice.subtotal = state.subtotal
        invoice.tax = state.tax
        invoice.total = state.total
        invoice.amount_paid = state.amount_paid
        invoice.period_start = state.period_start
        invoice.period_end = state.period_end
        invoice.issued_at = state.issued_at or invoice.issued_at or occurred_at
        invoice.due_at = state.due_at
        invoice.paid_at = state.paid_at or invoice.paid_at
        invoice.hosted_url = state.hosted_url or invoice.hosted_url
        invoice.pdf_url = state.pdf_url or invoice.pdf_url
        invoice.provider_updated_at = occurred_at
        failed_now = state.payment_failed and state.status != Invoice.Status.PAID
        if failed_now and invoice.payment_failed_at is None:
            invoice.payment_failed_at = occurred_at
        invoice.save()
        if failed_now:
            payment_failed(subscription=subscription, at=occurred_at)
        elif state.status == Invoice.Status.PAID:
            # When it was paid, not when we heard: an old invoice read again (by
            # reconciliation) never ends a failure that came after its payment.
            paid_at = state.paid_at or occurred_at
            payment_succeeded(subscription=subscription, at=min(paid_at, occurred_at))
    return invoice


# Dunning ----------------------------------------------------------------------------------


def payment_failed(*, subscription: Subscription, at: dt.datetime) -> None:
    """Mark the subscription past due (once), tell the owners and show the banner."""
    if subscription.past_due_since is not None:
        return
    subscription.status = Status.PAST_DUE
    subscription.past_due_since = at
    subscription.dunning = Dunning.WARNED
    _change(subscription, Kind.PAYMENT_FAILED, at=at)
    tenant = subscription.organization
    standing_forget(tenant)
    grace_ends = at + dt.timedelta(days=settings.BILLING_GRACE_DAYS)
    _mail(tenant, "payment_failed", {"read_only_at": grace_ends})
    log.info("billing.payment_failed", org=tenant.slug)


def payment_succeeded(*, subscription: Subscription, at: dt.datetime) -> None:
    """A payment went through: whatever dunning had reached is undone at once."""
    if subscription.past_due_since is None and subscription.dunning == Dunning.NONE:
        return
    if subscription.past_due_since is not None and at < subscription.past_due_since:
        return  # an older payment than the failure: the failure stands
    subscription.status = Status.ACTIVE
    reached = _dunning_clear(subscription) or Dunning.NONE
    _change(subscription, Kind.PAYMENT_RECOVERED, at=at)
    _dunning_ended(subscription, reached=reached)
    log.info("billing.payment_recovered", org=subscription.organization.slug)


def _dunning_clear(subscription: Subscription) -> str | None:
    """End dunning on the (unsaved) subscription; the step it had reached, or None if it
    was in good standing."""
    if subscription.past_due_since is None and subscription.dunning == Dunning.NONE:
        return None
    reached = str(subscription.dunning)
    subscription.past_due_since = None
    subscription.dunning = Dunning.NONE
    return reached


def _dunning_ended(subscription: Subscription, *, reached: str) -> None:
    """Once the end of dunning is saved: every process reads the standing again, and an
    organization that dunning suspended is restored."""
    tenant = subscription.organization
    standing_forget(tenant)
    if reached == Dunning.SUSPENDED and tenant.is_suspended:
        tenant_restore(tenant=tenant)


def dunning_advance(*, now: dt.datetime | None = None, organization: Tenant | None = None) -> int:
    """Take each past-due organization to read-only, then suspended, as its days run out.

    Idempotent (each step is taken once, under the row's lock), so the hourly task may run
    late or twice. An organization found past both periods at once goes straight to
    suspended. Returns how many organizations moved on.
    """
    now = now or timezone.now()
    read_only_after = dt.timedelta(days=settings.BILLING_GRACE_DAYS)
    suspend_after = dt.timedelta(days=settings.BILLING_SUSPEND_DAYS)
    moved = 0
    past_due = Subscription.objects.filter(
        past_due_since__isnull=False, past_due_since__lte=now - read_only_after
    ).exclude(dunning=Dunning.SUSPENDED)
    for pk in list(_of(past_due, organization).values_list("pk", flat=True)):
        with transaction.atomic():
            subscription = (
                Subscription.objects.select_for_update().select_related("organization").get(pk=pk)
            )
            since = subscription.past_due_since
            if since is None:
                continue
            tenant = subscription.organization
            if now - since >= suspend_after and subscription.dunning != Dunning.SUSPENDED:
                subscription.dunning = Dunning.SUSPENDED
                _change(subscription, Kind.SUSPENDED, at=since + suspend_after)
                standing_forget(tenant)
                tenant_suspend(tenant=tenant)
                _mail(tenant, "suspended", {})
                log.info("billing.dunning_suspended", org=tenant.slug)
                moved += 1
            elif now - since >= read_only_after and subscription.dunning == Dunning.WARNED:
                subscription.dunning = Dunning.READ_ONLY
                _change(subscription, Kind.READ_ONLY, at=since + read_only_after)
                standing_forget(tenant)
                _mail(tenant, "read_only", {"suspended_at": since + suspend_after})
                log.info("billing.dunning_read_only", org=tenant.slug)
                moved += 1
    return moved


def subscriptions_of(organizations: Iterable[Tenant]) -> dict[int, Subscription]:
    """The subscriptions of `organizations`, by organization id."""
    ids = [tenant.pk for tenant in organizations]
    return {
        subscription.organization_id: subscription
        for subscription in Subscription.objects.select_related("plan").filter(
            organization_id__in=ids
        )
    }
