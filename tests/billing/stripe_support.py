"""Driving the devstack's local Stripe from tests: the SDK for setup, its hosted pages over
HTTP, and events signed exactly as Stripe signs them (t=<unix time>,v1=HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import requests
import stripe
from django.conf import settings
from django.test import Client

from billing.models import Price, Subscription
from billing.providers.stripe import PROVIDER

GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0341"
WEBHOOK_PATH = "/billing/webhooks/stripe/"


def client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},  # type: ignore[typeddict-item]
    )


def session() -> requests.Session:
    """A browser of the hosted pages that ignores proxy settings from the environment."""
    http = requests.Session()
    http.trust_env = False
    return http


def sync_prices() -> dict[tuple[str, str], Price]:
    """Make every active price exist at local Stripe (inside the test's transaction)."""
    prices = {}
    for price in Price.objects.select_related("plan").filter(active=True, currency="USD"):
        price.provider_ids = {**price.provider_ids, "stripe": PROVIDER.ensure_price(price=price)}
        price.save(update_fields=["provider_ids"])
        prices[(price.plan.code, price.interval)] = price
    return prices


def paying_customer(email: str = "buyer@example.test", card: str = GOOD_CARD) -> str:
    """A customer at local Stripe with a default card; returns its id."""
    api = client()
    customer = api.v1.customers.create(params={"email": email})
    method = api.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {
                "number": card.replace(" ", ""),
                "exp_month": 12,
                "exp_year": 2034,
                "cvc": "123",
            },  # type: ignore[typeddict-unknown-key]
        }
    )
    api.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    api.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
    )
    return str(customer.id)


def subscribe(subscription: Subscription, price: Price, quantity: int = 1) -> dict[str, Any]:
    """A paid subscription at local Stripe for the organization, linked to our row as a
    checkout would leave it; returns Stripe's subscription object."""
    api = client()
    customer = paying_customer(f"owner-{subscription.organization_id}@example.test")
    created = api.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price.provider_ids["stripe"], "quantity": quantity}],
            "metadata": {"organization_id": str(subscription.organization_id)},
        }
    )
    subscription.provider = "stripe"
    subscription.provider_customer_id = customer
    subscription.provider_subscription_id = created.id
    subscription.save()
    return created.to_dict()


def sign(body: bytes, *, at: int | None = None, secret: str | None = None) -> str:
    """A Stripe-Signature header for `body`."""
    stamp = int(time.time()) if at is None else at
    key = (secret or settings.STRIPE_WEBHOOK_SECRET).encode()
    digest = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event(event_type: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    """A Stripe event around `obj`, as a webhook delivers it."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": obj},
    }


def deliver(http: Client, payload: dict[str, Any], *, signature: str | None = None) -> Any:
    """POST an event to our endpoint with a valid (or the given) signature."""
    body = json.dumps(payload).encode()
    headers = {"HTTP_STRIPE_SIGNATURE": signature if signature is not None else sign(body)}
    return http.post(WEBHOOK_PATH, data=body, content_type="application/json", **headers)


def events_since(since: int, **match: str) -> list[dict[str, Any]]:
    """Events local Stripe recorded since `since` whose object has the given fields."""
    found = client().v1.events.list(params={"created": {"gte": since}, "limit": 100})
    events = [e.to_dict() for e in found.data]
    return [
        e
        for e in events
        if all(
            e["data"]["object"].get(key) == value
            or (e["data"]["object"].get("parent") or {}).get("subscription_details", {}).get(key)
            == value
            for key, value in match.items()
        )
    ]
