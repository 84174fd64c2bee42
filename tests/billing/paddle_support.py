"""Driving the devstack's Paddle stub from tests: its buyer pages over HTTP, its stub-only
routes, and its signed notifications relayed to us as Paddle would send them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from billing.models import Price, Subscription
from billing.providers.base import ProviderUpdate
from billing.providers.paddle import PROVIDER
from billing.services.subscriptions import invoice_apply_state, subscription_apply_state

GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"


def session() -> requests.Session:
    """A client of the stub that ignores proxy settings from the environment."""
    http = requests.Session()
    http.trust_env = False
    return http


def stub(method: str, path: str, **kwargs: Any) -> Any:
    """Call a route of the stub (its API or its stub-only routes) with the API key."""
    response = session().request(
        method,
        settings.PADDLE_API_BASE + path,
        headers={"Authorization": f"Bearer {settings.PADDLE_API_KEY}"},
        timeout=10,
        **kwargs,
    )
    response.raise_for_status()
    return response.json()["data"]


def mark() -> int:
    """How many notifications the stub has sent so far (to read only the ones after)."""
    return len(stub("GET", "/__stub/deliveries"))


@dataclass
class Delivery:
    event_type: str
    body: bytes
    signature: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Paddle-Signature": self.signature}

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


def deliveries(after: int, *, ids: set[str]) -> list[Delivery]:
    """The notifications sent after `after` about any of `ids` (transactions, subscriptions),
    in the order sent; other tests' notifications (on other workers) are left out."""
    rows = stub("GET", "/__stub/deliveries", params={"after": after})
    return [
        Delivery(row["event_type"], row["body"].encode(), row["signature"])
        for row in rows
        if ids & {row["transaction_id"], row["subscription_id"]}
    ]


def apply(update: ProviderUpdate | None) -> None:
    """Apply what a notification says, as the webhook task does."""
    if update is None:
        return
    if update.subscription is not None:
        subscription_apply_state(
            provider="paddle", state=update.subscription, occurred_at=update.occurred_at
        )
    if update.invoice is not None:
        invoice_apply_state(provider="paddle", state=update.invoice, occurred_at=update.occurred_at)


def relay(sent: list[Delivery]) -> None:
    """Verify, read and apply each notification in turn."""
    for delivery in sent:
        event = PROVIDER.verify_webhook(body=delivery.body, headers=delivery.headers)
        apply(PROVIDER.interpret(event_type=event.event_type, payload=event.payload))


def synced_price(code: str = "growth", interval: str = "month") -> Price:
    """A seeded USD price, made at the stub and linked as billing_sync_catalog does."""
    price = Price.objects.select_related("plan").get(
        plan__code=code, interval=interval, currency="USD"
    )
    price.provider_ids = {**price.provider_ids, "paddle": PROVIDER.ensure_price(price=price)}
    price.save(update_fields=["provider_ids"])
    return price


@dataclass
class Checkout:
    transaction_id: str
    subscription_id: str
    sent: list[Delivery]


def pay(url: str, *, card: str = GOOD_CARD) -> requests.Response:
    """Open the checkout link like a browser, then pay on its page."""
    http = session()
    page = http.get(url, timeout=10)
    assert page.status_code == 200
    assert "card_number" in page.text
    return http.post(url, data={"card_number": card}, allow_redirects=False, timeout=10)


def checkout(
    subscription: Subscription, *, quantity: int = 2, coupon: str = "", relayed: bool = True
) -> Checkout:
    """Check the organization out at Growth monthly; relay what Paddle then sends unless told
    not to (the caller delivers it its own way)."""
    before = mark()
    url = PROVIDER.checkout_url(
        subscription=subscription,
        price=synced_price(),
        quantity=quantity,
        success_url="https://acme.example/settings/billing/?paid=1",
        cancel_url="https://acme.example/settings/billing/",
        coupon=coupon,
        customer_email=f"owner-{uuid.uuid4().hex[:8]}@example.com",
    )
    paid = pay(url)
    assert paid.status_code == 303
    assert paid.headers["Location"] == "https://acme.example/settings/billing/?paid=1"
    transaction_id = urlsplit(url).path.rsplit("/", 1)[1]
    subscription_id = stub("GET", f"/transactions/{transaction_id}")["subscription_id"]
    sent = deliveries(before, ids={transaction_id, subscription_id})
    if relayed:
        relay(sent)
    return Checkout(transaction_id, subscription_id, sent)
