"""The billing API: the subscription and invoices for owners, 403 for everyone else, and
refused changes as problem+json (409, 422, 502), never a 500; changes made at (local)
Stripe."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from billing.models import Invoice, Price, Subscription
from iam.models import Membership, Role, User
from tenants.models import Tenant
from tests.conftest import token_client
from tests.factories import UserFactory

from . import stripe_support as s

pytestmark = pytest.mark.django_db

BASE = "/api/v1/billing/"


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


def _invoices(tenant: Tenant, count: int, prefix: str) -> None:
    now = timezone.now()
    Invoice.objects.bulk_create(
        Invoice(
            organization=tenant,
            provider="stripe",
            provider_invoice_id=f"in_{prefix}_{n}",
            number=f"{prefix}-{n:04d}",
            status=Invoice.Status.PAID,
            currency="USD",
            subtotal=2000,
            tax=400,
            total=2400,
            amount_paid=2400,
            issued_at=now - dt.timedelta(days=30 * n),
        )
        for n in range(count)
    )


def test_owner_reads_plan_status_seats_usage_and_limits(owner_api: Client) -> None:
    response = owner_api.get(f"{BASE}subscription/")

    assert response.status_code == 200
    body = response.json()
    assert body["plan"] == {"code": "growth", "name": "Growth"}
    assert body["status"] == "trialing"
    assert body["trial_ends_at"] is not None
    assert body["members"] == 2
    assert body["self_serve"] is True
    assert "seats" in body["limits"]
    seats = next(u for u in body["usage"] if u["name"] == "seats")
    assert seats["used"] == 2


@pytest.mark.parametrize("role", [Role.MEMBER, Role.ADMIN])
def test_members_and_admins_get_403_problems(tenant_a: Tenant, role: str) -> None:
    user = UserFactory()
    Membership.objects.create(user=user, tenant=tenant_a, role=role)
    api = token_client(user, tenant_a)

    for response in (
        api.get(f"{BASE}subscription/"),
        api.get(f"{BASE}invoices/"),
        api.post(f"{BASE}subscription/cancel/", content_type="application/json"),
    ):
        assert response.status_code == 403
        assert response["Content-Type"].startswith("application/problem+json")


def test_a_token_of_b_cannot_read_the_billing_of_a(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    api = token_client(owner_b, tenant_b, host=tenant_a)

    read = api.get(f"{BASE}subscription/")
    invoices = api.get(f"{BASE}invoices/")
    change = api.post(f"{BASE}subscription/cancel/", content_type="application/json")

    assert read.status_code == invoices.status_code == change.status_code == 401
    assert b"growth" not in read.content


def test_invoices_are_paginated_newest_first_and_only_the_organizations_own(
    owner_api: Client,
    tenant_a: Tenant,
    tenant_b: Tenant,
    django_assert_max_num_queries: Callable[[int], Any],
) -> None:
    _invoices(tenant_a, 3, "A")
    _invoices(tenant_b, 2, "B")

    with django_assert_max_num_queries(8):  # a page costs the same however many invoices
        first = owner_api.get(f"{BASE}invoices/?page_size=2")
    body = first.json()
    second = owner_api.get(body["next"]).json()

    assert first.status_code == 200
    numbers = [i["number"] for i in body["results"] + second["results"]]
    assert numbers == ["A-0000", "A-0001", "A-0002"]
    assert body["results"][0]["total"] == 2400 and body["results"][0]["tax"] == 400
    assert body["results"][0]["currency"] == "USD"


def test_a_bad_page_size_is_a_400_problem(owner_api: Client) -> None:
    response = owner_api.get(f"{BASE}invoices/?page_size=0")

    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("subscription/cancel/", None),
        ("subscription/resume/", None),
        ("subscription/change/", {"plan": "starter", "interval": "year"}),
        ("subscription/coupon/", {"coupon": "WELCOME"}),
        ("portal/", None),
    ],
)
def test_changes_without_a_paid_subscription_are_409_problems(
    owner_api: Client, tenant_a: Tenant, path: str, body: dict[str, str] | None
) -> None:
    response = owner_api.post(f"{BASE}{path}", body or {}, content_type="application/json")

    assert response.status_code == 409
    assert response.json()["code"] == "billing-conflict"
    assert Subscription.objects.get(organization=tenant_a).status == "trialing"


def test_checking_out_a_contract_plan_is_a_422_naming_the_plan(owner_api: Client) -> None:
    response = owner_api.post(
        f"{BASE}checkout/",
        {"plan": "enterprise", "interval": "month"},
        content_type="application/json",
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "plan-not-offered"
    assert "talk to us" in problem["errors"]["plan"][0]


def test_checking_out_an_unknown_plan_or_a_free_one_is_a_422(owner_api: Client) -> None:
    unknown = owner_api.post(
        f"{BASE}checkout/", {"plan": "platinum", "interval": "month"}, "application/json"
    )
    free = owner_api.post(
        f"{BASE}checkout/", {"plan": "free", "interval": "month"}, "application/json"
    )

    assert unknown.status_code == free.status_code == 422
    assert "plan" in unknown.json()["errors"] and "plan" in free.json()["errors"]


def test_malformed_input_is_a_400_with_field_errors(owner_api: Client) -> None:
    response = owner_api.post(
        f"{BASE}checkout/", {"plan": 7, "interval": "weekly"}, content_type="application/json"
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) >= {"plan", "interval"}


def test_the_schema_documents_the_billing_operations_and_their_problems(
    owner_api: Client,
) -> None:
    schema = owner_api.get("/api/schema/?format=json").json()

    change = schema["paths"]["/api/v1/billing/subscription/change/"]["post"]
    assert {"402", "409", "422", "502"} <= set(change["responses"])
    assert "/api/v1/billing/invoices/" in schema["paths"]
    assert "/api/v1/billing/checkout/" in schema["paths"]


# At local Stripe ------------------------------------------------------------------------


def test_checkout_returns_the_stripe_checkout_url(
    owner_api: Client, stripe_prices: dict[tuple[str, str], Price]
) -> None:
    response = owner_api.post(
        f"{BASE}checkout/",
        {"plan": "growth", "interval": "month", "currency": "usd"},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["url"].startswith(settings.STRIPE_API_BASE + "/checkout/pay/cs_")


def test_checkout_when_already_paying_is_a_409(
    owner_api: Client, tenant_a: Tenant, paid_at_stripe: Callable[..., Subscription]
) -> None:
    paid_at_stripe(tenant_a)

    response = owner_api.post(
        f"{BASE}checkout/", {"plan": "growth", "interval": "month"}, "application/json"
    )

    assert response.status_code == 409


def test_change_cancel_resume_and_portal_at_stripe(
    owner_api: Client, tenant_a: Tenant, paid_at_stripe: Callable[..., Subscription]
) -> None:
    subscription = paid_at_stripe(tenant_a, "starter", "month")

    changed = owner_api.post(
        f"{BASE}subscription/change/",
        {"plan": "growth", "interval": "year"},
        content_type="application/json",
    )
    cancelled = owner_api.post(f"{BASE}subscription/cancel/", content_type="application/json")
    resumed = owner_api.post(f"{BASE}subscription/resume/", content_type="application/json")
    portal = owner_api.post(f"{BASE}portal/", content_type="application/json")

    assert changed.status_code == 200
    assert changed.json()["plan"]["code"] == "growth"
    assert changed.json()["interval"] == "year"
    assert changed.json()["status"] == "active"
    assert cancelled.json()["cancel_at_period_end"] is True
    assert resumed.json()["cancel_at_period_end"] is False
    assert portal.json()["url"].startswith(settings.STRIPE_API_BASE)
    remote = s.client().v1.subscriptions.retrieve(subscription.provider_subscription_id)
    assert remote.to_dict()["items"]["data"][0]["price"]["recurring"]["interval"] == "year"


def test_a_coupon_stripe_does_not_know_is_a_502_problem_and_nothing_changes(
    owner_api: Client, tenant_a: Tenant, paid_at_stripe: Callable[..., Subscription]
) -> None:
    paid_at_stripe(tenant_a)

    response = owner_api.post(
        f"{BASE}subscription/coupon/", {"coupon": "NO-SUCH"}, content_type="application/json"
    )

    assert response.status_code == 502
    assert response.json()["code"] == "billing-provider-error"
    assert Subscription.objects.get(organization=tenant_a).coupon == ""


def test_a_plan_the_organization_is_already_over_is_a_402_and_stripe_is_not_asked(
    owner_api: Client, tenant_a: Tenant
) -> None:
    for _ in range(9):  # 11 members; Starter allows 10
        Membership.objects.create(user=UserFactory(), tenant=tenant_a, role=Role.MEMBER)

    response = owner_api.post(
        f"{BASE}checkout/", {"plan": "starter", "interval": "month"}, "application/json"
    )

    assert response.status_code == 402
    problem = response.json()
    assert (problem["code"], problem["limit_name"], problem["current"]) == (
        "plan-limit",
        "seats",
        11,
    )
    assert "Starter plan allows 10 members" in problem["errors"]["plan"][0]


def test_a_retried_cancel_with_its_idempotency_key_gets_the_first_answer_again(
    owner_api: Client, tenant_a: Tenant, paid_at_stripe: Callable[..., Subscription]
) -> None:
    paid_at_stripe(tenant_a, "starter", "month")
    key = {"HTTP_IDEMPOTENCY_KEY": "cancel-once-7f3a"}

    first = owner_api.post(f"{BASE}subscription/cancel/", content_type="application/json", **key)
    retry = owner_api.post(f"{BASE}subscription/cancel/", content_type="application/json", **key)
    other = owner_api.post(f"{BASE}subscription/resume/", content_type="application/json", **key)

    assert first.status_code == retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert other.status_code == 422  # the same key with another request
    assert Subscription.objects.get(organization=tenant_a).cancel_at_period_end is True
