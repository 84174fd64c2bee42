"""The Stripe provider against the devstack's local Stripe, through the real SDK: prices,
Checkout (its hosted page driven over HTTP), the portal, seat and plan changes, cancellation,
coupons, fetching, and Stripe's refusals turned into ProviderError."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command

from billing.exceptions import BillingRuleBroken, ProviderError
from billing.models import Invoice, Price, Subscription, WebhookEvent
from billing.providers.stripe import PROVIDER, lookup_key, register_local_webhook
from billing.services.webhooks import webhook_apply
from tenants.models import Tenant

from . import stripe_support as s

pytestmark = pytest.mark.django_db


@pytest.fixture
def prices() -> dict[tuple[str, str], Price]:
    return s.sync_prices()


@pytest.fixture
def sub_a(tenant_a: Tenant) -> Subscription:
    return Subscription.objects.select_related("plan").get(organization=tenant_a)


def test_ensure_price_makes_the_price_once_and_finds_it_again(
    prices: dict[tuple[str, str], Price],
) -> None:
    price = prices[("growth", "month")]
    again = PROVIDER.ensure_price(price=price)
    assert again == price.provider_ids["stripe"]
    remote = s.client().v1.prices.retrieve(again)
    assert (remote.unit_amount, remote.currency, remote.recurring.interval) == (
        price.unit_amount,
        price.currency.lower(),
        "month",
    )
    assert remote.lookup_key == lookup_key(price)


def test_checkout_url_names_the_organization_and_the_seats(
    prices: dict[tuple[str, str], Price], sub_a: Subscription
) -> None:
    url = PROVIDER.checkout_url(
        subscription=sub_a,
        price=prices[("starter", "year")],
        quantity=3,
        success_url="http://alpha.localhost:8000/settings/billing/?paid=1",
        cancel_url="http://alpha.localhost:8000/settings/billing/",
        customer_email="owner@alpha.test",
    )
    assert url.startswith(settings.STRIPE_API_BASE + "/checkout/pay/cs_test_")
    session = s.client().v1.checkout.sessions.retrieve(urlsplit(url).path.rsplit("/", 1)[1])
    assert session.client_reference_id == str(sub_a.organization_id)
    assert session.amount_total == prices[("starter", "year")].unit_amount * 3


def test_checkout_with_an_unknown_coupon_is_a_provider_error(
    prices: dict[tuple[str, str], Price], sub_a: Subscription
) -> None:
    with pytest.raises(ProviderError):
        PROVIDER.checkout_url(
            subscription=sub_a,
            price=prices[("growth", "month")],
            quantity=1,
            success_url="http://alpha.localhost:8000/ok",
            cancel_url="http://alpha.localhost:8000/no",
            coupon="NO-SUCH-COUPON",
        )


def test_a_checkout_paid_on_the_hosted_page_leaves_the_organization_subscribed(
    prices: dict[tuple[str, str], Price], sub_a: Subscription, public_client
) -> None:
    """End to end: the buyer pays on the hosted page; Stripe's events, delivered signed to
    our endpoint in the order they were recorded, are stored and applied."""
    since = int(time.time())
    growth = prices[("growth", "month")]
    url = PROVIDER.checkout_url(
        subscription=sub_a,
        price=growth,
        quantity=2,
        success_url="http://alpha.localhost:8000/settings/billing/?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://alpha.localhost:8000/settings/billing/",
    )
    browser = s.session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200 and "Card number" in page.text
    paid = browser.post(
        url, data={"email": "owner@alpha.test", "card": s.GOOD_CARD}, allow_redirects=False
    )
    assert paid.status_code == 303
    assert paid.headers["Location"].startswith("http://alpha.localhost:8000/settings/billing/")
    session_id = paid.headers["Location"].rsplit("=", 1)[1]
    session = s.client().v1.checkout.sessions.retrieve(session_id)
    assert session.status == "complete" and session.subscription

    events = s.events_since(since, subscription=session.subscription) + s.events_since(
        since, id=session.subscription
    )
    events += s.events_since(since, id=session_id)
    types = {e["type"] for e in events}
    assert {"checkout.session.completed", "customer.subscription.created"} <= types
    assert "invoice.payment_succeeded" in types
    for delivered in sorted(events, key=lambda e: e["created"]):
        assert s.deliver(public_client, delivered).status_code == 200
    stored_events = WebhookEvent.objects.filter(event_id__in=[e["id"] for e in events])
    for stored in stored_events.order_by("pk"):
        webhook_apply(event_pk=stored.pk)

    sub_a.refresh_from_db()
    assert sub_a.status == Subscription.Status.ACTIVE
    assert (sub_a.plan.code, sub_a.quantity, sub_a.price_id) == ("growth", 2, growth.pk)
    assert sub_a.provider_subscription_id == session.subscription
    invoice = Invoice.objects.get(organization=sub_a.organization)
    assert invoice.status == Invoice.Status.PAID
    assert invoice.total == growth.unit_amount * 2


def test_the_hosted_page_declines_a_card_whose_charges_fail(
    prices: dict[tuple[str, str], Price], sub_a: Subscription
) -> None:
    url = PROVIDER.checkout_url(
        subscription=sub_a,
        price=prices[("growth", "month")],
        quantity=1,
        success_url="http://alpha.localhost:8000/ok",
        cancel_url="http://alpha.localhost:8000/no",
    )
    refused = s.session().post(url, data={"card": s.DECLINED_CARD}, allow_redirects=False)
    assert refused.status_code == 400 and "declined" in refused.text
    session_id = urlsplit(url).path.rsplit("/", 1)[1]
    session = s.client().v1.checkout.sessions.retrieve(session_id)
    assert session.status == "open"
    cards = s.client().v1.payment_methods.list(
        params={"customer": session.customer, "type": "card"}
    )
    assert [card.card.last4 for card in cards.data] == ["0341"]  # it attached, then declined

    paid = s.session().post(url, data={"card": s.GOOD_CARD}, allow_redirects=False)
    assert paid.status_code == 303
    again = s.client().v1.checkout.sessions.retrieve(session_id)
    assert (again.status, again.customer) == ("complete", session.customer)


def test_seats_plan_cancel_resume_and_coupon_change_the_subscription_at_stripe(
    prices: dict[tuple[str, str], Price], sub_a: Subscription
) -> None:
    s.subscribe(sub_a, prices[("starter", "month")], quantity=1)

    seats = PROVIDER.set_quantity(subscription=sub_a, quantity=4, idempotency_key="seats-a-4")
    assert (seats.quantity, seats.status) == (4, "active")
    assert seats.organization_id == sub_a.organization_id

    moved = PROVIDER.change_price(subscription=sub_a, price=prices[("growth", "month")], quantity=4)
    assert moved.price_id == prices[("growth", "month")].provider_ids["stripe"]

    assert PROVIDER.cancel_at_period_end(subscription=sub_a).cancel_at_period_end is True
    assert PROVIDER.resume(subscription=sub_a).cancel_at_period_end is False

    s.client().v1.coupons.create(
        params={"id": f"TEN-{sub_a.pk}", "percent_off": 10, "duration": "forever"}
    )  # type: ignore[typeddict-unknown-key]
    assert PROVIDER.apply_coupon(subscription=sub_a, coupon=f"TEN-{sub_a.pk}").coupon == (
        f"TEN-{sub_a.pk}"
    )

    fetched = PROVIDER.fetch(subscription=sub_a)
    assert (fetched.quantity, fetched.price_id) == (4, moved.price_id)
    assert fetched.current_period_end and fetched.current_period_start
    assert fetched.current_period_end > fetched.current_period_start


def test_fetch_invoices_and_the_portal_list_the_customers_invoices(
    prices: dict[tuple[str, str], Price], sub_a: Subscription
) -> None:
    s.subscribe(sub_a, prices[("growth", "year")], quantity=2)
    invoices = PROVIDER.fetch_invoices(subscription=sub_a)
    assert len(invoices) == 1
    first = invoices[0]
    assert (first.status, first.total, first.currency) == (
        "paid",
        prices[("growth", "year")].unit_amount * 2,
        "USD",
    )
    assert first.organization_id == sub_a.organization_id

    url = PROVIDER.portal_url(subscription=sub_a, return_url="http://alpha.localhost:8000/back")
    page = s.session().get(url, timeout=10)
    assert page.status_code == 200
    assert first.number in page.text and "http://alpha.localhost:8000/back" in page.text


def test_a_subscription_stripe_does_not_know_is_a_provider_error(sub_a: Subscription) -> None:
    sub_a.provider_subscription_id = "sub_missing"
    with pytest.raises(ProviderError):
        PROVIDER.fetch(subscription=sub_a)


def test_the_portal_needs_a_customer(sub_a: Subscription) -> None:
    sub_a.provider_customer_id = ""
    with pytest.raises(BillingRuleBroken):
        PROVIDER.portal_url(subscription=sub_a, return_url="http://alpha.localhost:8000/")


def test_sync_catalog_links_every_active_price_once() -> None:
    out = StringIO()
    call_command("billing_sync_catalog", "--provider", "stripe", stdout=out)
    active = Price.objects.filter(active=True)
    assert active.exists()
    assert all(price.provider_ids.get("stripe", "").startswith("price_") for price in active)
    first = {price.pk: price.provider_ids["stripe"] for price in active}
    again = StringIO()
    call_command("billing_sync_catalog", "--provider", "stripe", stdout=again)
    assert "(0 newly linked)" in again.getvalue()
    assert {price.pk: price.provider_ids["stripe"] for price in active} == first


def test_the_local_stripe_delivers_signed_events_to_the_registered_endpoint(
    prices: dict[tuple[str, str], Price], sub_a: Subscription
) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers.items())))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/billing/webhooks/stripe/"
        assert register_local_webhook(url=url) is True
        remote = s.subscribe(sub_a, prices[("starter", "month")])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
            remote["id"] in body.decode() and b"customer.subscription.created" in body
            for body, _ in received
        ):
            time.sleep(0.05)
    finally:
        register_local_webhook(url="http://127.0.0.1:9/unused/")
        server.shutdown()
    body, headers = next(
        (b, h)
        for b, h in received
        if b"customer.subscription.created" in b and remote["id"].encode() in b
    )
    event = PROVIDER.verify_webhook(body=body, headers=headers)
    update = PROVIDER.interpret(event_type=event.event_type, payload=event.payload)
    assert update is not None and update.subscription is not None
    assert update.subscription.organization_id == sub_a.organization_id
