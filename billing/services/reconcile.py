"""Reconciliation: what each provider says now, applied over what a lost webhook left wrong.

Webhooks can be lost (an outage on either side, a misconfigured endpoint). Every night each
subscription that lives at a provider is fetched again, with its invoices, and applied
through the same functions webhooks go through, as of now: the provider's present state is
newer than anything stored, and the usual rules (one history row per real change, dunning
started by a failed invoice and ended by a paid one) hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import structlog
from django.utils import timezone

from billing.exceptions import ProviderError
from billing.models import Invoice, Subscription
from billing.providers import provider_for

from .subscriptions import invoice_apply_state, subscription_apply_state

log = structlog.get_logger(__name__)

# What a repair is judged by: the fields a lost webhook would have left behind.
_WATCHED = ("plan_id", "price_id", "status", "quantity", "cancel_at_period_end", "dunning")
_INVOICE_WATCHED = ("status", "amount_paid", "total")


@dataclass
class Repair:
    """One organization's subscription as it was, and what reconciliation changed."""

    organization: str
    provider: str
    subscription_id: str
    changes: dict[str, tuple[object, object]] = field(default_factory=dict)
    invoices_added: list[str] = field(default_factory=list)
    invoices_changed: list[str] = field(default_factory=list)

    @property
    def repaired(self) -> bool:
        return bool(self.changes or self.invoices_added or self.invoices_changed)


@dataclass
class ReconcileReport:
    """What a reconciliation looked at, what it repaired, and what it could not reach."""

    checked: int = 0
    repairs: list[Repair] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def _snapshot(subscription: Subscription) -> dict[str, object]:
    return {name: getattr(subscription, name) for name in _WATCHED}


def _invoices(subscription: Subscription) -> dict[str, tuple[object, ...]]:
    rows = Invoice.objects.filter(
        organization_id=subscription.organization_id, provider=subscription.provider
    ).values_list("provider_invoice_id", *_INVOICE_WATCHED)
    return {row[0]: tuple(row[1:]) for row in rows}


def subscription_reconcile(*, subscription: Subscription, now: dt.datetime | None = None) -> Repair:
    """Fetch one subscription and its invoices from its provider and apply them as of now.

    Invoices go oldest first, so the newest one decides whether dunning stands. Raises
    ProviderError when the provider cannot answer (nothing is changed then).
    """
    now = now or timezone.now()
    provider = provider_for(subscription.provider)
    state = provider.fetch(subscription=subscription)
    invoices = provider.fetch_invoices(subscription=subscription)
    far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
    invoices.sort(key=lambda invoice: (invoice.issued_at or far_past, invoice.invoice_id))

    before = _snapshot(subscription)
    invoices_before = _invoices(subscription)
    subscription_apply_state(provider=subscription.provider, state=state, occurred_at=now)
    for invoice in invoices:
        invoice_apply_state(provider=subscription.provider, state=invoice, occurred_at=now)
    subscription.refresh_from_db()
    after = _snapshot(subscription)
    invoices_after = _invoices(subscription)

    repair = Repair(
        organization=subscription.organization.slug,
        provider=subscription.provider,
        subscription_id=subscription.provider_subscription_id,
        changes={
            name: (before[name], after[name]) for name in _WATCHED if before[name] != after[name]
        },
        invoices_added=sorted(set(invoices_after) - set(invoices_before)),
        invoices_changed=sorted(
            key
            for key in set(invoices_after) & set(invoices_before)
            if invoices_after[key] != invoices_before[key]
        ),
    )
    if repair.repaired:
        log.warning(
            "billing.reconcile_repaired",
            org=repair.organization,
            provider=repair.provider,
            changes={name: [str(old), str(new)] for name, (old, new) in repair.changes.items()},
            invoices_added=repair.invoices_added,
            invoices_changed=repair.invoices_changed,
        )
    return repair


def subscriptions_reconcile(
    *, provider: str | None = None, now: dt.datetime | None = None
) -> ReconcileReport:
    """Reconcile every subscription that lives at a provider (or at `provider` only).

    A provider that cannot answer for one subscription is reported and logged, and the
    others go on: one unreachable customer must not stop the night's repairs.
    """
    now = now or timezone.now()
    report = ReconcileReport()
    rows = Subscription.objects.exclude(provider_subscription_id="").select_related("organization")
    if provider is not None:
        rows = rows.filter(provider=provider)
    for subscription in rows.order_by("pk").iterator():
        report.checked += 1
        try:
            repair = subscription_reconcile(subscription=subscription, now=now)
        except ProviderError as exc:
            log.exception(
                "billing.reconcile_failed",
                org=subscription.organization.slug,
                provider=subscription.provider,
            )
            report.failures.append((subscription.organization.slug, str(exc)))
            continue
        if repair.repaired:
            report.repairs.append(repair)
    log.info(
        "billing.reconciled",
        checked=report.checked,
        repaired=len(report.repairs),
        failed=len(report.failures),
    )
    return report
