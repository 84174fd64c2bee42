"""Operators' writes: a subscription changed by hand, custom plans, manual invoicing, invoices.

These are what the operator admin calls. Each one validates first, then changes the
subscription in one transaction through `subscriptions._change`, so the history row the
finance figures read is written beside the change, with the operator as its actor. The
manual provider (`billing.providers.manual`) uses the same functions without an actor: for
an organization on manual invoicing, our own records are the contract.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from billing.exceptions import BillingRuleBroken
from billing.models import (
    FEATURES,
    LIMITS,
    Interval,
    Invoice,
    Plan,
    Price,
    Provider,
    Subscription,
    SubscriptionChange,
)
from billing.providers.base import InvoiceState
from billing.services.subscriptions import FREE_PLAN, _change, invoice_apply_state
from billing.standing import standing_forget
from tenants.models import Tenant
from tenants.services import tenant_restore

log = structlog.get_logger(__name__)

Kind = SubscriptionChange.Kind
Status = Subscription.Status

# What a history row records: a change of any of these writes one.
_TRACKED = ("provider", "plan_id", "price_id", "quantity", "status")


def manual_subscription_id(organization_id: int) -> str:
    """The id a manual contract goes by where a provider's subscription id would be."""
    return f"man_sub_{organization_id}"


def manual_price_id(price: Price) -> str:
    """The id a price goes by for manual invoicing (there is no provider to hold it)."""
    return f"man_pri_{price.pk}"


def _locked(subscription: Subscription) -> Subscription:
    """The subscription re-read under a row lock, so concurrent changes queue behind this one."""
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("organization", "plan", "price")
        .get(pk=subscription.pk)
    )


def _snapshot(subscription: Subscription) -> dict[str, Any]:
    return {name: getattr(subscription, name) for name in _TRACKED}


def _kind_of(before: Mapping[str, Any], subscription: Subscription) -> str:
    after = _snapshot(subscription)
    changed = {name for name in _TRACKED if before[name] != after[name]}
    if changed == {"plan_id", "price_id"} or changed == {"plan_id"}:
        return Kind.PLAN_CHANGED
    if changed == {"price_id"}:
        return Kind.INTERVAL_CHANGED
    if changed == {"quantity"}:
        return Kind.SEATS_CHANGED
    return Kind.OPERATOR


def _check_price(plan: Plan, price: Price | None) -> None:
    if price is not None and price.plan_id != plan.pk:
        raise BillingRuleBroken(
            f"That price belongs to another plan than {plan.name}.", field="price"
        )


def _check_plan_for(subscription: Subscription, plan: Plan) -> None:
    if plan.organization_id is not None and plan.organization_id != subscription.organization_id:
        # A custom plan is one organization's contract; another may not be put on it.
        raise BillingRuleBroken("That custom plan is made for another organization.", field="plan")


def _check_provider_switch(subscription: Subscription, provider: str) -> None:
    """Refuse to leave a provider that still bills the organization.

    Its subscription there would keep charging the card, and its next webhook would find
    the organization again by the id we gave it and move it back.
    """
    # A trial taken at checkout is live too: the provider charges the card when it ends.
    live = subscription.status in (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE)
    if (
        provider != subscription.provider
        and subscription.provider != Provider.MANUAL
        and subscription.provider_subscription_id
        and live
    ):
        name = Provider(subscription.provider).label
        raise BillingRuleBroken(
            f"This organization still pays through {name}. Cancel its subscription there "
            "and wait until it has ended before switching the provider.",
            field="provider",
        )


def subscription_operator_change(
    *,
    subscription: Subscription,
    by: Any,
    plan: Plan | None = None,
    price: Price | None = None,
    clear_price: bool = False,
    quantity: int | None = None,
    status: str | None = None,
    provider: str | None = None,
    cancel_at_period_end: bool | None = None,
    coupon: str | None = None,
    trial_ends_at: dt.datetime | None = None,
    note: str = "",
) -> Subscription:
    """Change what an operator (or the contract, when `by` is None) may change by hand.

    Arguments left None stay as they are. Each change of plan, price, seats, status,
    provider or trial end leaves one history row naming `by`; a change that changes nothing
    writes none. Past due is not set by hand (only a failed payment starts dunning), and
    a canceled or free organization is on the Free plan, as after a provider's cancellation.
    """
    if quantity is not None and quantity < 1:
        raise BillingRuleBroken("A subscription bills at least one seat.", field="quantity")
    if status is not None and status not in Status.values:
        raise BillingRuleBroken(f"Unknown status {status!r}.", field="status")
    if provider is not None and provider not in Provider.values:
        raise BillingRuleBroken(f"Unknown provider {provider!r}.", field="provider")
    with transaction.atomic():
        subscription = _locked(subscription)
        before = _snapshot(subscription)
        before_cancel = subscription.cancel_at_period_end
        before_trial = subscription.trial_ends_at
        if status == Status.PAST_DUE and subscription.status != Status.PAST_DUE:
            raise BillingRuleBroken(
                "Past due starts from a failed payment, not by hand.", field="status"
            )
        if status in (Status.CANCELED, Status.FREE):
            plan, price, clear_price = Plan.objects.get(code=FREE_PLAN), None, True
        if plan is not None:
            _check_plan_for(subscription, plan)
            if plan.pk != subscription.plan_id:
                subscription.plan = plan
                # A price of the old plan cannot bill the new one.
                if price is None and subscription.price is not None:
                    subscription.price = None
        if clear_price:
            subscription.price = None
        elif price is not None:
            _check_price(subscription.plan, price)
            subscription.price = price
            subscription.currency = price.currency
        if quantity is not None:
            subscription.quantity = quantity
        if provider is not None and provider != subscription.provider:
            _check_provider_switch(subscription, provider)
            subscription.provider = provider
            # The ids of the old provider mean nothing to the new one (and with none, a
            # trial still ends as our own trials do).
            subscription.provider_customer_id = ""
            subscription.provider_subscription_id = ""
            subscription.provider_updated_at = None
            subscription.synced_quantity = None
        dunning_before = subscription.dunning
        if status is not None and status != subscription.status:
            subscription.status = status
            if status != Status.PAST_DUE:
                # Out of past due by hand: dunning ends as a payment would end it.
                subscription.past_due_since = None
                subscription.dunning = Subscription.Dunning.NONE
        if cancel_at_period_end is not None:
            subscription.cancel_at_period_end = cancel_at_period_end
        if coupon is not None:
            subscription.coupon = coupon
        if trial_ends_at is not None and trial_ends_at != before_trial:
            subscription.trial_ends_at = trial_ends_at
            # A trial made longer earns its reminder again, three days before its new end.
            subscription.trial_reminder_sent_at = None
        trial_moved = subscription.trial_ends_at != before_trial
        if subscription.status == Status.TRIALING and (
            subscription.trial_ends_at is None
            or (subscription.trial_ends_at <= timezone.now() and (trial_moved or status))
        ):
            raise BillingRuleBroken("A trial needs an end in the future.", field="trial_ends_at")
        if _snapshot(subscription) != before:
            _change(subscription, _kind_of(before, subscription), actor=by, note=note)
        elif subscription.cancel_at_period_end != before_cancel:
            kind = Kind.CANCEL_SCHEDULED if subscription.cancel_at_period_end else Kind.RESUMED
            _change(subscription, kind, actor=by, note=note)
        elif trial_moved and subscription.trial_ends_at is not None:
            ends = f"{subscription.trial_ends_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
            _change(subscription, Kind.OPERATOR, actor=by, note=note or f"Trial ends {ends}")
        else:
            subscription.save()
        tenant = subscription.organization
        if subscription.dunning != dunning_before:
            standing_forget(tenant)  # the banner and the read-only gate read it again
            if dunning_before == Subscription.Dunning.SUSPENDED and tenant.is_suspended:
                tenant_restore(tenant=tenant)
    log.info(
        "billing.operator_change",
        org=subscription.organization_id,
        by=getattr(by, "pk", None),
        plan=subscription.plan.code,
        provider=subscription.provider,
        status=subscription.status,
    )
    return subscription


def _clean_limits(limits: Mapping[str, Any]) -> dict[str, int | None]:
    cleaned: dict[str, int | None] = {}
    for name in LIMITS:
        value = limits.get(name)
        if value is None or value == "":
            cleaned[name] = None
            continue
        number = int(value)
        if number < 0:
            raise BillingRuleBroken("A limit is 0 or more (empty is unlimited).", field=name)
        cleaned[name] = number
    return cleaned


def _clean_features(features: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(features) - set(FEATURES)
    if unknown:
        raise BillingRuleBroken(f"Unknown features: {', '.join(sorted(unknown))}.")
    return {name: value for name, value in features.items() if value}


def _custom_code(tenant: Tenant) -> str:
    base = f"custom-{slugify(tenant.slug)}"[:50]
    taken = set(Plan.objects.filter(code__startswith=base).values_list("code", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def plan_custom_create(
    *,
    organization: Tenant,
    by: Any,
    name: str,
    limits: Mapping[str, Any],
    features: Mapping[str, Any],
    unit_amount: int,
    currency: str,
    interval: str = Interval.MONTH,
    description: str = "",
    note: str = "",
) -> Subscription:
    """Make a plan of the organization's own (its limits and per-seat price) and put it on it.

    The plan is never public and is offered to no one else. The subscription moves to it
    at that price, keeping its status and provider; the history row names the operator.
    """
    if unit_amount < 0:
        raise BillingRuleBroken("A price is 0 or more.", field="unit_amount")
    if interval not in Interval.values:
        raise BillingRuleBroken(f"Unknown interval {interval!r}.", field="interval")
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise BillingRuleBroken("A currency is a three-letter ISO code.", field="currency")
    if not name.strip():
        raise BillingRuleBroken("A custom plan needs a name.", field="name")
    clean_limits = _clean_limits(limits)
    clean_features = _clean_features(features)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(organization=organization)
        top = Plan.objects.filter(organization__isnull=True).aggregate(rank=Max("rank"))["rank"]
        plan = Plan.objects.create(
            code=_custom_code(organization),
            name=name.strip(),
            description=description,
            rank=top or 0,
            is_public=False,
            contact_sales=True,
            limits=clean_limits,
            features=clean_features,
            organization=organization,
        )
        price = Price.objects.create(
            plan=plan, interval=interval, currency=currency, unit_amount=unit_amount
        )
        price.provider_ids = {Provider.MANUAL.value: manual_price_id(price)}
        price.save(update_fields=["provider_ids"])
        subscription = subscription_operator_change(
            subscription=subscription,
            by=by,
            plan=plan,
            price=price,
            note=note or f"Custom plan {plan.code}",
        )
    log.info("billing.custom_plan_created", org=organization.slug, plan=plan.code)
    return subscription


def subscription_manual_invoicing(
    *,
    subscription: Subscription,
    by: Any,
    contract_seats: int,
    payment_terms_days: int,
    plan: Plan | None = None,
    price: Price | None = None,
    note: str = "",
) -> Subscription:
    """Put the organization on manual invoicing: a contract for `contract_seats` seats,
    invoiced by hand and due `payment_terms_days` after issue; it is active from now on."""
    if contract_seats < 1:
        raise BillingRuleBroken("A contract is for at least one seat.", field="contract_seats")
    if payment_terms_days < 0 or payment_terms_days > 365:
        raise BillingRuleBroken(
            "Payment terms are between 0 and 365 days.", field="payment_terms_days"
        )
    with transaction.atomic():
        subscription = _locked(subscription)
        target_plan = plan or subscription.plan
        _check_plan_for(subscription, target_plan)
        _check_price(target_plan, price)
        if price is None and subscription.price is not None:
            price = subscription.price if subscription.price.plan_id == target_plan.pk else None
        if price is None:
            hint = (
                ""
                if target_plan.prices.exists()
                else f" {target_plan.name} has none: give the organization a custom plan first."
            )
            raise BillingRuleBroken(
                "Choose the price per seat the contract bills at." + hint, field="price"
            )
        subscription.contract_seats = contract_seats
        subscription.payment_terms_days = payment_terms_days
        if subscription.current_period_start is None:
            subscription.current_period_start = timezone.now()
        subscription.save(
            update_fields=[
                "contract_seats",
                "payment_terms_days",
                "current_period_start",
                "updated_at",
            ]
        )
        status = None if subscription.status == Status.PAST_DUE else Status.ACTIVE
        subscription = subscription_operator_change(
            subscription=subscription,
            by=by,
            plan=target_plan,
            price=price,
            quantity=contract_seats,
            provider=Provider.MANUAL,
            status=status,
            note=note or f"Manual invoicing: {contract_seats} seats, {payment_terms_days} days",
        )
        # The contract is the subscription now: it goes by an id of ours.
        subscription.provider_subscription_id = manual_subscription_id(subscription.organization_id)
        subscription.save(update_fields=["provider_subscription_id", "updated_at"])
    return subscription


def _next_number(subscription: Subscription, issued_at: dt.datetime) -> str:
    slug = subscription.organization.slug.upper()
    prefix = f"{slug}-{issued_at:%Y}-"
    numbers = Invoice.objects.filter(
        organization_id=subscription.organization_id,
        provider=Provider.MANUAL,
        number__startswith=prefix,
    ).values_list("number", flat=True)
    last = max((int(n[len(prefix) :]) for n in numbers if n[len(prefix) :].isdigit()), default=0)
    return f"{prefix}{last + 1:04d}"


def invoice_issue(
    *,
    subscription: Subscription,
    by: Any,
    subtotal: int,
    tax: int = 0,
    currency: str = "",
    period_start: dt.datetime | None = None,
    period_end: dt.datetime | None = None,
    number: str = "",
    issued_at: dt.datetime | None = None,
) -> Invoice:
    """Issue an open invoice to an organization on manual invoicing, due after its terms.

    Without a number, the next of the organization's own series is used (ALPHA-2026-0001).
    """
    if subscription.provider != Provider.MANUAL:
        raise BillingRuleBroken(
            "Only an organization on manual invoicing is invoiced by hand; "
            "its provider issues the invoices otherwise."
        )
    if subtotal < 0:
        raise BillingRuleBroken("An amount is 0 or more.", field="subtotal")
    if tax < 0:
        raise BillingRuleBroken("An amount is 0 or more.", field="tax")
    if period_start and period_end and period_end < period_start:
        raise BillingRuleBroken("The period ends after it starts.", field="period_end")
    currency = (currency or subscription.currency).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise BillingRuleBroken("A currency is a three-letter ISO code.", field="currency")
    issued = issued_at or timezone.now()
    try:
        with transaction.atomic():
            subscription = _locked(subscription)
            number = number.strip() or _next_number(subscription, issued)
            if Invoice.objects.filter(provider=Provider.MANUAL, number=number).exists():
                raise BillingRuleBroken(f"Invoice {number} exists already.", field="number")
            invoice = Invoice.objects.create(
                organization_id=subscription.organization_id,
                provider=Provider.MANUAL,
                provider_invoice_id=f"man_in_{number}",
                number=number,
                status=Invoice.Status.OPEN,
                currency=currency,
                subtotal=subtotal,
                tax=tax,
                total=subtotal + tax,
                period_start=period_start,
                period_end=period_end,
                issued_at=issued,
                due_at=issued + dt.timedelta(days=subscription.payment_terms_days),
                provider_updated_at=issued,
                issued_by=by,
            )
    except IntegrityError:
        raise BillingRuleBroken(f"Invoice {number} exists already.", field="number") from None
    log.info("billing.invoice_issued", org=subscription.organization.slug, number=number)
    return invoice


def invoice_state(invoice: Invoice, **changes: Any) -> InvoiceState:
    """A stored manual invoice in the provider-neutral shape, with `changes` made to it."""
    state = InvoiceState(
        invoice_id=invoice.provider_invoice_id,
        subscription_id=manual_subscription_id(invoice.organization_id),
        customer_id="",
        status=invoice.status,
        currency=invoice.currency,
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        amount_paid=invoice.amount_paid,
        number=invoice.number,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        issued_at=invoice.issued_at,
        due_at=invoice.due_at,
        paid_at=invoice.paid_at,
        organization_id=invoice.organization_id,
    )
    return dataclasses.replace(state, **changes)


def invoice_mark_paid(*, invoice: Invoice, by: Any, paid_at: dt.datetime | None = None) -> Invoice:
    """Record that a manual invoice was paid in full; any dunning it had caused ends at once.

    The payment goes through the same path as a provider's "paid" event, so a past-due,
    read-only or suspended organization is restored exactly as a card payment restores it;
    every history row that writes names the operator.
    """
    if invoice.provider != Provider.MANUAL:
        raise BillingRuleBroken(
            "Only manual invoices are marked paid here; the provider reports its own payments."
        )
    if invoice.status == Invoice.Status.PAID:
        return invoice
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
        raise BillingRuleBroken(f"A {invoice.get_status_display().lower()} invoice is not due.")
    now = timezone.now()
    paid = paid_at or now
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(
            organization_id=invoice.organization_id
        )
        last = (
            SubscriptionChange.objects.filter(organization_id=invoice.organization_id).aggregate(
                last=Max("pk")
            )["last"]
            or 0
        )
        state = invoice_state(
            invoice,
            subscription_id=subscription.provider_subscription_id
            or manual_subscription_id(invoice.organization_id),
            status=Invoice.Status.PAID,
            amount_paid=invoice.total,
            paid_at=paid,
        )
        # Stamped now (not at the payment's date) so the state is never older than the issue.
        applied = invoice_apply_state(provider=Provider.MANUAL, state=state, occurred_at=now)
        if applied is None:
            raise BillingRuleBroken("The invoice's organization has no subscription.")
        applied.issued_by = applied.issued_by or by
        applied.save(update_fields=["issued_by"])
        # The subscription is locked above, so the rows after `last` are this payment's own.
        SubscriptionChange.objects.filter(
            organization_id=invoice.organization_id, pk__gt=last, actor__isnull=True
        ).update(actor=by)
    log.info("billing.invoice_marked_paid", org=invoice.organization_id, number=invoice.number)
    return applied


def invoice_void(*, invoice: Invoice, by: Any) -> Invoice:
    """Withdraw an open manual invoice issued by mistake; it is kept, marked void, never due.

    A paid invoice is not voided (the payment happened); the organization's standing is not
    touched, since only a payment ends dunning.
    """
    if invoice.provider != Provider.MANUAL:
        raise BillingRuleBroken("Only manual invoices are voided here; the provider voids its own.")
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked.status == Invoice.Status.VOID:
            return locked
        if locked.status == Invoice.Status.PAID:
            raise BillingRuleBroken(f"Invoice {locked.number} is paid; it cannot be voided.")
        locked.status = Invoice.Status.VOID
        locked.provider_updated_at = timezone.now()
        locked.save(update_fields=["status", "provider_updated_at"])
    log.info(
        "billing.invoice_voided",
        org=locked.organization_id,
        number=locked.number,
        by=getattr(by, "pk", None),
    )
    return locked
