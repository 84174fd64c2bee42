"""Paddle through its SDK against the devstack's stub: the catalog, a checkout paid on the
checkout page, every change of a running subscription, invoices, and a failed renewal."""

from __future__ import annotations

import io
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.test import override_settings
from paddle_billing.Entities.Discounts import DiscountType
from paddle_billing.Entities.Shared import CurrencyCode
from paddle_billing.Resources.Discounts.Operations import CreateDiscount
from paddle_billing.Resources.Products.Operations import ListProducts

from billing.exceptions import BillingRuleBroken, ProviderError
from billing.models import Invoice, Price, Subscription, SubscriptionChange
from billing.providers import provider_for
from billing.providers.paddle import PROVIDER, _client, register_local_webhook
from tenants.models import Tenant

from .paddle_support import (
    DECLINED_CARD,
    checkout,
    deliveries,
    mark,
    pay,
    relay,
    session,
    stub,
    synced_price,
)

pytestmark = pytest.mark.django_db

Status = Subscription.Status


def _subscription(tenant: Tenant) -> Subscription:
    return Subscription.objects.select_related("organization", "plan", "price").get(
        organization=tenant
    )


@pytest.fixture
def paid_a(tenant_a: Tenant) -> Subscription:
    """Tenant A checked out at Growth monthly for 2 seats, its webhooks applied."""
    checkout(_subscription(tenant_a))
    return _subscription(tenant_a)


def test_provider_for_paddle_is_this_module() -> None:
    assert provider_for("paddle") is PROVIDER


def test_ensure_price_creates_the_price_once_and_finds_it_again(db: None) -> None:
    price = Price.objects.select_related("plan").get(
        plan__code="starter", interval="year", currency="EUR"
    )
    first = PROVIDER.ensure_price(price=price)
    again = PROVIDER.ensure_price(price=price)

    assert first == again
    remote = stub("GET", f"/prices/{first}")
    assert remote["unit_price"] == {"amount": str(price.unit_amount), "currency_code": "EUR"}
    assert remote["billing_cycle"] == {"interval": "year", "frequency": 1}
    products = [p for p in _client().products.list(ListProducts()) if p.id == remote["product_id"]]
    assert products[0].custom_data.data == {"plan": "starter"}


def test_checkout_paid_on_its_page_leaves_the_organization_subscribed(tenant_a: Tenant) -> None:
    done = checkout(_subscription(tenant_a), quantity=3)

    subscription = _subscription(tenant_a)
    assert subscription.provider == "paddle"
    assert subscription.status == Status.ACTIVE
    assert subscription.plan.code == "growth"
    assert subscription.price is not None and subscription.price.interval == "month"
    assert subscription.quantity == 3
    assert subscription.provider_subscription_id == done.subscription_id
    assert subscription.provider_customer_id.startswith("ctm_")
    assert subscription.current_period_end is not None
    assert [d.event_type for d in done.sent] == [
        "transaction.paid",
        "subscription.created",
        "subscription.activated",
        "transaction.completed",
    ]
    invoice = Invoice.objects.get(organization=tenant_a, provider="paddle")
    assert invoice.provider_invoice_id == done.transaction_id
    assert invoice.status == Invoice.Status.PAID
    assert invoice.total == 3 * subscription.price.unit_amount
    assert invoice.amount_paid == invoice.total
    assert invoice.number.startswith("STUB-")
    kinds = SubscriptionChange.objects.filter(organization=tenant_a).values_list("kind", flat=True)
    assert list(kinds).count(SubscriptionChange.Kind.SUBSCRIBED) == 1


def test_checkout_of_one_organization_leaves_another_untouched(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    before = _subscription(tenant_b)

    checkout(_subscription(tenant_a))

    after = _subscription(tenant_b)
    assert (after.status, after.provider_subscription_id, after.quantity) == (
        before.status,
        before.provider_subscription_id,
        before.quantity,
    )
    assert not Invoice.objects.filter(organization=tenant_b).exists()


def test_declined_card_leaves_the_checkout_open_and_subscribes_nothing(tenant_a: Tenant) -> None:
    before = mark()
    url = PROVIDER.checkout_url(
        subscription=_subscription(tenant_a),
        price=synced_price(),
        quantity=1,
        success_url="https://acme.example/ok",
        cancel_url="https://acme.example/back",
    )

    declined = pay(url, card=DECLINED_CARD)

    assert declined.status_code == 402
    assert "declined" in declined.text
    transaction_id = url.split("/checkout/", 1)[1].split("?", 1)[0]
    sent = deliveries(before, ids={transaction_id})
    assert [d.event_type for d in sent] == ["transaction.payment_failed"]
    relay(sent)
    subscription = _subscription(tenant_a)
    assert subscription.status == Status.TRIALING
    assert subscription.provider_subscription_id == ""
    assert stub("GET", f"/transactions/{transaction_id}")["status"] == "ready"


def test_checkout_with_an_unknown_coupon_is_refused(tenant_a: Tenant) -> None:
    with pytest.raises(BillingRuleBroken):
        PROVIDER.checkout_url(
            subscription=_subscription(tenant_a),
            price=synced_price(),
            quantity=1,
            success_url="https://acme.example/ok",
            cancel_url="https://acme.example/back",
            coupon=f"NOPE{uuid.uuid4().hex[:6]}",
        )


def test_set_quantity_bills_the_new_seat_count(paid_a: Subscription) -> None:
    state = PROVIDER.set_quantity(subscription=paid_a, quantity=5, idempotency_key="seats:5")
    again = PROVIDER.set_quantity(subscription=paid_a, quantity=5, idempotency_key="seats:5")

    assert state.quantity == again.quantity == 5
    assert state.price_id == paid_a.price.provider_ids["paddle"]
    assert PROVIDER.fetch(subscription=paid_a).quantity == 5


def test_change_price_moves_the_subscription_to_yearly(paid_a: Subscription) -> None:
    yearly = synced_price("growth", "year")

    state = PROVIDER.change_price(subscription=paid_a, price=yearly, quantity=2)

    assert state.price_id == yearly.provider_ids["paddle"]
    assert state.quantity == 2
    assert state.status == "active"


def test_cancel_at_period_end_schedules_it_and_resume_removes_it(paid_a: Subscription) -> None:
    canceled = PROVIDER.cancel_at_period_end(subscription=paid_a)
    assert canceled.cancel_at_period_end is True
    assert canceled.status == "active"
    remote = stub("GET", f"/subscriptions/{paid_a.provider_subscription_id}")
    assert remote["scheduled_change"]["action"] == "cancel"

    resumed = PROVIDER.resume(subscription=paid_a)

    assert resumed.cancel_at_period_end is False
    remote = stub("GET", f"/subscriptions/{paid_a.provider_subscription_id}")
    assert remote["scheduled_change"] is None


def test_apply_coupon_puts_the_discount_on_the_subscription(paid_a: Subscription) -> None:
    code = f"LAUNCH{uuid.uuid4().hex[:6].upper()}"
    discount = _client().discounts.create(
        CreateDiscount(
            amount="20",
            description="Launch offer",
            type=DiscountType.Percentage,
            enabled_for_checkout=True,
            recur=True,
            currency_code=CurrencyCode.USD,
            code=code,
        )
    )

    state = PROVIDER.apply_coupon(subscription=paid_a, coupon=code)

    assert state.coupon == code
    assert state.organization_id == paid_a.organization_id
    remote = stub("GET", f"/subscriptions/{paid_a.provider_subscription_id}")
    assert remote["discount"]["id"] == discount.id
    assert PROVIDER.fetch(subscription=paid_a).coupon == code


def test_portal_url_opens_the_customer_portal(paid_a: Subscription) -> None:
    url = PROVIDER.portal_url(subscription=paid_a, return_url="https://acme.example/")

    assert url.startswith("http")
    assert session().get(url, timeout=10).status_code == 200


def test_fetch_invoices_lists_the_paid_checkout(paid_a: Subscription) -> None:
    invoices = PROVIDER.fetch_invoices(subscription=paid_a)

    assert len(invoices) == 1
    assert invoices[0].status == "paid"
    assert invoices[0].subscription_id == paid_a.provider_subscription_id
    assert invoices[0].organization_id == paid_a.organization_id


def test_failed_renewal_makes_the_organization_past_due_until_it_is_paid(
    paid_a: Subscription,
) -> None:
    sub_id = paid_a.provider_subscription_id
    before = mark()
    stub("POST", f"/__stub/subscriptions/{sub_id}/fail-next-charge")
    stub("POST", f"/__stub/subscriptions/{sub_id}/renew")

    failed = deliveries(before, ids={sub_id})
    assert [d.event_type for d in failed] == [
        "transaction.billed",
        "transaction.payment_failed",
        "transaction.past_due",
        "subscription.past_due",
    ]
    relay(failed)
    subscription = _subscription(paid_a.organization)
    assert subscription.status == Status.PAST_DUE
    assert subscription.dunning == Subscription.Dunning.WARNED
    renewal = Invoice.objects.exclude(number="").order_by("-issued_at").first()
    assert renewal is not None and renewal.payment_failed_at is not None
    assert renewal.status == Invoice.Status.OPEN

    before = mark()
    stub("POST", f"/__stub/subscriptions/{sub_id}/renew")
    relay(deliveries(before, ids={sub_id}))

    subscription = _subscription(paid_a.organization)
    assert subscription.status == Status.ACTIVE
    assert subscription.dunning == Subscription.Dunning.NONE
    renewal.refresh_from_db()
    assert renewal.status == Invoice.Status.PAID


def test_paddle_refusals_become_provider_errors(paid_a: Subscription) -> None:
    paid_a.provider_subscription_id = "sub_01nonexistent000000000000000"
    with pytest.raises(ProviderError):
        PROVIDER.fetch(subscription=paid_a)


def test_a_wrong_api_key_is_a_provider_error(paid_a: Subscription) -> None:
    with override_settings(PADDLE_API_KEY="pdl_sdbx_apikey_wrong"), pytest.raises(ProviderError):
        PROVIDER.fetch(subscription=paid_a)


def test_changes_before_checkout_are_refused(tenant_a: Tenant) -> None:
    with pytest.raises(ProviderError):
        PROVIDER.cancel_at_period_end(subscription=_subscription(tenant_a))


def test_ensure_price_makes_again_a_price_paddle_no_longer_has(db: None) -> None:
    price = Price.objects.select_related("plan").get(
        plan__code="growth", interval="year", currency="EUR"
    )
    price.provider_ids = {"paddle": "pri_01gone000000000000000000000"}

    made = PROVIDER.ensure_price(price=price)

    assert made != "pri_01gone000000000000000000000"
    assert stub("GET", f"/prices/{made}")["unit_price"]["amount"] == str(price.unit_amount)


def test_the_stub_sends_signed_notifications_to_the_registered_destination(
    tenant_a: Tenant,
) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    arrived = threading.Event()

    class Destination(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers.items())))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            arrived.set()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Destination)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/billing/webhooks/paddle/"
    try:
        assert register_local_webhook(url=url) is True
        checkout(_subscription(tenant_a), relayed=False)
        assert arrived.wait(timeout=10)
    finally:
        register_local_webhook(url="")
        server.shutdown()
        server.server_close()

    body, headers = received[0]
    event = PROVIDER.verify_webhook(body=body, headers=headers)
    assert event.event_type.startswith(("transaction.", "subscription."))


def test_sync_catalog_links_every_price_and_points_the_stub_at_the_dev_server(
    db: None,
) -> None:
    out = io.StringIO()
    url = "http://localhost:8000/billing/webhooks/paddle/"
    try:
        call_command(
            "billing_sync_catalog", provider="paddle", local_paddle_webhook=url, stdout=out
        )
    finally:
        register_local_webhook(url="")

    active = Price.objects.filter(active=True)
    assert all(price.provider_ids.get("paddle", "").startswith("pri_") for price in active)
    assert f"paddle stub: notifications go to {url}" in out.getvalue()


def test_paddle_out_of_reach_is_a_provider_error(paid_a: Subscription) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with (
        override_settings(PADDLE_API_BASE=f"http://127.0.0.1:{port}"),
        pytest.raises(ProviderError),
    ):
        PROVIDER.fetch(subscription=paid_a)
