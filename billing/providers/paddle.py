"""Paddle Billing, through Paddle's `paddle-python-sdk`.

Seats are the quantity of the subscription's one item. The organization's id travels in the
`custom_data` of the checkout's transaction, which Paddle copies onto the subscription it
creates, so an event about a subscription we have not linked yet still finds its
organization. A checkout is a transaction whose checkout link the buyer pays on; where the
buyer comes back to rides on that link. `PADDLE_API_BASE` points the SDK at the devstack's
Paddle stub; unset, a sandbox key talks to Paddle's sandbox and a live key to Paddle itself.

Paddle's objects carry `updated_at`: that, not the time an event was sent, orders the states
we apply, so a late `subscription.updated` never rolls back a newer change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode, urlsplit

import requests
import structlog
from django.conf import settings
from paddle_billing import Client, Options
from paddle_billing.Entities.Shared import (
    CollectionMode,
    CurrencyCode,
    CustomData,
    Duration,
    Interval,
    Money,
    TaxCategory,
)
from paddle_billing.Entities.Subscriptions import (
    SubscriptionEffectiveFrom,
    SubscriptionProrationBillingMode,
)
from paddle_billing.Notifications.Entities.Subscription import Subscription as SubscriptionEvent
from paddle_billing.Notifications.Entities.Transaction import Transaction as TransactionEvent
from paddle_billing.Resources.CustomerPortalSessions.Operations import (
    CreateCustomerPortalSession,
)
from paddle_billing.Resources.Customers.Operations import CreateCustomer, ListCustomers
from paddle_billing.Resources.Discounts.Operations import ListDiscounts
from paddle_billing.Resources.Prices.Operations import CreatePrice, ListPrices
from paddle_billing.Resources.Products.Operations import CreateProduct, ListProducts
from paddle_billing.Resources.Subscriptions.Operations import (
    CancelSubscription,
    UpdateSubscription,
)
from paddle_billing.Resources.Subscriptions.Operations.Update import (
    SubscriptionDiscount,
    SubscriptionUpdateItem,
)
from paddle_billing.Resources.Transactions.Operations import CreateTransaction, ListTransactions
from paddle_billing.Resources.Transactions.Operations.Create import TransactionCreateItem

from billing.exceptions import BillingRuleBroken, InvalidSignature, ProviderError

from .base import BillingProvider, InvoiceState, ProviderEvent, ProviderUpdate, SubscriptionState

if TYPE_CHECKING:
    from billing.models import Price, Subscription

log = structlog.get_logger(__name__)
T = TypeVar("T")

PRODUCTION_BASE = "https://api.paddle.com"
SANDBOX_BASE = "https://sandbox-api.paddle.com"

# Paddle's subscription statuses in ours. A paused subscription bills nothing and gives no
# access, which for us is the end of the paid plan; "inactive" is an import not yet live.
_STATUSES = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "paused": "canceled",
    "canceled": "canceled",
}
# Paddle's transaction statuses as invoice statuses: billed and past-due transactions are
# issued and waiting for money (open); paid ones are settling and completed ones settled.
_INVOICE_STATUSES = {
    "draft": "draft",
    "ready": "draft",
    "billed": "open",
    "past_due": "open",
    "paid": "paid",
    "completed": "paid",
    "canceled": "void",
}
SUBSCRIPTION_EVENTS = (
    "subscription.created",
    "subscription.activated",
    "subscription.updated",
    "subscription.trialing",
    "subscription.past_due",
    "subscription.paused",
    "subscription.resumed",
    "subscription.canceled",
)
TRANSACTION_EVENTS = (
    "transaction.billed",
    "transaction.paid",
    "transaction.completed",
    "transaction.payment_failed",
    "transaction.past_due",
    "transaction.canceled",
)
# The events a Paddle notification destination must be subscribed to (docs/operations.md).
EVENTS = (*SUBSCRIPTION_EVENTS, *TRANSACTION_EVENTS)
SIGNATURE_HEADER = "Paddle-Signature"


@dataclass(frozen=True)
class _Endpoint:
    """Stands in for the SDK's Environment, of which the Client reads only `base_url`: the
    SDK knows no address but Paddle's own two."""

    base_url: str


def api_base() -> str:
    """Where the API is: the configured address, or Paddle's sandbox for a sandbox key."""
    if settings.PADDLE_API_BASE:
        return str(settings.PADDLE_API_BASE).rstrip("/")
    return SANDBOX_BASE if "_sdbx_" in settings.PADDLE_API_KEY else PRODUCTION_BASE


@cache
def _client_for(api_key: str, base: str) -> Client:
    return Client(api_key, options=Options(_Endpoint(base)), timeout=20.0)


def _client() -> Client:
    if not settings.PADDLE_API_KEY:
        raise ProviderError("Paddle is not configured (PADDLE_API_KEY is empty).")
    return _client_for(settings.PADDLE_API_KEY, api_base())


def _call(what: str, request: Callable[[], T]) -> T:
    """Run one SDK request; Paddle's refusals and outages become ProviderError."""
    try:
        return request()
    except requests.RequestException as exc:
        # The SDK's ApiError is a requests.HTTPError carrying Paddle's error detail.
        detail = getattr(exc, "detail", "") or str(exc)
        log.warning("billing.paddle_error", what=what, error=detail)
        raise ProviderError(f"Paddle: {detail}") from exc


def _value(value: Any) -> str:
    """An SDK enum's string value (or the string itself)."""
    return str(getattr(value, "value", value) or "")


def _custom(entity: Any) -> dict[str, Any]:
    data = getattr(getattr(entity, "custom_data", None), "data", None)
    return data if isinstance(data, dict) else {}


def _organization(custom: Mapping[str, Any]) -> int | None:
    raw = custom.get("organization_id")
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _minor(amount: Any) -> int:
    """Paddle's amounts are strings of minor units."""
    try:
        return int(str(amount or "0"))
    except ValueError:
        return 0


def subscription_state(sub: Any) -> SubscriptionState:
    """Our view of a Paddle subscription (an SDK entity from the API or a notification)."""
    items = list(sub.items or [])
    item = items[0] if items else None
    price = getattr(item, "price", None) if item is not None else None
    period = sub.current_billing_period
    change = sub.scheduled_change
    custom = _custom(sub)
    trial = getattr(item, "trial_dates", None) if item is not None else None
    discount = sub.discount
    return SubscriptionState(
        subscription_id=sub.id,
        customer_id=sub.customer_id or "",
        status=_STATUSES.get(_value(sub.status), "active"),
        price_id=getattr(price, "id", "") or "",
        quantity=int(getattr(item, "quantity", 1) or 1),
        current_period_start=_utc(period.starts_at) if period else None,
        current_period_end=_utc(period.ends_at) if period else None,
        cancel_at_period_end=change is not None and _value(change.action) == "cancel",
        trial_ends_at=_utc(trial.ends_at) if trial is not None else None,
        # The code the owner typed is kept beside the discount: Paddle's discount carries
        # only its id.
        coupon=str(custom.get("coupon") or "") if discount is not None else "",
        organization_id=_organization(custom),
    )


def invoice_state(txn: Any, *, payment_failed: bool = False) -> InvoiceState:
    """Our view of a Paddle transaction (the API's or a notification's)."""
    status = _value(txn.status)
    totals = txn.details.totals if txn.details is not None else None
    total = _minor(getattr(totals, "grand_total", None) or getattr(totals, "total", None))
    paid = status in ("paid", "completed")
    captured = [p for p in (txn.payments or []) if _value(p.status) == "captured"]
    period = txn.billing_period
    return InvoiceState(
        invoice_id=txn.id,
        subscription_id=txn.subscription_id or "",
        customer_id=txn.customer_id or "",
        status=_INVOICE_STATUSES.get(status, "open"),
        currency=_value(txn.currency_code),
        subtotal=_minor(getattr(totals, "subtotal", None)),
        tax=_minor(getattr(totals, "tax", None)),
        total=total,
        amount_paid=total if paid else 0,
        number=txn.invoice_number or "",
        period_start=_utc(period.starts_at) if period else None,
        period_end=_utc(period.ends_at) if period else None,
        issued_at=_utc(txn.billed_at) or _utc(txn.created_at),
        paid_at=_utc(captured[-1].captured_at) if paid and captured else None,
        payment_failed=payment_failed or status == "past_due",
        organization_id=_organization(_custom(txn)),
    )


def checkout_link(url: str, *, success_url: str, cancel_url: str) -> str:
    """The transaction's checkout link with where to return to after paying or leaving."""
    joiner = "&" if urlsplit(url).query else "?"
    return url + joiner + urlencode({"success_url": success_url, "cancel_url": cancel_url})


class PaddleProvider(BillingProvider):
    """Paddle Billing: the merchant of record; checkout, portal and dunning are Paddle's."""

    code = "paddle"

    # Catalog -------------------------------------------------------------------------------

    def ensure_price(self, *, price: Price) -> str:
        """Find or create the plan's product and this price, matched by our ids in custom_data."""
        client = _client()
        known = price.provider_ids.get(self.code)
        if known and self._exists(client, str(known)):
            return str(known)
        plan = price.plan
        products = _call("products.list", lambda: list(client.products.list(ListProducts())))
        product = next(
            (p for p in products if _custom(p).get("plan") == plan.code),
            None,
        )
        if product is None:
            product = _call(
                "products.create",
                lambda: client.products.create(
                    CreateProduct(
                        name=f"MyCRM {plan.name}",
                        tax_category=TaxCategory.Saas,
                        description=plan.description or None,
                        custom_data=CustomData({"plan": plan.code}),
                    )
                ),
            )
        prices = _call(
            "prices.list",
            lambda: list(client.prices.list(ListPrices(product_ids=[product.id]))),
        )
        key = self._price_key(price)
        found = next((p for p in prices if _custom(p).get("key") == key), None)
        if found is not None:
            return str(found.id)
        created = _call(
            "prices.create",
            lambda: client.prices.create(
                CreatePrice(
                    description=f"{plan.name}, per seat, {price.get_interval_display().lower()}",
                    product_id=product.id,
                    unit_price=Money(str(price.unit_amount), CurrencyCode(price.currency.upper())),
                    billing_cycle=Duration(Interval(price.interval), 1),
                    custom_data=CustomData({"key": key}),
                )
            ),
        )
        log.info("billing.paddle_price_created", plan=plan.code, price=created.id)
        return str(created.id)

    @staticmethod
    def _exists(client: Client, price_id: str) -> bool:
        """Whether Paddle still has the price (a development stub's may have been reset)."""
        try:
            client.prices.get(price_id)
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return False
            raise ProviderError(f"Paddle: {getattr(exc, 'detail', '') or exc}") from exc
        except requests.RequestException as exc:
            raise ProviderError(f"Paddle: {exc}") from exc
        return True

    @staticmethod
    def _price_key(price: Price) -> str:
        """What makes a price the same price again: plan, interval, currency and amount."""
        return f"{price.plan.code}:{price.interval}:{price.currency.upper()}:{price.unit_amount}"

    def _price_id(self, price: Price) -> str:
        return price.provider_ids.get(self.code) or self.ensure_price(price=price)

    # Checkout and portal -------------------------------------------------------------------

    def _customer_id(self, subscription: Subscription, email: str) -> str | None:
        """The organization's Paddle customer: the one linked, or one found or made by e-mail."""
        if subscription.provider == self.code and subscription.provider_customer_id:
            return subscription.provider_customer_id
        if not email:
            return None  # Paddle's checkout asks the buyer for it
        client = _client()
        found = _call(
            "customers.list",
            lambda: list(client.customers.list(ListCustomers(emails=[email.lower()]))),
        )
        if found:
            return str(found[0].id)
        customer = _call(
            "customers.create",
            lambda: client.customers.create(
                CreateCustomer(
                    email=email,
                    name=subscription.organization.name,
                    custom_data=CustomData({"organization_id": str(subscription.organization_id)}),
                )
            ),
        )
        return str(customer.id)

    def _discount_id(self, code: str) -> str:
        """The id of the active discount with this code; BillingRuleBroken when there is none."""
        client = _client()
        found = _call(
            "discounts.list", lambda: list(client.discounts.list(ListDiscounts(codes=[code])))
        )
        active = [d for d in found if _value(d.status) == "active"]
        if not active:
            raise BillingRuleBroken(f"The coupon {code!r} is not valid.", field="coupon")
        return str(active[0].id)

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
        price_id = self._price_id(price)
        discount_id = self._discount_id(coupon) if coupon else None
        customer_id = self._customer_id(subscription, customer_email)
        operation = CreateTransaction(
            items=[TransactionCreateItem(price_id=price_id, quantity=max(1, quantity))],
            custom_data=CustomData({"organization_id": str(subscription.organization_id)}),
            collection_mode=CollectionMode.Automatic,
        )
        if customer_id:
            operation.customer_id = customer_id
        if discount_id:
            operation.discount_id = discount_id
        transaction = _call("transactions.create", lambda: client.transactions.create(operation))
        url = transaction.checkout.url if transaction.checkout else None
        if not url:
            raise ProviderError("Paddle: the transaction came back without a checkout link.")
        return checkout_link(url, success_url=success_url, cancel_url=cancel_url)

    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        # Paddle's portal has no way back to us: the owner closes it (return_url is unused).
        client = _client()
        ids = (
            [subscription.provider_subscription_id] if subscription.provider_subscription_id else []
        )
        session = _call(
            "customer_portal_sessions.create",
            lambda: client.customer_portal_sessions.create(
                subscription.provider_customer_id,
                CreateCustomerPortalSession(subscription_ids=ids),
            ),
        )
        return str(session.urls.general.overview)

    # The running subscription --------------------------------------------------------------

    def _remote_id(self, subscription: Subscription) -> str:
        if not subscription.provider_subscription_id:
            raise ProviderError("Paddle: the subscription's checkout is not finished.")
        return subscription.provider_subscription_id

    def _update(
        self, subscription: Subscription, what: str, operation: UpdateSubscription
    ) -> SubscriptionState:
        client = _client()
        remote_id = self._remote_id(subscription)
        updated = _call(what, lambda: client.subscriptions.update(remote_id, operation))
        return subscription_state(updated)

    def _current_price_id(self, subscription: Subscription) -> str:
        """The Paddle price the seats are billed at now (asked of Paddle when not stored)."""
        if subscription.price is not None and subscription.price.provider_ids.get(self.code):
            return str(subscription.price.provider_ids[self.code])
        state = self.fetch(subscription=subscription)
        if not state.price_id:
            raise ProviderError("Paddle: the subscription has no item to bill seats on.")
        return state.price_id

    def change_price(
        self, *, subscription: Subscription, price: Price, quantity: int
    ) -> SubscriptionState:
        return self._update(
            subscription,
            "subscriptions.update(price)",
            UpdateSubscription(
                items=[SubscriptionUpdateItem(price_id=self._price_id(price), quantity=quantity)],
                proration_billing_mode=SubscriptionProrationBillingMode.ProratedImmediately,
            ),
        )

    def set_quantity(
        self, *, subscription: Subscription, quantity: int, idempotency_key: str
    ) -> SubscriptionState:
        # Paddle takes no idempotency key; setting the same quantity again changes nothing.
        return self._update(
            subscription,
            "subscriptions.update(quantity)",
            UpdateSubscription(
                items=[
                    SubscriptionUpdateItem(
                        price_id=self._current_price_id(subscription), quantity=max(1, quantity)
                    )
                ],
                proration_billing_mode=SubscriptionProrationBillingMode.ProratedImmediately,
            ),
        )

    def cancel_at_period_end(self, *, subscription: Subscription) -> SubscriptionState:
        client = _client()
        remote_id = self._remote_id(subscription)
        canceled = _call(
            "subscriptions.cancel",
            lambda: client.subscriptions.cancel(
                remote_id,
                CancelSubscription(effective_from=SubscriptionEffectiveFrom.NextBillingPeriod),
            ),
        )
        return subscription_state(canceled)

    def resume(self, *, subscription: Subscription) -> SubscriptionState:
        # Removing the scheduled change is how Paddle undoes a cancellation not yet due.
        return self._update(
            subscription, "subscriptions.update(resume)", UpdateSubscription(scheduled_change=None)
        )

    def apply_coupon(self, *, subscription: Subscription, coupon: str) -> SubscriptionState:
        discount_id = self._discount_id(coupon)
        custom = {"organization_id": str(subscription.organization_id), "coupon": coupon}
        return self._update(
            subscription,
            "subscriptions.update(discount)",
            UpdateSubscription(
                discount=SubscriptionDiscount(
                    id=discount_id, effective_from=SubscriptionEffectiveFrom.NextBillingPeriod
                ),
                custom_data=CustomData(custom),
            ),
        )

    def fetch(self, *, subscription: Subscription) -> SubscriptionState:
        client = _client()
        remote_id = self._remote_id(subscription)
        return subscription_state(
            _call("subscriptions.get", lambda: client.subscriptions.get(remote_id))
        )

    def fetch_invoices(self, *, subscription: Subscription) -> list[InvoiceState]:
        client = _client()
        remote_id = self._remote_id(subscription)
        transactions = _call(
            "transactions.list",
            lambda: list(client.transactions.list(ListTransactions(subscription_ids=[remote_id]))),
        )
        return [
            invoice_state(txn)
            for txn in transactions
            if _value(txn.status) in ("billed", "past_due", "paid", "completed", "canceled")
        ]

    # Webhooks -----------------------------------------------------------------------------

    def verify_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Check `Paddle-Signature` (ts and h1: HMAC-SHA256 of "<ts>:<body>") as Paddle
        documents it, within the tolerance; any of several h1 values may match.

        The SDK's Verifier wants a request object, allows 5 seconds and answers only
        True/False; checking the raw bytes here keeps our tolerance and says what failed.
        """
        header = _header(headers, SIGNATURE_HEADER)
        if not header:
            raise InvalidSignature("The Paddle-Signature header is missing.")
        stamp, signatures = _parse_signature(header)
        tolerance = settings.PADDLE_WEBHOOK_TOLERANCE_SECONDS
        if abs(time.time() - stamp) > tolerance:
            raise InvalidSignature("The webhook's signed time is too far from now.")
        secret = settings.PADDLE_WEBHOOK_SECRET
        if not secret:
            raise InvalidSignature("No Paddle webhook secret is configured.")
        expected = hmac.new(
            secret.encode(), str(stamp).encode() + b":" + body, hashlib.sha256
        ).hexdigest()
        if not any(hmac.compare_digest(expected, signature) for signature in signatures):
            raise InvalidSignature("The webhook's signature does not match its body.")
        try:
            event = json.loads(body)
            return ProviderEvent(
                event_id=str(event["event_id"]),
                event_type=str(event["event_type"]),
                occurred_at=dt.datetime.fromisoformat(event["occurred_at"]),
                payload=event,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSignature("The webhook's body is not a Paddle notification.") from exc

    def interpret(self, *, event_type: str, payload: dict[str, Any]) -> ProviderUpdate | None:
        """What a notification says; its object's `updated_at` orders it among the others."""
        if event_type not in EVENTS:
            return None
        data = payload.get("data") or {}
        try:
            occurred = dt.datetime.fromisoformat(payload["occurred_at"])
            if event_type in SUBSCRIPTION_EVENTS:
                sub = SubscriptionEvent.from_dict(data)
                return ProviderUpdate(
                    occurred_at=_utc(sub.updated_at) or occurred,
                    subscription=subscription_state(sub),
                    checkout_completed=event_type == "subscription.created",
                )
            if event_type in TRANSACTION_EVENTS:
                txn = TransactionEvent.from_dict(data)
                at = _utc(txn.updated_at) or occurred
                if not txn.subscription_id:
                    # A checkout's transaction is paid before its subscription exists; it is
                    # mirrored when it completes, carrying the subscription's id.
                    return ProviderUpdate(occurred_at=at)
                failed = event_type in ("transaction.payment_failed", "transaction.past_due")
                return ProviderUpdate(
                    occurred_at=at, invoice=invoice_state(txn, payment_failed=failed)
                )
        except (KeyError, ValueError, TypeError) as exc:
            raise ProviderError(
                f"Paddle: a {event_type} notification has an unknown shape."
            ) from exc
        return None


def register_local_webhook(*, url: str) -> bool:
    """Have the devstack's Paddle stub send its notifications to `url`.

    A real Paddle account has its notification destination set up in its dashboard
    (docs/operations.md), so this does nothing and returns False unless PADDLE_API_BASE
    points at a local stub.
    """
    base = settings.PADDLE_API_BASE.rstrip("/")
    if not base.startswith(("http://127.0.0.1", "http://localhost")):
        return False
    http = requests.Session()
    http.trust_env = False  # a local address: never through a proxy
    try:
        response = http.post(
            f"{base}/__stub/webhook-destination",
            json={"url": url},
            headers={"Authorization": f"Bearer {settings.PADDLE_API_KEY}"},
            timeout=10,
        )
        response.raise_for_status()
    except requests.RequestException as exc:
        raise ProviderError(f"the Paddle stub refused the webhook destination: {exc}") from exc
    return True


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name, whatever its case (Django's META-style names included)."""
    wanted = name.lower()
    meta = "http_" + wanted.replace("-", "_")
    for key, value in headers.items():
        if key.lower() in (wanted, meta):
            return str(value)
    return ""


def _parse_signature(header: str) -> tuple[int, list[str]]:
    """The signed time and the h1 signatures of a Paddle-Signature header."""
    stamp: int | None = None
    signatures: list[str] = []
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "ts" and value.isdigit():
            stamp = int(value)
        elif key == "h1" and value:
            signatures.append(value)
    if stamp is None or not signatures:
        raise InvalidSignature("The Paddle-Signature header is malformed.")
    return stamp, signatures


def sign(body: bytes, *, secret: str, at: int | None = None) -> str:
    """A Paddle-Signature header for `body`, as Paddle makes it (for tests and tools)."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), str(stamp).encode() + b":" + body, hashlib.sha256)
    return f"ts={stamp};h1={digest.hexdigest()}"


PROVIDER = PaddleProvider()
