"""The webhook endpoint and the task that applies its events: signatures, storing first,
each event type the product uses, replays, reordering, concurrency, retries, isolation, and
a failed renewal produced end to end at the local Stripe."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import Invoice, Price, Subscription, SubscriptionChange, WebhookEvent
from billing.services.webhooks import webhook_apply, webhooks_retry
from tenants.models import Tenant
from tests.conftest import host_of
from tests.support.connections import (
    committed_organization,
    run_on_own_connection,
    start_on_own_connection,
)

from . import stripe_support as s

pytestmark = pytest.mark.django_db

NOW = int(time.time())
Status = Subscription.Status


@pytest.fixture
def price_ids(db: None) -> dict[str, Price]:
    """Our USD prices, known to Stripe under made-up ids (no Stripe call needed)."""
    found = {}
    for price in Price.objects.select_related("plan").filter(currency="USD"):
        key = f"price_{price.plan.code}_{price.interval}"
        price.provider_ids = {"stripe": key}
        price.save(update_fields=["provider_ids"])
        found[key] = price
    return found


def subscription_obj(
    organization: Tenant,
    *,
    sub_id: str = "sub_alpha",
    status: str = "active",
    quantity: int = 1,
    price: str = "price_growth_month",
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": f"cus_{organization.slug}",
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {"organization_id": str(organization.pk)},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "quantity": quantity,
                    "price": {"id": price, "object": "price"},
                    "current_period_start": NOW,
                    "current_period_end": NOW + 30 * 86400,
                }
            ],
        },
    }


def invoice_obj(
    organization: Tenant,
    *,
    status: str,
    sub_id: str = "sub_alpha",
    inv_id: str = "in_1",
    paid_at: int = NOW,
) -> dict[str, Any]:
    paid = status == "paid"
    return {
        "id": inv_id,
        "object": "invoice",
        "customer": f"cus_{organization.slug}",
        "status": status,
        "number": "INV-0001",
        "currency": "usd",
        "subtotal": 2900,
        "tax": 0,
        "total": 2900,
        "amount_paid": 2900 if paid else 0,
        "created": NOW,
        "period_start": NOW,
        "period_end": NOW + 30 * 86400,
        "status_transitions": {"finalized_at": NOW, "paid_at": paid_at if paid else None},
        "hosted_invoice_url": "https://invoice.example/in_1",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": sub_id,
                "metadata": {"organization_id": str(organization.pk)},
            },
        },
    }


def deliver_and_apply(http: Client, payload: dict[str, Any]) -> WebhookEvent:
    response = s.deliver(http, payload)
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get(provider="stripe", event_id=payload["id"])
    applied = webhook_apply(event_pk=row.pk)
    assert applied is not None
    return applied


def subscribed(http: Client, organization: Tenant, **fields: Any) -> Subscription:
    obj = subscription_obj(organization, **fields)
    deliver_and_apply(http, s.event("customer.subscription.created", obj, created=NOW))
    return Subscription.objects.get(organization=organization)


# Signatures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("", id="missing"),
        pytest.param("garbage", id="malformed"),
        pytest.param("forged", id="forged"),
        pytest.param("stale", id="stale"),
    ],
)
def test_a_bad_signature_is_refused_with_a_problem_and_nothing_is_stored(
    public_client: Client, tenant_a: Tenant, signature: str
) -> None:
    payload = s.event("customer.subscription.created", subscription_obj(tenant_a))
    body = json.dumps(payload).encode()
    header = {
        "": "",
        "garbage": "garbage",
        "forged": s.sign(body, secret="whsec_not_ours"),
        "stale": s.sign(body, at=int(time.time()) - 301),
    }[signature]
    response = s.deliver(public_client, payload, signature=header)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid-signature"
    assert not WebhookEvent.objects.exists()


def test_a_signed_body_that_is_not_an_event_is_refused(public_client: Client) -> None:
    body = b"[1, 2, 3]"
    response = public_client.post(
        s.WEBHOOK_PATH,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=s.sign(body),
    )
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_unknown_providers_and_other_methods_are_problems(public_client: Client) -> None:
    unknown = public_client.post("/billing/webhooks/acme/", data=b"{}", content_type="x/y")
    assert unknown.status_code == 404
    assert unknown["Content-Type"] == "application/problem+json"
    read = public_client.get(s.WEBHOOK_PATH)
    assert read.status_code == 405 and read["Allow"] == "POST"


def test_a_good_event_is_stored_pending_and_acknowledged(
    public_client: Client, tenant_a: Tenant
) -> None:
    payload = s.event("customer.subscription.created", subscription_obj(tenant_a), created=NOW)
    response = s.deliver(public_client, payload)
    assert response.status_code == 200
    assert response.json() == {"received": True, "id": payload["id"], "duplicate": False}
    row = WebhookEvent.objects.get()
    assert (row.state, row.event_type, row.payload["id"]) == (
        WebhookEvent.State.PENDING,
        "customer.subscription.created",
        payload["id"],
    )
    assert row.occurred_at == dt.datetime.fromtimestamp(NOW, tz=dt.UTC)


# Each event type ---------------------------------------------------------------------------


def test_subscription_created_subscribes_the_organization(
    public_client: Client, tenant_a: Tenant, price_ids: dict[str, Price]
) -> None:
    sub = subscribed(public_client, tenant_a, quantity=3)
    assert (sub.status, sub.plan.code, sub.quantity) == (Status.ACTIVE, "growth", 3)
    assert sub.provider_subscription_id == "sub_alpha"
    assert sub.provider_customer_id == "cus_alpha"
    assert sub.price == price_ids["price_growth_month"]
    change = SubscriptionChange.objects.filter(organization=tenant_a).latest("id")
    assert (change.kind, change.mrr) == ("subscribed", 3 * sub.price.unit_amount)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"quantity": 5}, ("growth", 5, False, "seats_changed")),
        ({"price": "price_starter_year"}, ("starter", 1, False, "plan_changed")),
        ({"cancel_at_period_end": True}, ("growth", 1, True, "cancel_scheduled")),
    ],
    ids=["seats", "plan", "cancel-at-period-end"],
)
def test_subscription_updated_mirrors_the_change(
    public_client: Client,
    tenant_a: Tenant,
    price_ids: dict[str, Price],
    fields: dict[str, Any],
    expected: tuple[Any, ...],
) -> None:
    subscribed(public_client, tenant_a)
    obj = subscription_obj(tenant_a, **fields)
    deliver_and_apply(public_client, s.event("customer.subscription.updated", obj, created=NOW + 5))
    sub = Subscription.objects.get(organization=tenant_a)
    kind = SubscriptionChange.objects.filter(organization=tenant_a).latest("id").kind
    assert (sub.plan.code, sub.quantity, sub.cancel_at_period_end, kind) == expected


def test_subscription_deleted_cancels_to_free(
    public_client: Client, tenant_a: Tenant, price_ids: dict[str, Price]
) -> None:
    subscribed(public_client, tenant_a)
    obj = {**subscription_obj(tenant_a, status="canceled"), "ended_at": NOW + 60}
    deliver_and_apply(
        public_client, s.event("customer.subscription.deleted", obj, created=NOW + 60)
    )
    sub = Subscription.objects.get(organization=tenant_a)
    assert (sub.status, sub.plan.code, sub.price) == (Status.CANCELED, "free", None)


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("invoice.created", "draft"),
        ("invoice.finalized", "open"),
        ("invoice.paid", "paid"),
        ("invoice.payment_succeeded", "paid"),
        ("invoice.voided", "void"),
        ("invoice.marked_uncollectible", "uncollectible"),
    ],
)
def test_invoice_events_mirror_the_invoice(
    public_client: Client,
    tenant_a: Tenant,
    price_ids: dict[str, Price],
    event_type: str,
    status: str,
) -> None:
    subscribed(public_client, tenant_a)
    obj = invoice_obj(tenant_a, status=status)
    deliver_and_apply(public_client, s.event(event_type, obj, created=NOW + 1))
    invoice = Invoice.objects.get(provider="stripe", provider_invoice_id="in_1")
    assert (invoice.organization, invoice.status, invoice.total, invoice.currency) == (
        tenant_a,
        status,
        2900,
        "USD",
    )
    assert invoice.number == "INV-0001"
    assert invoice.hosted_url == "https://invoice.example/in_1"


def test_a_failed_payment_makes_the_subscription_past_due(
    public_client: Client, tenant_a: Tenant, price_ids: dict[str, Price]
) -> None:
    subscribed(public_client, tenant_a)
    obj = invoice_obj(tenant_a, status="open")
    deliver_and_apply(public_client, s.event("invoice.payment_failed", obj, created=NOW + 2))
    sub = Subscription.objects.get(organization=tenant_a)
    assert (sub.status, sub.dunning) == (Status.PAST_DUE, Subscription.Dunning.WARNED)
    invoice = Invoice.objects.get(provider_invoice_id="in_1")
    assert invoice.payment_failed_at is not None

    paid = invoice_obj(tenant_a, status="paid", paid_at=NOW + 20)
    deliver_and_apply(public_client, s.event("invoice.paid", paid, created=NOW + 20))
    sub.refresh_from_db()
    assert (sub.status, sub.dunning) == (Status.ACTIVE, Subscription.Dunning.NONE)


def test_an_unknown_event_type_is_acknowledged_and_ignored(
    public_client: Client, tenant_a: Tenant
) -> None:
    before = SubscriptionChange.objects.count()
    row = deliver_and_apply(public_client, s.event("customer.created", {"id": "cus_1"}))
    assert row.state == WebhookEvent.State.IGNORED
    assert SubscriptionChange.objects.count() == before


# Replays, reordering, retries, isolation ---------------------------------------------------


def test_a_replayed_event_has_one_effect(
    public_client: Client, tenant_a: Tenant, price_ids: dict[str, Price]
) -> None:
    before = SubscriptionChange.objects.filter(organization=tenant_a).count()
    payload = s.event("customer.subscription.created", subscription_obj(tenant_a), created=NOW)
    first = deliver_and_apply(public_client, payload)
    again = s.deliver(public_client, payload)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert WebhookEvent.objects.filter(event_id=payload["id"]).count() == 1
    assert webhook_apply(event_pk=first.pk) is None  # applied already: nothing to do
    assert SubscriptionChange.objects.filter(organization=tenant_a).count() == before + 1


def test_an_older_update_arriving_late_never_rolls_back(
    public_client: Client, tenant_a: Tenant, price_ids: dict[str, Price]
) -> None:
    subscribed(public_client, tenant_a)
    newer = s.event(
        "customer.subscription.updated", subscription_obj(tenant_a, quantity=5), created=NOW + 20
    )
    older = s.event(
        "customer.subscription.updated", subscription_obj(tenant_a, quantity=3), created=NOW + 10
    )
    deliver_and_apply(public_client, newer)
    late = deliver_and_apply(public_client, older)
    assert late.state == WebhookEvent.State.APPLIED
    sub = Subscription.objects.get(organization=tenant_a)
    assert sub.quantity == 5
    assert sub.provider_updated_at == dt.datetime.fromtimestamp(NOW + 20, tz=dt.UTC)


def test_an_invoice_before_its_subscription_fails_then_the_sweep_applies_it(
    public_client: Client, tenant_a: Tenant, price_ids: dict[str, Price]
) -> None:
    stranger = {**invoice_obj(tenant_a, status="paid", sub_id="sub_later")}
    stranger["parent"]["subscription_details"]["metadata"] = {}
    row = deliver_and_apply(public_client, s.event("invoice.paid", stranger, created=NOW))
    assert row.state == WebhookEvent.State.FAILED
    assert "sub_later" in row.error and row.attempts == 1
    assert not Invoice.objects.exists()

    subscribed(public_client, tenant_a, sub_id="sub_later")
    assert webhooks_retry(now=timezone.now() + dt.timedelta(minutes=1)) >= 1
    row.refresh_from_db()
    assert (row.state, row.attempts, row.error) == (WebhookEvent.State.APPLIED, 2, "")
    assert Invoice.objects.get().organization == tenant_a


def test_an_event_about_one_organization_leaves_another_alone(
    public_client: Client, tenant_a: Tenant, tenant_b: Tenant, price_ids: dict[str, Price]
) -> None:
    b_before = Subscription.objects.get(organization=tenant_b)
    b_changes = SubscriptionChange.objects.filter(organization=tenant_b).count()
    subscribed(public_client, tenant_a, quantity=7)
    deliver_and_apply(
        public_client, s.event("invoice.payment_failed", invoice_obj(tenant_a, status="open"))
    )
    b_after = Subscription.objects.get(organization=tenant_b)
    assert (b_after.status, b_after.quantity, b_after.dunning, b_after.plan_id) == (
        b_before.status,
        b_before.quantity,
        b_before.dunning,
        b_before.plan_id,
    )
    assert SubscriptionChange.objects.filter(organization=tenant_b).count() == b_changes
    assert not Invoice.objects.filter(organization=tenant_b).exists()


def test_the_same_event_delivered_at_once_twice_has_one_effect(db: None) -> None:
    """Two deliveries of one event race, each on its own connection (as two web workers
    would), then both run the applying task at once: one row, one change."""
    with committed_organization("hooks") as org:
        payload = s.event(
            "customer.subscription.created",
            subscription_obj(org, sub_id=f"sub_{org.slug}", quantity=2),
            created=NOW,
        )
        start = threading.Barrier(2)
        results: list[Any] = []
        errors: list[BaseException] = []

        def deliver() -> None:
            http = Client(HTTP_HOST="localhost")
            start.wait(timeout=10)
            results.append(s.deliver(http, payload).status_code)
            row = WebhookEvent.objects.get(provider="stripe", event_id=payload["id"])
            start.wait(timeout=10)
            results.append(webhook_apply(event_pk=row.pk))

        threads = [start_on_own_connection(deliver, errors) for _ in range(2)]
        for thread in threads:
            thread.join(timeout=30)
        try:
            assert not errors, errors
            assert sorted(r for r in results if isinstance(r, int)) == [200, 200]
            applied = [r for r in results if isinstance(r, WebhookEvent)]
            assert len(applied) == 1 and applied[0].state == WebhookEvent.State.APPLIED
            assert WebhookEvent.objects.filter(event_id=payload["id"]).count() == 1
            kinds = list(
                SubscriptionChange.objects.filter(organization=org).values_list("kind", flat=True)
            )
            assert kinds.count("subscribed") == 1
            assert Subscription.objects.get(organization=org).quantity == 2
        finally:
            run_on_own_connection(
                lambda: WebhookEvent.objects.filter(event_id=payload["id"]).delete()
            )


# A failed renewal, end to end --------------------------------------------------------------


def test_a_renewal_declined_at_stripe_makes_the_organization_past_due_until_it_pays(
    public_client: Client, tenant_a: Tenant
) -> None:
    prices = s.sync_prices()
    sub = Subscription.objects.get(organization=tenant_a)
    remote = s.subscribe(sub, prices[("growth", "month")], quantity=2)
    api = s.session()

    def renew(outcome: str) -> None:
        since = int(time.time())
        response = api.post(
            f"{s.settings.STRIPE_API_BASE}/_config/subscriptions/{remote['id']}/renew",
            data={"outcome": outcome},
            headers={"Authorization": f"Bearer {s.settings.STRIPE_API_KEY}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        events = s.events_since(since, subscription=remote["id"]) + s.events_since(
            since, id=remote["id"]
        )
        for delivered in sorted(events, key=lambda e: e["created"]):
            deliver_and_apply(public_client, delivered)

    renew("fail")
    sub.refresh_from_db()
    assert (sub.status, sub.dunning) == (Status.PAST_DUE, Subscription.Dunning.WARNED)
    failed = Invoice.objects.filter(organization=tenant_a, payment_failed_at__isnull=False)
    assert failed.count() == 1 and failed.get().status == Invoice.Status.OPEN

    time.sleep(1.1)  # Stripe's clock counts seconds: the payment is the later event
    renew("succeed")
    sub.refresh_from_db()
    assert (sub.status, sub.dunning) == (Status.ACTIVE, Subscription.Dunning.NONE)
    assert failed.get().status == Invoice.Status.PAID


def test_an_organizations_host_has_no_webhook_endpoint(tenant_a: Tenant) -> None:
    """Providers post to the bare domain only; an organization's host does not take them."""
    payload = s.event("customer.subscription.created", subscription_obj(tenant_a))
    response = s.deliver(Client(HTTP_HOST=host_of(tenant_a)), payload)
    assert response.status_code in (302, 404)  # the sign-in page, for an anonymous POST
    assert not WebhookEvent.objects.exists()


def test_a_new_event_queues_its_task_when_stored_and_a_duplicate_queues_none(
    public_client: Client, tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    payload = s.event("customer.subscription.created", subscription_obj(tenant_a))
    with django_capture_on_commit_callbacks(execute=False) as first:
        assert s.deliver(public_client, payload).status_code == 200
    with django_capture_on_commit_callbacks(execute=False) as again:
        assert s.deliver(public_client, payload).status_code == 200
    assert (len(first), len(again)) == (1, 0)


def test_an_event_whose_task_was_lost_is_applied_by_the_sweep(
    public_client: Client, tenant_a: Tenant, price_ids: dict[str, Price]
) -> None:
    payload = s.event(
        "customer.subscription.created", subscription_obj(tenant_a, quantity=4), created=NOW
    )
    assert s.deliver(public_client, payload).status_code == 200  # its task never runs
    assert webhooks_retry() == 0  # too fresh: its own task may still come
    assert webhooks_retry(now=timezone.now() + dt.timedelta(minutes=1)) == 1
    row = WebhookEvent.objects.get(event_id=payload["id"])
    assert (row.state, row.attempts) == (WebhookEvent.State.APPLIED, 1)
    assert Subscription.objects.get(organization=tenant_a).quantity == 4
