"""Stripe, through the `stripe` SDK on Stripe's current API: prices, Checkout and the portal.

Seats are the quantity of the subscription's one item; the organization's id travels in the
subscription's metadata (and the Checkout session's `client_reference_id`), so an event about
a subscription we have not linked yet still finds its organization. `STRIPE_API_BASE` points
the SDK at the devstack's local Stripe; unset, it talks to Stripe itself.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import stripe
import structlog
from django.conf import settings

from billing.exceptions import BillingRuleBroken, InvalidSignature, ProviderError

from .base import BillingProvider, InvoiceState, ProviderEvent, ProviderUpdate, SubscriptionState

if TYPE_CHECKING:
    from billing.models import Price, Subscription

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Stripe's subscription statuses in ours; the ones missing (incomplete, paused) are a checkout
# still under way or a state the product does not offer, and change nothing here.
_STATUSES = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}
_INVOICE_STATUSES = {"draft", "open", "paid", "void", "uncollectible"}
_INVOICE_STAGES = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
INVOICE_EVENTS = (
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_succeeded",
    "invoice.voided",
    "invoice.marked_uncollectible",
)
# The events a Stripe webhook endpoint must be subscribed to (docs/operations.md lists them).
EVENTS = ("checkout.session.completed", *SUBSCRIPTION_EVENTS, *INVOICE_EVENTS)


@cache
def _client_for(api_key: str, base: str) -> stripe.StripeClient:
    addresses: dict[str, str] = {"api": base.rstrip("/")} if base else {}
    return stripe.StripeClient(
        api_key,
        base_addresses=addresses,  # type: ignore[arg-type]
        max_network_retries=2,
    )


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_API_KEY:
        raise ProviderError("Stripe is not configured (STRIPE_API_KEY is empty).")
    return _client_for(settings.STRIPE_API_KEY, settings.STRIPE_API_BASE)


def _call(what: str, request: Callable[[], T]) -> T:
    """Run one SDK request; Stripe's refusals and outages become ProviderError."""
    try:
        return request()
    except stripe.StripeError as exc:
        message = exc.user_message or str(exc) or type(exc).__name__
        log.warning("billing.stripe_error", call=what, error=message, status=exc.http_status)
        raise ProviderError(f"Stripe: {message}") from exc


def _dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj or {})


def _time(value: Any) -> dt.datetime | None:
    if value in (None, "", 0):
        return None
    return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)


def _id(value: Any) -> str:
    """An id whether Stripe sent the object expanded or just its id."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


def _organization(*metadatas: Any) -> int | None:
    for metadata in metadatas:
        if isinstance(metadata, Mapping):
            value = metadata.get("organization_id")
            if value not in (None, "") and str(value).isdigit():
                return int(value)
    return None


def subscription_state(data: Mapping[str, Any]) -> SubscriptionState | None:
    """Our reading of a Stripe subscription object (None while its checkout is unfinished)."""
    status = _STATUSES.get(str(data.get("status")))
    if status is None:
        return None
    items = (data.get("items") or {}).get("data") or [{}]
    item = items[0]
    price = item.get("price") or item.get("plan") or {}
    discount = data.get("discount") or next(iter(data.get("discounts") or []), None) or {}
    coupon = discount.get("coupon") if isinstance(discount, Mapping) else None
    start = item.get("current_period_start") or data.get("current_period_start")
    end = item.get("current_period_end") or data.get("current_period_end")
    return SubscriptionState(
        subscription_id=str(data["id"]),
        customer_id=_id(data.get("customer")),
        status=status,
        price_id=_id(price),
        quantity=int(item.get("quantity") or data.get("quantity") or 1),
        current_period_start=_time(start),
        current_period_end=_time(end),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        trial_ends_at=_time(data.get("trial_end")),
        coupon=_id(coupon),
        organization_id=_organization(data.get("metadata")),
    )


def invoice_state(data: Mapping[str, Any], *, payment_failed: bool = False) -> InvoiceState:
    """Our reading of a Stripe invoice object."""
    parent = (data.get("parent") or {}).get("subscription_details") or {}
    details = data.get("subscription_details") or {}
    subscription_id = _id(parent.get("subscription") or data.get("subscription"))
    status = str(data.get("status") or "draft")
    tax = data.get("tax")
    if tax is None:
        tax = sum(int(t.get("amount", 0)) for t in data.get("total_taxes") or [])
    transitions = data.get("status_transitions") or {}
    return InvoiceState(
        invoice_id=str(data["id"]),
        subscription_id=subscription_id,
        customer_id=_id(data.get("customer")),
        status=status if status in _INVOICE_STATUSES else "open",
        currency=str(data.get("currency") or "usd").upper(),
        subtotal=int(data.get("subtotal") or 0),
        tax=int(tax or 0),
        total=int(data.get("total") or 0),
        amount_paid=int(data.get("amount_paid") or 0),
        number=str(data.get("number") or ""),
        period_start=_time(data.get("period_start")),
        period_end=_time(data.get("period_end")),
        issued_at=_time(transitions.get("finalized_at") or data.get("created")),
        due_at=_time(data.get("due_date")),
        paid_at=_time(transitions.get("paid_at")),
        hosted_url=str(data.get("hosted_invoice_url") or ""),
        pdf_url=str(data.get("invoice_pdf") or ""),
        payment_failed=payment_failed,
        organization_id=_organization(parent.get("metadata"), details.get("metadata")),
    )


def lookup_key(price: Price) -> str:
    """The price's name at Stripe: a new amount is a new Stripe price (theirs never change)."""
    return f"mycrm_{price.plan.code}_{price.currency.lower()}_{price.interval}_{price.unit_amount}"


class StripeProvider(BillingProvider):
    """Subscriptions billed by Stripe."""

    code = "stripe"

    def ensure_price(self, *, price: Price) -> str:
        client = _client()
        key = lookup_key(price)
        found = _call(
            "prices.list",
            lambda: client.v1.prices.list(params={"lookup_keys": [key], "limit": 1}),
        )
        if found.data:
            return str(found.data[0].id)
        product_id = f"mycrm_{price.plan.code}"
        try:
            client.v1.products.retrieve(product_id)
        except stripe.InvalidRequestError:
            _call(
                "products.create",
                lambda: client.v1.products.create(
                    params={"id": product_id, "name": f"MyCRM {price.plan.name}"},
                    options={"idempotency_key": f"product-{product_id}"},
                ),
            )
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe: {exc.user_message or exc}") from exc
        created = _call(
            "prices.create",
            lambda: client.v1.prices.create(
                params={
                    "product": product_id,
                    "currency": price.currency.lower(),
                    "unit_amount": price.unit_amount,
                    "recurring": {"interval": price.interval},
                    "lookup_key": key,
                    "nickname": str(price),
                },
                options={"idempotency_key": f"price-{key}"},
            ),
        )
        return str(created.id)

    def _price_id(self, price: Price) -> str:
        return str(price.provider_ids.get(self.code) or self.ensure_price(price=price))

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
        client = _client()
        organization = str(subscription.organization_id)
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [{"price": self._price_id(price), "quantity": max(1, quantity)}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": organization,
            "metadata": {"organization_id": organization},
            "subscription_data": {"metadata": {"organization_id": organization}},
        }
        if subscription.provider == self.code and subscription.provider_customer_id:
            params["customer"] = subscription.provider_customer_id
        elif customer_email:
            params["customer_email"] = customer_email
        if coupon:
            params["discounts"] = [{"coupon": coupon}]
        session = _call(
            "checkout.sessions.create",
            lambda: client.v1.checkout.sessions.create(params=params),  # type: ignore[arg-type]
        )
        return str(session.url)

    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        if not subscription.provider_customer_id:
            raise BillingRuleBroken("There is no Stripe customer to open the portal for yet.")
        client = _client()
        session = _call(
            "billing_portal.sessions.create",
            lambda: client.v1.billing_portal.sessions.create(
                params={"customer": subscription.provider_customer_id, "return_url": return_url}
            ),
        )
        return str(session.url)

    def _remote(self, subscription: Subscription) -> dict[str, Any]:
        if not subscription.provider_subscription_id:
            raise BillingRuleBroken("The organization has no paid Stripe subscription.")
        client = _client()
        found = _call(
            "subscriptions.retrieve",
            lambda: client.v1.subscriptions.retrieve(subscription.provider_subscription_id),
        )
        return _dict(found)

    def _update(
        self,
        subscription: Subscription,
        params: dict[str, Any],
        *,
        idempotency_key: str = "",
    ) -> SubscriptionState:
        client = _client()
        options: dict[str, Any] = {"idempotency_key": idempotency_key} if idempotency_key else {}
        updated = _call(
            "subscriptions.update",
            lambda: client.v1.subscriptions.update(
                subscription.provider_subscription_id,
                params=params,  # type: ignore[arg-type]
                options=options,  # type: ignore[arg-type]
            ),
        )
        state = subscription_state(_dict(updated))
        if state is None:
            raise ProviderError("Stripe: the subscription is not active.")
        return state

    def _item(self, subscription: Subscription) -> str:
        items = (self._remote(subscription).get("items") or {}).get("data") or []
        if not items:
            raise ProviderError("Stripe: the subscription has no item to bill seats on.")
        return str(items[0]["id"])

    def change_price(
        self, *, subscription: Subscription, price: Price, quantity: int
    ) -> SubscriptionState:
        item = self._item(subscription)
        params = {
            "items": [{"id": item, "price": self._price_id(price), "quantity": max(1, quantity)}],
            "proration_behavior": "create_prorations",
        }
        return self._update(subscription, params)

    def set_quantity(
        self, *, subscription: Subscription, quantity: int, idempotency_key: str
    ) -> SubscriptionState:
        item = self._item(subscription)
        params = {
            "items": [{"id": item, "quantity": max(1, quantity)}],
            "proration_behavior": "create_prorations",
        }
        return self._update(subscription, params, idempotency_key=idempotency_key)

    def cancel_at_period_end(self, *, subscription: Subscription) -> SubscriptionState:
        return self._update(subscription, {"cancel_at_period_end": True})

    def resume(self, *, subscription: Subscription) -> SubscriptionState:
        return self._update(subscription, {"cancel_at_period_end": False})

    def apply_coupon(self, *, subscription: Subscription, coupon: str) -> SubscriptionState:
        return self._update(subscription, {"discounts": [{"coupon": coupon}]})

    def fetch(self, *, subscription: Subscription) -> SubscriptionState:
        state = subscription_state(self._remote(subscription))
        if state is None:
            raise ProviderError("Stripe: the subscription's checkout is not finished.")
        return state

    def fetch_invoices(self, *, subscription: Subscription) -> list[InvoiceState]:
        if not subscription.provider_subscription_id:
            return []
        client = _client()
        found = _call(
            "invoices.list",
            lambda: client.v1.invoices.list(
                params={"subscription": subscription.provider_subscription_id, "limit": 100}
            ),
        )
        return [invoice_state(_dict(invoice)) for invoice in found.data]

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise InvalidSignature("No Stripe webhook secret is configured.")
        try:
            stripe.WebhookSignature.verify_header(
                body,
                headers.get("Stripe-Signature"),
                secret,
                tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            raise InvalidSignature(str(exc).split(". ")[0]) from exc
        try:
            payload = json.loads(body)
            return ProviderEvent(
                event_id=str(payload["id"]),
                event_type=str(payload["type"]),
                occurred_at=_time(payload["created"]) or dt.datetime.now(dt.UTC),
                payload=payload,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSignature("The signed body is not a Stripe event.") from exc

    def interpret(self, *, event_type: str, payload: dict[str, Any]) -> ProviderUpdate | None:
        occurred_at = _time(payload.get("created")) or dt.datetime.now(dt.UTC)
        obj = (payload.get("data") or {}).get("object") or {}
        if event_type in SUBSCRIPTION_EVENTS:
            state = subscription_state(obj)
            if event_type == "customer.subscription.deleted" and obj.get("ended_at"):
                # The end is the subscription's own moment; nothing can follow it.
                occurred_at = max(occurred_at, _time(obj["ended_at"]) or occurred_at)
            return ProviderUpdate(occurred_at=occurred_at, subscription=state)
        if event_type in INVOICE_EVENTS:
            state_of_invoice = invoice_state(
                obj, payment_failed=event_type == "invoice.payment_failed"
            )
            # Stripe stamps events to the second, and an invoice is often created, finalized
            # and paid within one; it only moves forward, so its stage breaks such a tie.
            stage = _INVOICE_STAGES.get(state_of_invoice.status, 0)
            occurred_at += dt.timedelta(milliseconds=stage)
            return ProviderUpdate(occurred_at=occurred_at, invoice=state_of_invoice)
        if event_type == "checkout.session.completed":
            return self._checkout_completed(obj, occurred_at)
        return None

    def _checkout_completed(self, session: Mapping[str, Any], at: dt.datetime) -> ProviderUpdate:
        """A paid checkout: the subscription it made, linked to the organization that paid.

        The session names the subscription but does not carry it, so it is fetched; what
        Stripe holds now is at least as new as the event.
        """
        subscription_id = _id(session.get("subscription"))
        if session.get("mode") != "subscription" or not subscription_id:
            return ProviderUpdate(occurred_at=at)
        client = _client()
        found = _dict(
            _call(
                "subscriptions.retrieve",
                lambda: client.v1.subscriptions.retrieve(subscription_id),
            )
        )
        state = subscription_state(found)
        organization = _organization(
            {"organization_id": session.get("client_reference_id")}, session.get("metadata")
        )
        if state is not None and state.organization_id is None and organization is not None:
            state = SubscriptionState(**{**state.__dict__, "organization_id": organization})
        return ProviderUpdate(occurred_at=at, subscription=state, checkout_completed=True)


def register_local_webhook(*, url: str) -> bool:
    """Have the devstack's local Stripe deliver its events to `url`, signed with our secret.

    A real Stripe account is set up in its dashboard instead (docs/operations.md), so this
    does nothing and returns False unless STRIPE_API_BASE points at a local Stripe.
    """
    base = settings.STRIPE_API_BASE.rstrip("/")
    if not base or not settings.STRIPE_WEBHOOK_SECRET:
        return False
    if not base.startswith(("http://127.0.0.1", "http://localhost")):
        return False
    form = urllib.parse.urlencode(
        [("url", url), ("secret", settings.STRIPE_WEBHOOK_SECRET)]
        + [("events[]", name) for name in EVENTS]
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - a local http address, checked above
        f"{base}/_config/webhooks/mycrm", data=form, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return bool(200 <= response.status < 300)
    except OSError as exc:
        raise ProviderError(f"local Stripe refused the webhook endpoint: {exc}") from exc


PROVIDER = StripeProvider()
