"""The interface every payment provider implements, and the provider-neutral shapes it returns.

A provider module turns the product's requests (check out, change seats, cancel...) into its
SDK's calls, and its webhooks into `ProviderUpdate`s: the subscription or invoice state the
event reports, stamped with the provider's own time. `billing.services` applies those the
same way for every provider, so nothing outside `billing/providers/` knows an SDK.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing.models import Price, Subscription


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription as the provider holds it."""

    subscription_id: str
    customer_id: str
    # One of billing.models.Subscription.Status's values.
    status: str
    # The provider's id of the price the seats are billed at.
    price_id: str
    quantity: int
    current_period_start: dt.datetime | None = None
    current_period_end: dt.datetime | None = None
    cancel_at_period_end: bool = False
    trial_ends_at: dt.datetime | None = None
    coupon: str = ""
    # Our organization's id, as we gave it to the provider at checkout (metadata/custom data).
    organization_id: int | None = None


@dataclass(frozen=True)
class InvoiceState:
    """An invoice (Paddle: a transaction) as the provider holds it."""

    invoice_id: str
    subscription_id: str
    customer_id: str
    # One of billing.models.Invoice.Status's values.
    status: str
    currency: str
    subtotal: int
    tax: int
    total: int
    amount_paid: int
    number: str = ""
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None
    issued_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    hosted_url: str = ""
    pdf_url: str = ""
    # The provider reported that collecting it failed (a failed payment).
    payment_failed: bool = False
    organization_id: int | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook delivery, before it is stored."""

    event_id: str
    event_type: str
    occurred_at: dt.datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class ProviderUpdate:
    """What one event says happened, in the product's terms (empty when nothing we track)."""

    # The provider's own time of the event: state older than what is stored is never applied.
    occurred_at: dt.datetime
    subscription: SubscriptionState | None = None
    invoice: InvoiceState | None = None
    # The subscription's checkout completed (a first subscription of the organization).
    checkout_completed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class BillingProvider(abc.ABC):
    """One payment provider. Methods raise billing.exceptions.ProviderError on its refusals."""

    code: str

    @abc.abstractmethod
    def ensure_price(self, *, price: Price) -> str:
        """Create (or find) `price` and its plan's product at the provider; return its id.

        Idempotent: `billing_sync_catalog` calls it for every active price and stores the id
        in `price.provider_ids[code]`.
        """

    @abc.abstractmethod
    def checkout_url(
        self,
        *,
        subscription: Subscription,
        price: Price,
        quantity: int,
        success_url: str,
        cancel_url: str,
        coupon: str = "",
        customer_email: str = "",
    ) -> str:
        """Where to send the buyer to pay for `quantity` seats at `price`."""

    @abc.abstractmethod
    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        """The provider's customer portal for the organization (cards, invoices, address)."""

    @abc.abstractmethod
    def change_price(
        self, *, subscription: Subscription, price: Price, quantity: int
    ) -> SubscriptionState:
        """Move the paid subscription to `price` (another plan or interval), prorated."""

    @abc.abstractmethod
    def set_quantity(
        self, *, subscription: Subscription, quantity: int, idempotency_key: str
    ) -> SubscriptionState:
        """Bill `quantity` seats from now on, prorated; safe to repeat with the same key."""

    @abc.abstractmethod
    def cancel_at_period_end(self, *, subscription: Subscription) -> SubscriptionState:
        """Stop renewing: the subscription ends when the paid period does."""

    @abc.abstractmethod
    def resume(self, *, subscription: Subscription) -> SubscriptionState:
        """Undo a scheduled cancellation."""

    @abc.abstractmethod
    def apply_coupon(self, *, subscription: Subscription, coupon: str) -> SubscriptionState:
        """Apply a coupon (promotion code) to the paid subscription."""

    @abc.abstractmethod
    def fetch(self, *, subscription: Subscription) -> SubscriptionState:
        """The subscription as the provider holds it now (for reconciliation)."""

    @abc.abstractmethod
    def fetch_invoices(self, *, subscription: Subscription) -> list[InvoiceState]:
        """The subscription's invoices as the provider holds them now."""

    @abc.abstractmethod
    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Check the delivery's signature and return the event; InvalidSignature otherwise."""

    @abc.abstractmethod
    def interpret(self, *, event_type: str, payload: dict[str, Any]) -> ProviderUpdate | None:
        """What a stored event means for us; None for event types we do not track."""
