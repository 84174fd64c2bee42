"""Paddle's notifications as the stub signs and sends them: the signature checked as Paddle
documents it, each event type read into our terms, and states applied newest-only."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from billing.exceptions import InvalidSignature, ProviderError
from billing.models import Invoice, Subscription, WebhookEvent
from billing.providers.paddle import PROVIDER, sign
from billing.services.webhooks import webhook_apply
from tenants.models import Tenant

from .paddle_support import Delivery, apply, checkout, deliveries, mark, relay, stub

pytestmark = pytest.mark.django_db

Status = Subscription.Status


def _subscription(tenant: Tenant) -> Subscription:
    return Subscription.objects.select_related("organization", "plan", "price").get(
        organization=tenant
    )


def _one(sent: list[Delivery], event_type: str) -> Delivery:
    found = [d for d in sent if d.event_type == event_type]
    assert len(found) == 1, [d.event_type for d in sent]
    return found[0]


def _signed(body: bytes, *, secret: str = "", at: int | None = None) -> dict[str, str]:
    """Headers signed as Paddle signs them, with our secret unless another is given."""
    return {"Paddle-Signature": sign(body, secret=secret or settings.PADDLE_WEBHOOK_SECRET, at=at)}


# The signature ------------------------------------------------------------------------------


def test_a_delivery_signed_by_paddle_verifies_into_its_event(tenant_a: Tenant) -> None:
    delivery = checkout(_subscription(tenant_a), relayed=False).sent[0]

    event = PROVIDER.verify_webhook(body=delivery.body, headers=delivery.headers)

    assert event.event_id.startswith("evt_")
    assert event.event_type == "transaction.paid"
    assert event.occurred_at.tzinfo is not None
    assert event.payload["data"]["id"].startswith("txn_")


def test_django_style_header_names_are_read_too(tenant_a: Tenant) -> None:
    delivery = checkout(_subscription(tenant_a), relayed=False).sent[0]

    event = PROVIDER.verify_webhook(
        body=delivery.body, headers={"HTTP_PADDLE_SIGNATURE": delivery.signature}
    )

    assert event.event_type == "transaction.paid"


def test_a_signature_made_with_another_secret_is_refused() -> None:
    body = b'{"event_id": "evt_1", "event_type": "subscription.updated"}'
    with pytest.raises(InvalidSignature):
        PROVIDER.verify_webhook(body=body, headers=_signed(body, secret="pdl_ntfset_forged"))


def test_a_body_changed_after_signing_is_refused() -> None:
    body = b'{"event_id": "evt_1", "event_type": "subscription.updated", "quantity": 1}'
    headers = _signed(body)
    with pytest.raises(InvalidSignature):
        PROVIDER.verify_webhook(body=body.replace(b": 1", b": 9"), headers=headers)


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_signature_outside_the_tolerance_is_refused(offset: int) -> None:
    body = b'{"event_id": "evt_1"}'
    headers = _signed(body, at=int(time.time()) + offset)
    with pytest.raises(InvalidSignature):
        PROVIDER.verify_webhook(body=body, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Paddle-Signature": ""},
        {"Paddle-Signature": "garbage"},
        {"Paddle-Signature": "ts=abc;h1=00"},
        {"Paddle-Signature": f"ts={int(time.time())}"},
        {"Paddle-Signature": "h1=00ff"},
    ],
)
def test_a_missing_or_malformed_signature_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature):
        PROVIDER.verify_webhook(body=b"{}", headers=headers)


def test_a_signed_body_that_is_no_notification_is_refused() -> None:
    body = b"[1, 2, 3]"
    with pytest.raises(InvalidSignature):
        PROVIDER.verify_webhook(body=body, headers=_signed(body))


# Reading each event -------------------------------------------------------------------------


def test_subscription_created_carries_the_organization_and_the_seats(tenant_a: Tenant) -> None:
    subscription = _subscription(tenant_a)
    done = checkout(subscription, quantity=4, relayed=False)
    delivery = _one(done.sent, "subscription.created")

    update = PROVIDER.interpret(event_type=delivery.event_type, payload=delivery.payload)

    assert update is not None and update.subscription is not None
    state = update.subscription
    assert state.organization_id == tenant_a.pk
    assert state.subscription_id == done.subscription_id
    assert state.customer_id.startswith("ctm_")
    assert state.status == "active"
    assert state.quantity == 4
    assert state.price_id.startswith("pri_")
    assert state.current_period_end is not None
    assert state.cancel_at_period_end is False
    assert update.checkout_completed is True
    # Ordered by the subscription's own updated_at, not the time the event was sent.
    assert (
        update.occurred_at.isoformat().replace("+00:00", "Z")[:19]
        == delivery.payload["data"]["updated_at"][:19]
    )


def test_the_checkout_paid_before_its_subscription_exists_changes_nothing(
    tenant_a: Tenant,
) -> None:
    delivery = _one(checkout(_subscription(tenant_a), relayed=False).sent, "transaction.paid")

    update = PROVIDER.interpret(event_type=delivery.event_type, payload=delivery.payload)

    assert update is not None
    assert update.subscription is None and update.invoice is None


def test_transaction_completed_is_a_paid_invoice(tenant_a: Tenant) -> None:
    done = checkout(_subscription(tenant_a), quantity=2, relayed=False)
    delivery = _one(done.sent, "transaction.completed")

    update = PROVIDER.interpret(event_type=delivery.event_type, payload=delivery.payload)

    assert update is not None and update.invoice is not None
    invoice = update.invoice
    assert invoice.invoice_id == done.transaction_id
    assert invoice.subscription_id == done.subscription_id
    assert invoice.status == "paid"
    assert invoice.currency == "USD"
    assert invoice.total == invoice.amount_paid == 2 * 3900
    assert invoice.paid_at is not None
    assert invoice.payment_failed is False
    assert invoice.organization_id == tenant_a.pk


def test_a_failed_renewal_reads_as_a_failed_payment_and_a_past_due_subscription(
    tenant_a: Tenant,
) -> None:
    sub_id = checkout(_subscription(tenant_a)).subscription_id
    before = mark()
    stub("POST", f"/__stub/subscriptions/{sub_id}/fail-next-charge")
    stub("POST", f"/__stub/subscriptions/{sub_id}/renew")
    sent = deliveries(before, ids={sub_id})

    billed = PROVIDER.interpret(
        event_type="transaction.billed", payload=_one(sent, "transaction.billed").payload
    )
    failed = PROVIDER.interpret(
        event_type="transaction.payment_failed",
        payload=_one(sent, "transaction.payment_failed").payload,
    )
    past_due = PROVIDER.interpret(
        event_type="subscription.past_due", payload=_one(sent, "subscription.past_due").payload
    )

    assert billed is not None and billed.invoice is not None
    assert billed.invoice.status == "open" and billed.invoice.payment_failed is False
    assert failed is not None and failed.invoice is not None
    assert failed.invoice.payment_failed is True and failed.invoice.amount_paid == 0
    assert past_due is not None and past_due.subscription is not None
    assert past_due.subscription.status == "past_due"


def test_a_cancellation_reads_as_scheduled_then_as_the_end(tenant_a: Tenant) -> None:
    subscription = _subscription(tenant_a)
    sub_id = checkout(subscription).subscription_id
    subscription.refresh_from_db()
    before = mark()
    PROVIDER.cancel_at_period_end(subscription=subscription)
    stub("POST", f"/__stub/subscriptions/{sub_id}/renew")
    sent = deliveries(before, ids={sub_id})
    assert [d.event_type for d in sent] == ["subscription.updated", "subscription.canceled"]

    scheduled, ended = (
        PROVIDER.interpret(event_type=d.event_type, payload=d.payload) for d in sent
    )

    assert scheduled is not None and scheduled.subscription is not None
    assert scheduled.subscription.cancel_at_period_end is True
    assert ended is not None and ended.subscription is not None
    assert ended.subscription.status == "canceled"
    relay(sent)
    subscription.refresh_from_db()
    assert subscription.status == Status.CANCELED
    assert subscription.plan.code == "free"


def test_an_event_type_we_do_not_track_reads_as_nothing() -> None:
    payload = {"event_id": "evt_1", "occurred_at": "2026-12-06T03:00:00.000000Z", "data": {}}
    assert PROVIDER.interpret(event_type="customer.created", payload=payload) is None


# Applying in order --------------------------------------------------------------------------


def test_an_older_subscription_state_arriving_late_never_rolls_back_a_newer_one(
    tenant_a: Tenant,
) -> None:
    subscription = _subscription(tenant_a)
    sub_id = checkout(subscription).subscription_id
    subscription.refresh_from_db()
    before = mark()
    PROVIDER.set_quantity(subscription=subscription, quantity=3, idempotency_key="a")
    PROVIDER.set_quantity(subscription=subscription, quantity=5, idempotency_key="b")
    older, newer = deliveries(before, ids={sub_id})

    relay([newer, older])

    subscription.refresh_from_db()
    assert subscription.quantity == 5


def test_the_same_state_applied_twice_changes_the_history_once(tenant_a: Tenant) -> None:
    subscription = _subscription(tenant_a)
    sub_id = checkout(subscription).subscription_id
    subscription.refresh_from_db()
    before = mark()
    PROVIDER.set_quantity(subscription=subscription, quantity=6, idempotency_key="a")
    (delivery,) = deliveries(before, ids={sub_id})
    update = PROVIDER.interpret(event_type=delivery.event_type, payload=delivery.payload)
    changes = tenant_a.subscription_changes.count()

    apply(update)
    apply(update)

    assert tenant_a.subscription_changes.count() == changes + 1
    subscription.refresh_from_db()
    assert subscription.quantity == 6


# Through the endpoint -----------------------------------------------------------------------

WEBHOOK_PATH = "/billing/webhooks/paddle/"


def _post(http: Client, delivery: Delivery, *, signature: str | None = None) -> Any:
    """POST a delivery to our endpoint as Paddle does, with its own (or the given) signature."""
    return http.post(
        WEBHOOK_PATH,
        data=delivery.body,
        content_type="application/json",
        HTTP_PADDLE_SIGNATURE=delivery.signature if signature is None else signature,
    )


def _deliver(http: Client, sent: list[Delivery]) -> list[WebhookEvent]:
    """Deliver each notification to the endpoint and apply what was stored, as the task does."""
    rows = []
    for delivery in sent:
        response = _post(http, delivery)
        assert response.status_code == 200, response.content
        row = WebhookEvent.objects.get(provider="paddle", event_id=response.json()["id"])
        webhook_apply(event_pk=row.pk)
        row.refresh_from_db()
        rows.append(row)
    return rows


def test_a_checkout_delivered_to_the_endpoint_subscribes_the_organization(
    tenant_a: Tenant, tenant_b: Tenant, public_client: Client
) -> None:
    before_b = _subscription(tenant_b)
    done = checkout(_subscription(tenant_a), quantity=2, relayed=False)

    rows = _deliver(public_client, done.sent)

    assert [row.event_type for row in rows] == [d.event_type for d in done.sent]
    assert {row.state for row in rows} == {WebhookEvent.State.APPLIED}
    subscription = _subscription(tenant_a)
    assert subscription.status == Status.ACTIVE
    assert subscription.plan.code == "growth"
    assert subscription.quantity == 2
    assert subscription.provider_subscription_id == done.subscription_id
    invoice = Invoice.objects.get(organization=tenant_a, provider="paddle")
    assert invoice.status == Invoice.Status.PAID
    after_b = _subscription(tenant_b)
    assert (after_b.status, after_b.provider_subscription_id) == (
        before_b.status,
        before_b.provider_subscription_id,
    )


@pytest.mark.parametrize("forgery", ["another secret", "stale", "missing", "tampered"])
def test_an_unsigned_delivery_is_refused_with_a_problem_and_nothing_is_stored(
    tenant_a: Tenant, public_client: Client, forgery: str
) -> None:
    delivery = checkout(_subscription(tenant_a), relayed=False).sent[1]
    body = delivery.body
    if forgery == "another secret":
        signature = sign(body, secret="pdl_ntfset_forged")
    elif forgery == "stale":
        signature = sign(body, secret=settings.PADDLE_WEBHOOK_SECRET, at=int(time.time()) - 400)
    elif forgery == "missing":
        signature = ""
    else:
        signature = delivery.signature
        body = body.replace(b'"quantity": 2', b'"quantity": 90')
    stored = WebhookEvent.objects.count()

    response = public_client.post(
        WEBHOOK_PATH, data=body, content_type="application/json", HTTP_PADDLE_SIGNATURE=signature
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid-signature"
    assert WebhookEvent.objects.count() == stored
    assert _subscription(tenant_a).status == Status.TRIALING


def test_a_replayed_delivery_is_stored_once_and_applied_once(
    tenant_a: Tenant, public_client: Client
) -> None:
    done = checkout(_subscription(tenant_a), relayed=False)
    created = _one(done.sent, "subscription.created")

    first = _post(public_client, created)
    again = _post(public_client, created)

    assert first.status_code == again.status_code == 200
    assert again.json()["duplicate"] is True
    rows = WebhookEvent.objects.filter(provider="paddle", event_id=first.json()["id"])
    assert rows.count() == 1
    changes = tenant_a.subscription_changes.count()
    assert webhook_apply(event_pk=rows.get().pk) is not None
    assert webhook_apply(event_pk=rows.get().pk) is None
    assert tenant_a.subscription_changes.count() == changes + 1
    assert _subscription(tenant_a).status == Status.ACTIVE


def test_deliveries_out_of_order_never_roll_the_subscription_back(
    tenant_a: Tenant, public_client: Client
) -> None:
    subscription = _subscription(tenant_a)
    done = checkout(subscription, relayed=False)
    _deliver(public_client, done.sent)
    subscription.refresh_from_db()
    before = mark()
    PROVIDER.set_quantity(subscription=subscription, quantity=3, idempotency_key="a")
    PROVIDER.cancel_at_period_end(subscription=subscription)
    older, newer = deliveries(before, ids={done.subscription_id})

    _deliver(public_client, [newer, older])

    subscription.refresh_from_db()
    assert subscription.quantity == 3
    assert subscription.cancel_at_period_end is True


def test_a_failed_renewal_delivered_makes_the_organization_past_due_until_paid(
    tenant_a: Tenant, public_client: Client
) -> None:
    done = checkout(_subscription(tenant_a), relayed=False)
    _deliver(public_client, done.sent)
    sub_id = done.subscription_id
    before = mark()
    stub("POST", f"/__stub/subscriptions/{sub_id}/fail-next-charge")
    stub("POST", f"/__stub/subscriptions/{sub_id}/renew")

    _deliver(public_client, deliveries(before, ids={sub_id}))

    subscription = _subscription(tenant_a)
    assert subscription.status == Status.PAST_DUE
    assert subscription.dunning == Subscription.Dunning.WARNED
    assert subscription.past_due_since is not None

    before = mark()
    stub("POST", f"/__stub/subscriptions/{sub_id}/renew")
    _deliver(public_client, deliveries(before, ids={sub_id}))

    subscription = _subscription(tenant_a)
    assert subscription.status == Status.ACTIVE
    assert subscription.dunning == Subscription.Dunning.NONE


def test_a_tracked_event_of_an_unknown_shape_is_kept_failed_not_applied(
    tenant_a: Tenant, public_client: Client
) -> None:
    body = json.dumps(
        {
            "event_id": "evt_01shape0000000000000000000",
            "event_type": "subscription.updated",
            "occurred_at": "2026-12-06T03:00:00.000000Z",
            "data": {"id": "sub_01shape0000000000000000000"},
        }
    ).encode()
    with pytest.raises(ProviderError):
        PROVIDER.interpret(event_type="subscription.updated", payload=json.loads(body))

    response = public_client.post(
        WEBHOOK_PATH,
        data=body,
        content_type="application/json",
        HTTP_PADDLE_SIGNATURE=sign(body, secret=settings.PADDLE_WEBHOOK_SECRET),
    )

    assert response.status_code == 200
    row = WebhookEvent.objects.get(provider="paddle", event_id="evt_01shape0000000000000000000")
    applied = webhook_apply(event_pk=row.pk)
    assert applied is not None and applied.state == WebhookEvent.State.FAILED
    assert "unknown shape" in applied.error
    assert _subscription(tenant_a).status == Status.TRIALING
