"""Manual invoicing: the provider for contracts sold by sales and invoiced by hand.

There is no one else holding the subscription: our own records are the contract. So there
is no checkout, no portal and no webhook; changes of plan, seats or renewal are written to
our records (through `billing.services.manual`) and the state returned is what they now say,
which makes applying it again (as reconciliation does) a change of nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from billing.exceptions import BillingRuleBroken, InvalidSignature, ProviderError
from billing.models import Invoice
from billing.services.manual import (
    invoice_state,
    manual_price_id,
    manual_subscription_id,
    subscription_operator_change,
)

from .base import BillingProvider, InvoiceState, ProviderEvent, ProviderUpdate, SubscriptionState

if TYPE_CHECKING:
    from billing.models import Price, Subscription


def _state(subscription: Subscription) -> SubscriptionState:

    price = subscription.price
    return SubscriptionState(
        subscription_id=subscription.provider_subscription_id
        or manual_subscription_id(subscription.organization_id),
        customer_id=subscription.provider_customer_id,
        status=subscription.status,
        price_id="" if price is None else price.provider_ids.get("manual", manual_price_id(price)),
        quantity=subscription.quantity,
        current_period_start=subscription.current_period_start,
        current_period_end=subscription.current_period_end,
        cancel_at_period_end=subscription.cancel_at_period_end,
        trial_ends_at=subscription.trial_ends_at,
        coupon=subscription.coupon,
        organization_id=subscription.organization_id,
    )


class ManualProvider(BillingProvider):
    """Contracts invoiced by hand; operators issue the invoices and mark them paid."""

    code = "manual"

    def ensure_price(self, *, price: Price) -> str:

        return manual_price_id(price)

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
        raise ProviderError(
            "This organization's plan is a contract handled by sales; there is no checkout. "
            "Contact your account manager to change it."
        )

    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        raise ProviderError(
            "This organization is invoiced by hand; its invoices are on the Billing page "
            "and its contract is handled by sales."
        )

    def change_price(
        self, *, subscription: Subscription, price: Price, quantity: int
    ) -> SubscriptionState:

        changed = subscription_operator_change(
            subscription=subscription,
            by=None,
            plan=price.plan,
            price=price,
            quantity=self._billed(subscription, quantity),
        )
        return _state(changed)

    def set_quantity(
        self, *, subscription: Subscription, quantity: int, idempotency_key: str
    ) -> SubscriptionState:

        # Setting the same count twice changes nothing, so the key needs no keeping.
        changed = subscription_operator_change(
            subscription=subscription, by=None, quantity=self._billed(subscription, quantity)
        )
        return _state(changed)

    def cancel_at_period_end(self, *, subscription: Subscription) -> SubscriptionState:

        changed = subscription_operator_change(
            subscription=subscription, by=None, cancel_at_period_end=True
        )
        return _state(changed)

    def resume(self, *, subscription: Subscription) -> SubscriptionState:

        if not subscription.cancel_at_period_end:
            raise BillingRuleBroken("The contract is not set to end; there is nothing to resume.")
        changed = subscription_operator_change(
            subscription=subscription, by=None, cancel_at_period_end=False
        )
        return _state(changed)

    def apply_coupon(self, *, subscription: Subscription, coupon: str) -> SubscriptionState:

        changed = subscription_operator_change(subscription=subscription, by=None, coupon=coupon)
        return _state(changed)

    def fetch(self, *, subscription: Subscription) -> SubscriptionState:
        return _state(subscription)

    def fetch_invoices(self, *, subscription: Subscription) -> list[InvoiceState]:
        invoices = Invoice.objects.filter(
            organization_id=subscription.organization_id, provider=self.code
        ).order_by("issued_at", "pk")
        return [invoice_state(invoice) for invoice in invoices]

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        raise InvalidSignature("Manual invoicing sends no webhooks; nothing is accepted.")

    def interpret(self, *, event_type: str, payload: dict[str, Any]) -> ProviderUpdate | None:
        return None

    @staticmethod
    def _billed(subscription: Subscription, quantity: int) -> int:
        """The seats billed: the contract's seats, or more when more are in use (a true-up)."""
        return max(1, subscription.contract_seats or 1, quantity)


PROVIDER = ManualProvider()
