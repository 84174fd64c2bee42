"""Dunning: a failed payment shows a banner and mails the owners, day 7 makes the organization
read-only, day 14 suspends it, and a payment restores it at once from any step."""

import datetime as dt
import json
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from billing import tasks
from billing.models import Invoice, Subscription, SubscriptionChange
from billing.providers.base import InvoiceState, SubscriptionState
from billing.services import subscriptions
from crm.models import Company
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
Dunning = Subscription.Dunning


def _on_stripe(tenant: Tenant) -> Subscription:
    Subscription.objects.filter(organization=tenant).update(
        provider="stripe",
        provider_subscription_id=f"sub_{tenant.slug}",
        status=Subscription.Status.ACTIVE,
    )
    return Subscription.objects.get(organization=tenant)


def _invoice(tenant: Tenant, *, paid: bool, number: str = "1") -> InvoiceState:
    return InvoiceState(
        invoice_id=f"in_{tenant.slug}_{number}",
        subscription_id=f"sub_{tenant.slug}",
        customer_id=f"cus_{tenant.slug}",
        status="paid" if paid else "open",
        currency="usd",
        subtotal=2900,
        tax=0,
        total=2900,
        amount_paid=2900 if paid else 0,
        payment_failed=not paid,
    )


def _fail(tenant: Tenant, at: dt.datetime = T0) -> None:
    _on_stripe(tenant)
    subscriptions.invoice_apply_state(
        provider="stripe", state=_invoice(tenant, paid=False), occurred_at=at
    )


def _pay(tenant: Tenant, at: dt.datetime) -> None:
    subscriptions.invoice_apply_state(
        provider="stripe", state=_invoice(tenant, paid=True), occurred_at=at
    )


def _advance_to(day: int) -> int:
    with time_machine.travel(T0 + day * DAY, tick=False):
        moved: int = tasks.dunning_advance.apply().get()
    return moved


def _page_client(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def _companies(tenant: Tenant) -> int:
    with tenant_context(tenant):
        return Company.objects.count()


def test_a_failed_payment_marks_past_due_and_mails_the_owners(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _fail(tenant_a)

    subscription = Subscription.objects.get(organization=tenant_a)
    assert subscription.status == Subscription.Status.PAST_DUE
    assert subscription.dunning == Dunning.WARNED
    assert subscription.past_due_since == T0
    assert Invoice.objects.get(organization=tenant_a).payment_failed_at == T0
    [message] = mail.outbox
    assert message.to == ["owner@alpha.test"]
    assert "failed" in message.subject
    assert "http://alpha.localhost:8000/settings/billing/" in message.body
    assert "May 11, 2026" in message.body  # the day it becomes read-only


def test_a_failed_payment_retried_and_failing_again_mails_once(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _fail(tenant_a)
        _fail(tenant_a, at=T0 + 3 * DAY)

    assert len(mail.outbox) == 1
    assert Subscription.objects.get(organization=tenant_a).past_due_since == T0


@pytest.mark.parametrize("path", ["/", "/contacts/", "/companies/"])
def test_every_page_shows_the_banner_after_a_failed_payment(
    tenant_a: Tenant, client_a: Client, path: str
) -> None:
    _fail(tenant_a)

    page = client_a.get(path)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="billing-banner"' in html
    assert "The latest payment for Alpha Inc failed" in html
    assert 'href="/settings/billing/"' in html


def test_no_banner_in_good_standing(client_a: Client) -> None:
    page = client_a.get("/")

    assert page.status_code == 200
    assert b"billing-banner" not in page.content


def test_writes_still_work_on_day_6(tenant_a: Tenant, client_a: Client) -> None:
    _fail(tenant_a)
    assert _advance_to(6) == 0

    created = client_a.post("/companies/new/", {"name": "Initech"})

    assert created.status_code == 302
    assert _companies(tenant_a) == 1


def test_day_7_makes_pages_read_only_with_the_banners_message(
    tenant_a: Tenant, client_a: Client
) -> None:
    _fail(tenant_a)
    assert _advance_to(7) == 1

    refused = client_a.post("/companies/new/", {"name": "Initech"})

    assert refused.status_code == 402
    html = refused.content.decode()
    assert 'data-testid="read-only-refusal"' in html
    assert "Alpha Inc is read-only because a payment is overdue" in html
    assert 'href="/settings/billing/"' in html
    assert _companies(tenant_a) == 0
    assert Subscription.objects.get(organization=tenant_a).dunning == Dunning.READ_ONLY
    assert SubscriptionChange.objects.filter(
        organization=tenant_a, kind="read_only", effective_at=T0 + 7 * DAY
    ).exists()


def test_an_htmx_write_gets_the_refusal_in_place_of_the_page(
    tenant_a: Tenant, client_a: Client
) -> None:
    _fail(tenant_a)
    _advance_to(7)

    refused = client_a.post("/companies/new/", {"name": "Initech"}, HTTP_HX_REQUEST="true")

    assert refused.status_code == 402
    assert (refused["HX-Retarget"], refused["HX-Reswap"]) == ("body", "innerHTML")
    assert "is read-only because a payment is overdue" in refused.content.decode()
    assert _companies(tenant_a) == 0


def test_reads_still_work_when_read_only(tenant_a: Tenant, client_a: Client) -> None:
    _fail(tenant_a)
    _advance_to(7)

    page = client_a.get("/companies/")

    assert page.status_code == 200
    assert "is read-only because a payment is overdue" in page.content.decode()


def test_day_7_makes_the_api_answer_402_payment_required(tenant_a: Tenant, member_a: User) -> None:
    api = token_client(member_a, tenant_a)
    _fail(tenant_a)
    _advance_to(7)

    refused = api.post("/api/v1/companies/", {"name": "Umbrella"}, content_type="application/json")
    listed = api.get("/api/v1/companies/")

    assert refused.status_code == 402
    assert refused["Content-Type"] == "application/problem+json"
    problem = json.loads(refused.content)
    assert problem["code"] == "payment-required"
    assert problem["type"].endswith("/payment-required")
    assert "read-only because a payment is overdue" in problem["detail"]
    assert _companies(tenant_a) == 0
    assert listed.status_code == 200


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_every_write_method_is_refused_when_read_only(
    tenant_a: Tenant, member_a: User, method: str
) -> None:
    with tenant_context(tenant_a):
        company = Company.objects.create(name="Initech")
    api = token_client(member_a, tenant_a)
    _fail(tenant_a)
    _advance_to(7)

    refused = getattr(api, method)(
        f"/api/v1/companies/{company.pk}/", {"name": "Initrode"}, content_type="application/json"
    )

    assert refused.status_code == 402
    with tenant_context(tenant_a):
        assert Company.objects.filter(pk=company.pk, name="Initech").exists()


def test_signing_out_and_the_billing_settings_stay_open_when_read_only(
    tenant_a: Tenant, owner_a: User
) -> None:
    client = _page_client(tenant_a, owner_a)
    client.raise_request_exception = False  # the provider is not what is tested here
    _fail(tenant_a)
    _advance_to(7)

    billing_write = client.post("/settings/billing/coupon/", {"coupon": ""})
    api_billing_write = client.post("/api/v1/billing/subscription/", {})
    signed_out = client.post("/accounts/logout/")

    assert billing_write.status_code != 402
    assert api_billing_write.status_code != 402
    assert signed_out.status_code == 302
    assert "_auth_user_id" not in client.session


def test_signing_in_stays_open_when_read_only(tenant_a: Tenant) -> None:
    _fail(tenant_a)
    _advance_to(7)
    client = Client(HTTP_HOST=host_of(tenant_a))

    signed_in = client.post("/accounts/login/", {"login": "owner@alpha.test", "password": PASSWORD})

    assert signed_in.status_code == 302
    assert "_auth_user_id" in client.session


def test_day_14_suspends_the_organization(
    tenant_a: Tenant, client_a: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _fail(tenant_a)
    _advance_to(7)
    with django_capture_on_commit_callbacks(execute=True):
        assert _advance_to(14) == 1

    tenant_a.refresh_from_db()
    assert tenant_a.is_suspended
    assert Subscription.objects.get(organization=tenant_a).dunning == Dunning.SUSPENDED
    assert client_a.get("/").status_code == 423
    assert [m.subject for m in mail.outbox] == [
        "Alpha Inc on MyCRM is suspended until its payment is made"
    ]


def test_read_only_and_suspension_mails_link_to_the_open_invoice(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    _fail(tenant_a)
    Invoice.objects.filter(organization=tenant_a).update(
        hosted_url="https://invoice.stripe.test/i/in_alpha_1"
    )

    with django_capture_on_commit_callbacks(execute=True):
        _advance_to(7)
        _advance_to(14)

    read_only, suspended = mail.outbox
    assert read_only.subject == "Alpha Inc on MyCRM is read-only until its payment is made"
    assert "May 18, 2026" in read_only.body  # the day it will be suspended
    assert suspended.to == ["owner@alpha.test"]
    for message in (read_only, suspended):
        assert "https://invoice.stripe.test/i/in_alpha_1" in message.body


def test_a_late_run_goes_straight_to_suspended(tenant_a: Tenant) -> None:
    _fail(tenant_a)

    assert _advance_to(20) == 1

    tenant_a.refresh_from_db()
    assert tenant_a.is_suspended
    kinds = SubscriptionChange.objects.filter(organization=tenant_a).values_list("kind", flat=True)
    assert "suspended" in kinds and "read_only" not in kinds


def test_running_the_steps_twice_changes_nothing_more(tenant_a: Tenant) -> None:
    _fail(tenant_a)
    _advance_to(7)

    assert _advance_to(8) == 0
    assert SubscriptionChange.objects.filter(organization=tenant_a, kind="read_only").count() == 1


@pytest.mark.parametrize("day", [0, 7, 14])
def test_a_payment_restores_the_organization_at_once_from_each_step(
    tenant_a: Tenant, owner_a: User, day: int
) -> None:
    _fail(tenant_a)
    for step in (7, 14):
        if day >= step:
            _advance_to(step)

    _pay(tenant_a, at=T0 + (day + 1) * DAY)

    tenant_a.refresh_from_db()
    subscription = Subscription.objects.get(organization=tenant_a)
    assert not tenant_a.is_suspended
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.dunning == Dunning.NONE
    assert subscription.past_due_since is None
    client = _page_client(tenant_a, owner_a)
    page = client.get("/")
    assert page.status_code == 200
    assert b"billing-banner" not in page.content
    assert client.post("/companies/new/", {"name": "Initech"}).status_code == 302


def test_a_subscription_the_provider_cancels_unpaid_ends_dunning_on_free(
    tenant_a: Tenant, client_a: Client
) -> None:
    _fail(tenant_a)
    _advance_to(14)

    subscriptions.subscription_apply_state(
        provider="stripe",
        state=SubscriptionState(
            subscription_id="sub_alpha",
            customer_id="cus_alpha",
            status="canceled",
            price_id="",
            quantity=1,
        ),
        occurred_at=T0 + 20 * DAY,
    )

    tenant_a.refresh_from_db()
    subscription = Subscription.objects.get(organization=tenant_a)
    assert not tenant_a.is_suspended
    assert (subscription.plan.code, subscription.status) == ("free", "canceled")
    assert (subscription.dunning, subscription.past_due_since) == (Dunning.NONE, None)
    assert client_a.post("/companies/new/", {"name": "Initech"}).status_code == 302


def test_a_cached_read_only_standing_never_outlives_the_payment(
    tenant_a: Tenant, client_a: Client
) -> None:
    _fail(tenant_a)
    _advance_to(7)
    assert client_a.post("/companies/new/", {"name": "Initech"}).status_code == 402

    _pay(tenant_a, at=T0 + 8 * DAY)

    assert client_a.post("/companies/new/", {"name": "Initech"}).status_code == 302


def test_the_standing_is_read_once_per_cached_organization(
    tenant_a: Tenant, client_a: Client
) -> None:
    assert client_a.post("/companies/new/", {"name": "Warm"}).status_code == 302

    with CaptureQueriesContext(connection) as queries:
        assert client_a.post("/companies/new/", {"name": "Initech"}).status_code == 302

    assert not [q for q in queries.captured_queries if "billing_subscription" in q["sql"]]


def test_api_reads_never_ask_for_the_standing(tenant_a: Tenant, member_a: User) -> None:
    api = token_client(member_a, tenant_a)
    _fail(tenant_a)
    _advance_to(7)

    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/companies/").status_code == 200

    assert not [q for q in queries.captured_queries if "billing_subscription" in q["sql"]]


def test_dunning_of_one_organization_never_reaches_another(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _fail(tenant_a)
    _advance_to(7)

    client_b = _page_client(tenant_b, owner_b)
    page = client_b.get("/")
    created = client_b.post("/companies/new/", {"name": "Initech"})
    api_created = token_client(owner_b, tenant_b).post(
        "/api/v1/companies/", {"name": "Umbrella"}, content_type="application/json"
    )

    assert b"billing-banner" not in page.content
    assert created.status_code == 302
    assert api_created.status_code == 201
    assert _companies(tenant_b) == 2
    assert all("owner@beta.test" not in m.to for m in mail.outbox)
    assert Subscription.objects.get(organization=tenant_b).dunning == Dunning.NONE


def test_a_token_of_b_on_a_read_only_host_of_a_writes_nothing(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    _fail(tenant_a)
    _advance_to(7)

    refused = token_client(owner_b, tenant_b, host=tenant_a).post(
        "/api/v1/companies/", {"name": "Umbrella"}, content_type="application/json"
    )

    assert refused.status_code in (401, 402, 403)
    assert _companies(tenant_a) == 0
    assert _companies(tenant_b) == 0


def test_a_suspended_organizations_owners_can_still_reach_billing_to_pay(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    _fail(tenant_a)
    _advance_to(14)
    owner = _page_client(tenant_a, owner_a)
    member = _page_client(tenant_a, member_a)

    closed = owner.get("/")
    billing = owner.get("/settings/billing/")

    assert closed.status_code == 423
    assert 'href="/settings/billing/"' in closed.content.decode()
    assert billing.status_code == 200
    assert member.get("/settings/billing/").status_code == 403
    assert owner.get("/contacts/").status_code == 423
    assert owner.post("/companies/new/", {"name": "Not now"}).status_code == 423
