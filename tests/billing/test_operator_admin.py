"""The operator admin's billing pages on the bare domain: plans and prices, an organization's
subscription changed by hand, custom plans, manual invoicing, invoices issued and paid."""

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.entitlements import require_capacity
from billing.exceptions import PlanLimitReached
from billing.models import (
    FEATURES,
    LIMITS,
    Invoice,
    Plan,
    Price,
    Provider,
    Subscription,
    SubscriptionChange,
    WebhookEvent,
)
from billing.services.subscriptions import dunning_advance, payment_failed
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

Kind = SubscriptionChange.Kind


@pytest.fixture
def ops(db: None) -> User:
    return User.objects.create_superuser(email="ops@mycrm.test", password="x-Long-passphrase-9")


@pytest.fixture
def operator(ops: User) -> Client:
    client = Client(HTTP_HOST=settings.BASE_DOMAIN)
    client.force_login(ops)
    return client


def _subscription(tenant: Tenant) -> Subscription:
    return Subscription.objects.select_related("plan", "price").get(organization=tenant)


def _url(subscription: Subscription, operation: str) -> str:
    return f"/admin/billing/subscription/{subscription.pk}/{operation}/"


def _last_change(tenant: Tenant) -> SubscriptionChange:
    return SubscriptionChange.objects.filter(organization=tenant).latest("effective_at", "id")


def _logged(user: User, obj: Any) -> list[str]:
    return [
        entry.get_change_message()
        for entry in LogEntry.objects.filter(
            user=user,
            object_id=str(obj.pk),
            content_type=ContentType.objects.get_for_model(type(obj)),
            action_flag=CHANGE,
        )
    ]


def _change_form(subscription: Subscription, **changes: Any) -> dict[str, Any]:
    ends = subscription.trial_ends_at
    data = {
        "plan": subscription.plan_id,
        "price": subscription.price_id or "",
        "quantity": subscription.quantity,
        "status": subscription.status,
        "provider": subscription.provider,
        "trial_ends_on": (
            (ends - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date().isoformat()
            if ends
            else ""
        ),
        "note": "",
    }
    data.update(changes)
    return data


def _custom_plan_form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Alpha contract",
        "unit_amount": "2500",
        "currency": "eur",
        "interval": "year",
        "limit_seats": "2",
        "limit_contacts": "",
        "limit_custom_fields": "40",
        "limit_api_tokens": "",
        "limit_imports_per_day": "",
        "feature_sso": "on",
        "feature_audit_log_retention_days": "730",
    }
    data.update(changes)
    return data


def _put_on_manual(operator: Client, tenant: Tenant, *, seats: int = 5, days: int = 30) -> None:
    growth_yearly = Price.objects.get(plan__code="growth", currency="USD", interval="year")
    response = operator.post(
        _url(_subscription(tenant), "manual-invoicing"),
        {"contract_seats": seats, "payment_terms_days": days, "price": growth_yearly.pk},
    )
    assert response.status_code == 302, response.content


# Pages and who may see them ----------------------------------------------------------------


@pytest.mark.parametrize(
    "page",
    [
        "/admin/billing/",
        "/admin/billing/plan/",
        "/admin/billing/plan/add/",
        "/admin/billing/subscription/",
        "/admin/billing/invoice/",
        "/admin/billing/subscriptionchange/",
        "/admin/billing/webhookevent/",
    ],
)
def test_operator_billing_pages_render(operator: Client, page: str) -> None:
    assert operator.get(page).status_code == 200


@pytest.mark.parametrize(
    "operation", ["change", "operator-change", "custom-plan", "manual-invoicing", "issue-invoice"]
)
def test_a_subscriptions_pages_render(operator: Client, tenant_a: Tenant, operation: str) -> None:
    response = operator.get(_url(_subscription(tenant_a), operation))
    assert response.status_code == 200
    assert b"Alpha Inc" in response.content


def test_a_subscriptions_page_offers_the_operators_changes_instead_of_a_save(
    operator: Client, tenant_a: Tenant
) -> None:
    subscription = _subscription(tenant_a)
    page = f"/admin/billing/subscription/{subscription.pk}/change/"
    content = operator.get(page).content.decode()
    for operation in ("operator-change", "custom-plan", "manual-invoicing", "issue-invoice"):
        assert f'href="{_url(subscription, operation)}"' in content
    assert 'name="_save"' not in content


def test_a_plans_change_page_shows_one_field_per_limit_and_feature(operator: Client) -> None:
    growth = Plan.objects.get(code="growth")
    content = operator.get(f"/admin/billing/plan/{growth.pk}/change/").content.decode()
    for name in LIMITS:
        assert f'name="limit_{name}"' in content
    for name in FEATURES:
        assert f'name="feature_{name}"' in content
    assert 'name="limits"' not in content  # no raw JSON


def test_a_member_who_is_not_staff_is_sent_to_sign_in(owner_a: User, tenant_a: Tenant) -> None:
    client = Client(HTTP_HOST=settings.BASE_DOMAIN)
    client.force_login(owner_a)
    subscription = _subscription(tenant_a)
    for page in ("/admin/billing/plan/", _url(subscription, "custom-plan")):
        response = client.get(page)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post(
        _url(subscription, "operator-change"), _change_form(subscription, quantity=9)
    )
    assert response.status_code == 302
    assert _subscription(tenant_a).quantity == subscription.quantity


def test_staff_without_the_permission_cannot_change_a_subscription(tenant_a: Tenant) -> None:
    staff: User = UserFactory(email="staff@mycrm.test", is_staff=True)  # type: ignore[assignment]
    client = Client(HTTP_HOST=settings.BASE_DOMAIN)
    client.force_login(staff)
    subscription = _subscription(tenant_a)
    assert client.get(_url(subscription, "custom-plan")).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="change_subscription"))
    staff = User.objects.get(pk=staff.pk)  # permissions are cached on the instance
    client.force_login(staff)
    assert client.get(_url(subscription, "custom-plan")).status_code == 200
    # Issuing an invoice is a permission of its own, and its button is not offered.
    assert client.get(_url(subscription, "issue-invoice")).status_code == 403
    page = client.get(f"/admin/billing/subscription/{subscription.pk}/change/").content.decode()
    assert _url(subscription, "custom-plan") in page
    assert _url(subscription, "issue-invoice") not in page


def test_the_billing_admin_is_not_served_on_an_organizations_host(
    ops: User, owner_a: User, tenant_a: Tenant
) -> None:
    """The organization's own admin (its owners') has no billing pages, and an operator's
    session there reaches nothing."""
    subscription = _subscription(tenant_a)
    pages = ("/admin/billing/subscription/", _url(subscription, "custom-plan"))
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)
    assert owner.get("/admin/").status_code == 200  # the organization's admin is there
    for page in pages:
        assert owner.get(page).status_code == 404
    operator = Client(HTTP_HOST=host_of(tenant_a))
    operator.force_login(ops)
    for page in pages:
        assert operator.get(page).status_code in (403, 404)


def _more_rows(tenants: list[Tenant], actor: User, n: int) -> None:
    """`n` more history rows and invoices for each organization, each naming an operator."""
    now = timezone.now()
    for tenant in tenants:
        subscription = _subscription(tenant)
        for i in range(n):
            SubscriptionChange.objects.create(
                organization=tenant,
                kind=Kind.OPERATOR,
                effective_at=now,
                plan=subscription.plan,
                status=subscription.status,
                quantity=1,
                currency="USD",
                actor=actor,
            )
            Invoice.objects.create(
                organization=tenant,
                provider=Provider.MANUAL,
                provider_invoice_id=f"man_in_{tenant.slug}_{n}_{i}",
                number=f"{tenant.slug}-{n}-{i}",
                status=Invoice.Status.OPEN,
                currency="USD",
                issued_at=now,
                issued_by=actor,
            )


@pytest.mark.parametrize(
    "page",
    [
        "/admin/billing/subscription/",
        "/admin/billing/invoice/",
        "/admin/billing/subscriptionchange/",
    ],
)
def test_billing_lists_read_a_page_in_the_same_statements_however_many_rows(
    operator: Client, ops: User, tenant_a: Tenant, tenant_b: Tenant, page: str
) -> None:
    _more_rows([tenant_a, tenant_b], ops, 1)
    operator.get(page)  # content types and sessions are read and kept on the first
    with CaptureQueriesContext(connection) as few:
        assert operator.get(page).status_code == 200
    _more_rows([tenant_a, tenant_b], ops, 6)
    with CaptureQueriesContext(connection) as many:
        assert operator.get(page).status_code == 200
    assert len(many) == len(few)


# Plans and prices --------------------------------------------------------------------------


def _plan_form(plan: Plan, **changes: Any) -> dict[str, Any]:
    prices = list(plan.prices.order_by("pk"))
    data: dict[str, Any] = {
        "name": plan.name,
        "description": plan.description,
        "rank": plan.rank,
        "trial_days": plan.trial_days,
        "prices-TOTAL_FORMS": str(len(prices)),
        "prices-INITIAL_FORMS": str(len(prices)),
        "prices-MIN_NUM_FORMS": "0",
        "prices-MAX_NUM_FORMS": "1000",
    }
    if plan.is_public:
        data["is_public"] = "on"
    if plan.contact_sales:
        data["contact_sales"] = "on"
    for name in LIMITS:
        value = plan.limit(name)
        data[f"limit_{name}"] = "" if value is None else str(value)
    for name in FEATURES:
        value = plan.features.get(name)
        if value is True:
            data[f"feature_{name}"] = "on"
        elif value:
            data[f"feature_{name}"] = str(value)
    for i, price in enumerate(prices):
        data.update(
            {
                f"prices-{i}-id": str(price.pk),
                f"prices-{i}-plan": str(plan.pk),
                f"prices-{i}-interval": price.interval,
                f"prices-{i}-currency": price.currency,
                f"prices-{i}-unit_amount": str(price.unit_amount),
                f"prices-{i}-provider_ids": "{}",
            }
        )
        if price.active:
            data[f"prices-{i}-active"] = "on"
    data.update(changes)
    return data


def test_operator_edits_a_plans_limits_and_features_as_fields(operator: Client, ops: User) -> None:
    starter = Plan.objects.get(code="starter")
    response = operator.post(
        f"/admin/billing/plan/{starter.pk}/change/",
        _plan_form(
            starter, limit_contacts="", limit_seats="12", feature_automation="on", code="hacked"
        ),
    )
    assert response.status_code == 302, response.content
    starter.refresh_from_db()
    assert starter.code == "starter"  # read-only: trials find plans by code
    assert starter.limit("seats") == 12
    assert starter.limit("contacts") is None  # empty is unlimited
    assert starter.has_feature("automation")
    assert starter.features["audit_log_retention_days"] == 90
    assert _logged(ops, starter)


def test_operator_adds_a_plan_and_a_custom_one_is_never_public(
    operator: Client, tenant_a: Tenant
) -> None:
    data = {
        "code": "team",
        "name": "Team",
        "rank": "15",
        "trial_days": "0",
        "is_public": "on",
        "limit_seats": "25",
        "feature_automation": "on",
        "prices-TOTAL_FORMS": "1",
        "prices-INITIAL_FORMS": "0",
        "prices-MIN_NUM_FORMS": "0",
        "prices-MAX_NUM_FORMS": "1000",
        "prices-0-interval": "month",
        "prices-0-currency": "USD",
        "prices-0-unit_amount": "2500",
        "prices-0-active": "on",
        "prices-0-provider_ids": "{}",
    }
    response = operator.post("/admin/billing/plan/add/", {**data, "organization": tenant_a.pk})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["is_public"]
    assert not Plan.objects.filter(code="team").exists()
    response = operator.post("/admin/billing/plan/add/", data)
    assert response.status_code == 302, response.content
    team = Plan.objects.get(code="team")
    assert team.limits == {
        "seats": 25,
        "contacts": None,
        "custom_fields": None,
        "api_tokens": None,
        "imports_per_day": None,
    }
    assert team.features == {"automation": True}
    assert team.prices.get().unit_amount == 2500


def test_a_negative_limit_is_a_field_error_and_nothing_is_saved(operator: Client) -> None:
    starter = Plan.objects.get(code="starter")
    response = operator.post(
        f"/admin/billing/plan/{starter.pk}/change/", _plan_form(starter, limit_seats="-1")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["limit_seats"]
    starter.refresh_from_db()
    assert starter.limit("seats") == 10


def test_a_price_without_provider_ids_gets_none_and_an_unknown_provider_is_refused(
    operator: Client,
) -> None:
    starter = Plan.objects.get(code="starter")
    data = _plan_form(starter)
    i = int(data["prices-TOTAL_FORMS"])
    new = {
        "prices-TOTAL_FORMS": str(i + 1),
        f"prices-{i}-interval": "year",
        f"prices-{i}-currency": "CHF",
        f"prices-{i}-unit_amount": "15000",
        f"prices-{i}-active": "on",
    }
    path = f"/admin/billing/plan/{starter.pk}/change/"
    response = operator.post(path, {**data, **new, f"prices-{i}-provider_ids": '{"acme": "x"}'})
    assert response.status_code == 200
    assert not starter.prices.filter(currency="CHF").exists()
    response = operator.post(path, {**data, **new, f"prices-{i}-provider_ids": ""})
    assert response.status_code == 302, response.content
    assert starter.prices.get(currency="CHF").provider_ids == {}


def test_operator_adds_a_price_to_a_plan(operator: Client) -> None:
    starter = Plan.objects.get(code="starter")
    data = _plan_form(starter)
    i = int(data["prices-TOTAL_FORMS"])
    data.update(
        {
            "prices-TOTAL_FORMS": str(i + 1),
            f"prices-{i}-interval": "month",
            f"prices-{i}-currency": "gbp",
            f"prices-{i}-unit_amount": "1300",
            f"prices-{i}-active": "on",
            f"prices-{i}-provider_ids": "{}",
        }
    )
    response = operator.post(f"/admin/billing/plan/{starter.pk}/change/", data)
    assert response.status_code == 302, response.content
    assert starter.prices.get(currency="GBP", interval="month").unit_amount == 1300


def test_a_price_in_use_keeps_its_amount(operator: Client, tenant_a: Tenant) -> None:
    starter = Plan.objects.get(code="starter")
    price = starter.prices.order_by("pk").first()
    assert price is not None
    Subscription.objects.filter(organization=tenant_a).update(plan=starter, price=price)
    response = operator.post(
        f"/admin/billing/plan/{starter.pk}/change/",
        _plan_form(starter, **{"prices-0-unit_amount": "1"}),
    )
    assert response.status_code == 200
    assert "add a new price" in response.content.decode()
    price.refresh_from_db()
    assert price.unit_amount != 1


def test_plans_are_never_deleted_from_the_admin(operator: Client) -> None:
    free = Plan.objects.get(code="free")
    assert (
        operator.post(f"/admin/billing/plan/{free.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Plan.objects.filter(pk=free.pk).exists()


# A subscription changed by hand ------------------------------------------------------------


def test_operator_switches_an_organizations_provider_and_it_is_recorded(
    operator: Client, ops: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    subscription = _subscription(tenant_a)
    b_before = _subscription(tenant_b)
    response = operator.post(
        _url(subscription, "operator-change"),
        _change_form(subscription, provider="paddle", note="Customer pays in EUR via Paddle"),
    )
    assert response.status_code == 302, response.content
    assert _subscription(tenant_a).provider == Provider.PADDLE
    change = _last_change(tenant_a)
    assert (change.kind, change.actor, change.note) == (
        Kind.OPERATOR,
        ops,
        "Customer pays in EUR via Paddle",
    )
    assert _logged(ops, subscription)
    # The other organization is untouched.
    b_after = _subscription(tenant_b)
    assert (b_after.provider, b_after.updated_at) == (b_before.provider, b_before.updated_at)


@pytest.mark.parametrize("status", ["active", "trialing"])
def test_a_provider_still_billing_the_organization_cannot_be_switched_away_from(
    operator: Client, tenant_a: Tenant, status: str
) -> None:
    starter_monthly = Price.objects.get(plan__code="starter", currency="USD", interval="month")
    Subscription.objects.filter(organization=tenant_a).update(
        provider=Provider.STRIPE,
        provider_subscription_id="sub_123",
        status=status,
        plan=starter_monthly.plan,
        price=starter_monthly,
    )
    subscription = _subscription(tenant_a)
    changes = SubscriptionChange.objects.filter(organization=tenant_a).count()
    response = operator.post(
        _url(subscription, "operator-change"), _change_form(subscription, provider="manual")
    )
    assert response.status_code == 200
    assert "still pays through Stripe" in str(response.context["form"].errors["provider"])
    assert _subscription(tenant_a).provider == Provider.STRIPE
    assert SubscriptionChange.objects.filter(organization=tenant_a).count() == changes


def test_operator_changes_seats_and_status_with_one_history_row(
    operator: Client, ops: User, tenant_a: Tenant
) -> None:
    subscription = _subscription(tenant_a)
    starter_monthly = Price.objects.get(plan__code="starter", currency="USD", interval="month")
    response = operator.post(
        _url(subscription, "operator-change"),
        _change_form(
            subscription,
            plan=starter_monthly.plan_id,
            price=starter_monthly.pk,
            quantity=4,
            status="active",
        ),
    )
    assert response.status_code == 302, response.content
    after = _subscription(tenant_a)
    assert (after.plan.code, after.price, after.quantity, after.status) == (
        "starter",
        starter_monthly,
        4,
        "active",
    )
    change = _last_change(tenant_a)
    assert change.actor == ops
    assert change.mrr == 4 * 1500
    # Sending the same form again changes nothing and records nothing.
    count = SubscriptionChange.objects.filter(organization=tenant_a).count()
    operator.post(_url(subscription, "operator-change"), _change_form(after))
    assert SubscriptionChange.objects.filter(organization=tenant_a).count() == count


def test_an_operator_ending_past_due_by_hand_restores_a_suspended_organization(
    operator: Client, ops: User, tenant_a: Tenant
) -> None:
    now = timezone.now()
    payment_failed(subscription=_subscription(tenant_a), at=now - dt.timedelta(days=30))
    dunning_advance(now=now)
    subscription = _subscription(tenant_a)
    assert subscription.status == "past_due"
    response = operator.post(
        _url(subscription, "operator-change"),
        _change_form(subscription, status="active", note="Paid by wire transfer"),
    )
    assert response.status_code == 302, response.content
    after = _subscription(tenant_a)
    assert (after.status, after.dunning, after.past_due_since) == ("active", "none", None)
    tenant_a.refresh_from_db()
    assert not tenant_a.is_suspended
    change = _last_change(tenant_a)
    assert (change.kind, change.actor, change.status) == (Kind.OPERATOR, ops, "active")


def test_operator_extends_a_trial_and_its_reminder_is_due_again(
    operator: Client, ops: User, tenant_a: Tenant
) -> None:
    Subscription.objects.filter(organization=tenant_a).update(trial_reminder_sent_at=timezone.now())
    subscription = _subscription(tenant_a)
    new_end = (timezone.now() + dt.timedelta(days=40)).date()
    response = operator.post(
        _url(subscription, "operator-change"),
        _change_form(subscription, trial_ends_on=new_end.isoformat()),
    )
    assert response.status_code == 302, response.content
    after = _subscription(tenant_a)
    assert after.trial_ends_at == dt.datetime.combine(
        new_end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
    )
    assert after.trial_reminder_sent_at is None
    change = _last_change(tenant_a)
    assert (change.kind, change.actor, change.status) == (Kind.OPERATOR, ops, "trialing")
    assert change.note == f"Trial ends {new_end + dt.timedelta(days=1):%Y-%m-%d} 00:00 UTC"
    # The form shows the day chosen, and sending it back unchanged moves nothing.
    form = operator.get(_url(after, "operator-change")).context["form"]
    assert form.initial["trial_ends_on"] == new_end
    count = SubscriptionChange.objects.filter(organization=tenant_a).count()
    operator.post(_url(after, "operator-change"), _change_form(after))
    assert SubscriptionChange.objects.filter(organization=tenant_a).count() == count
    assert _subscription(tenant_a).trial_ends_at == after.trial_ends_at


def test_a_trial_ending_in_the_past_is_a_field_error(operator: Client, tenant_a: Tenant) -> None:
    subscription = _subscription(tenant_a)
    response = operator.post(
        _url(subscription, "operator-change"),
        _change_form(subscription, trial_ends_on="2020-01-01"),
    )
    assert response.status_code == 200
    assert response.context["form"].errors["trial_ends_on"]
    assert _subscription(tenant_a).trial_ends_at == subscription.trial_ends_at


def test_past_due_is_not_set_by_hand(operator: Client, tenant_a: Tenant) -> None:
    subscription = _subscription(tenant_a)
    response = operator.post(
        _url(subscription, "operator-change"), _change_form(subscription, status="past_due")
    )
    assert response.status_code == 200 and response.context["form"].errors["status"]
    assert _subscription(tenant_a).status == "trialing"


def test_canceling_by_hand_puts_the_organization_on_free(
    operator: Client, ops: User, tenant_a: Tenant
) -> None:
    subscription = _subscription(tenant_a)
    response = operator.post(
        _url(subscription, "operator-change"), _change_form(subscription, status="canceled")
    )
    assert response.status_code == 302, response.content
    after = _subscription(tenant_a)
    assert (after.status, after.plan.code, after.price) == ("canceled", "free", None)
    change = _last_change(tenant_a)
    assert (change.kind, change.actor, change.mrr) == (Kind.OPERATOR, ops, 0)


def test_a_price_of_another_plan_is_a_field_error(operator: Client, tenant_a: Tenant) -> None:
    subscription = _subscription(tenant_a)
    starter_monthly = Price.objects.get(plan__code="starter", currency="USD", interval="month")
    response = operator.post(
        _url(subscription, "operator-change"),
        _change_form(subscription, plan=Plan.objects.get(code="free").pk, price=starter_monthly.pk),
    )
    assert response.status_code == 200
    assert response.context["form"].errors["price"]
    assert _subscription(tenant_a).plan.code == "growth"


# Custom plans ------------------------------------------------------------------------------


def test_operator_gives_an_organization_a_custom_plan_whose_limits_apply(
    operator: Client, ops: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    subscription = _subscription(tenant_a)
    response = operator.post(_url(subscription, "custom-plan"), _custom_plan_form())
    assert response.status_code == 302, response.content
    after = _subscription(tenant_a)
    plan = after.plan
    assert (plan.organization, plan.is_public, plan.code) == (tenant_a, False, "custom-alpha")
    assert plan.limits["seats"] == 2 and plan.limits["contacts"] is None
    assert plan.features == {"sso": True, "audit_log_retention_days": 730}
    assert after.price is not None
    assert (after.price.unit_amount, after.price.currency, after.price.interval) == (
        2500,
        "EUR",
        "year",
    )
    change = _last_change(tenant_a)
    assert (change.kind, change.actor, change.plan) == (Kind.PLAN_CHANGED, ops, plan)
    assert _logged(ops, subscription)
    # Alpha has its owner and a member: its two seats are taken.
    with pytest.raises(PlanLimitReached) as refused:
        require_capacity(tenant=tenant_a, name="seats")
    assert refused.value.extra["limit"] == 2
    require_capacity(tenant=tenant_a, name="api_tokens", adding=10_000)  # unlimited
    # Beta keeps its own plan and cannot be put on Alpha's.
    assert _subscription(tenant_b).plan.code == "growth"
    require_capacity(tenant=tenant_b, name="seats")
    b_subscription = _subscription(tenant_b)
    response = operator.post(
        _url(b_subscription, "operator-change"), _change_form(b_subscription, plan=plan.pk)
    )
    assert response.status_code == 200 and response.context["form"].errors["plan"]
    assert _subscription(tenant_b).plan.code == "growth"


def test_a_custom_plan_with_a_negative_limit_is_refused_whole(
    operator: Client, tenant_a: Tenant
) -> None:
    subscription = _subscription(tenant_a)
    response = operator.post(
        _url(subscription, "custom-plan"), _custom_plan_form(limit_seats="-3", currency="E1")
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"limit_seats", "currency"} <= set(errors)
    assert not Plan.objects.filter(organization=tenant_a).exists()
    assert _subscription(tenant_a).plan.code == "growth"


# Manual invoicing and invoices -------------------------------------------------------------


def test_operator_puts_an_organization_on_manual_invoicing(
    operator: Client, ops: User, tenant_a: Tenant
) -> None:
    _put_on_manual(operator, tenant_a, seats=25, days=45)
    after = _subscription(tenant_a)
    assert (after.provider, after.status, after.quantity) == ("manual", "active", 25)
    assert (after.contract_seats, after.payment_terms_days) == (25, 45)
    assert after.provider_subscription_id == f"man_sub_{tenant_a.pk}"
    change = _last_change(tenant_a)
    assert (change.actor, change.quantity, change.status) == (ops, 25, "active")
    assert change.mrr == 25 * round(37440 / 12)


def test_manual_invoicing_needs_a_price(operator: Client, tenant_a: Tenant) -> None:
    subscription = _subscription(tenant_a)
    response = operator.post(
        _url(subscription, "manual-invoicing"), {"contract_seats": 5, "payment_terms_days": 30}
    )
    assert response.status_code == 200
    assert "price per seat" in str(response.context["form"].errors["price"])
    assert _subscription(tenant_a).provider == settings.BILLING_DEFAULT_PROVIDER


def test_operator_issues_an_invoice_due_after_the_payment_terms(
    operator: Client, ops: User, tenant_a: Tenant
) -> None:
    _put_on_manual(operator, tenant_a, seats=5, days=45)
    subscription = _subscription(tenant_a)
    form = {
        "period_start": "2026-12-01",
        "period_end": "2027-11-30",
        "subtotal": "187200",
        "tax": "35568",
        "currency": "usd",
    }
    response = operator.post(_url(subscription, "issue-invoice"), form)
    assert response.status_code == 302, response.content
    invoice = Invoice.objects.get(organization=tenant_a)
    year = invoice.issued_at.year
    assert invoice.number == f"ALPHA-{year}-0001"
    assert (invoice.status, invoice.total, invoice.currency, invoice.issued_by) == (
        "open",
        187200 + 35568,
        "USD",
        ops,
    )
    assert invoice.due_at == invoice.issued_at + dt.timedelta(days=45)
    assert invoice.period_start == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert _logged(ops, subscription)
    assert LogEntry.objects.filter(
        user=ops, action_flag=ADDITION, object_id=str(invoice.pk), object_repr=invoice.number
    ).exists()
    # The next gets the next number; a number given twice is a field error.
    operator.post(_url(subscription, "issue-invoice"), form)
    assert Invoice.objects.filter(organization=tenant_a, number=f"ALPHA-{year}-0002").exists()
    response = operator.post(
        _url(subscription, "issue-invoice"), {**form, "number": f"ALPHA-{year}-0001"}
    )
    assert response.status_code == 200 and response.context["form"].errors["number"]
    assert Invoice.objects.filter(organization=tenant_a).count() == 2


def test_an_organization_paying_by_card_is_not_invoiced_by_hand(
    operator: Client, tenant_a: Tenant
) -> None:
    subscription = _subscription(tenant_a)
    response = operator.post(
        _url(subscription, "issue-invoice"), {"subtotal": "100", "tax": "0", "currency": "USD"}
    )
    assert response.status_code == 200
    assert "manual invoicing" in str(response.context["form"].non_field_errors())
    assert not Invoice.objects.filter(organization=tenant_a).exists()


def test_marking_a_manual_invoice_paid_restores_a_suspended_organization(
    operator: Client, ops: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _put_on_manual(operator, tenant_a)
    subscription = _subscription(tenant_a)
    operator.post(
        _url(subscription, "issue-invoice"), {"subtotal": "50000", "tax": "0", "currency": "USD"}
    )
    invoice = Invoice.objects.get(organization=tenant_a)
    now = timezone.now()
    payment_failed(subscription=_subscription(tenant_a), at=now - dt.timedelta(days=30))
    dunning_advance(now=now)
    tenant_a.refresh_from_db()
    assert tenant_a.is_suspended
    assert _subscription(tenant_a).dunning == Subscription.Dunning.SUSPENDED

    response = operator.post(
        "/admin/billing/invoice/", {"action": "mark_paid", "_selected_action": [invoice.pk]}
    )
    assert response.status_code == 302, response.content
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("paid", 50000)
    assert invoice.paid_at is not None
    after = _subscription(tenant_a)
    assert (after.status, after.dunning, after.past_due_since) == ("active", "none", None)
    tenant_a.refresh_from_db()
    assert not tenant_a.is_suspended
    recovered = _last_change(tenant_a)
    assert (recovered.kind, recovered.actor) == (Kind.PAYMENT_RECOVERED, ops)
    assert _logged(ops, invoice) == ["Marked paid."]
    assert not _subscription(tenant_b).is_read_only


def test_operator_voids_an_open_manual_invoice_but_not_a_paid_one(
    operator: Client, ops: User, tenant_a: Tenant
) -> None:
    _put_on_manual(operator, tenant_a)
    subscription = _subscription(tenant_a)
    for _ in range(2):
        operator.post(
            _url(subscription, "issue-invoice"), {"subtotal": "100", "tax": "0", "currency": "USD"}
        )
    first, second = Invoice.objects.filter(organization=tenant_a).order_by("pk")
    page = operator.get(f"/admin/billing/invoice/{first.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    operator.post(
        "/admin/billing/invoice/", {"action": "mark_paid", "_selected_action": [first.pk]}
    )
    response = operator.post(
        "/admin/billing/invoice/",
        {"action": "void", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert "is paid; it cannot be voided" in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("paid", "void")
    assert _logged(ops, second) == ["Voided."]


def test_a_providers_invoice_is_not_marked_paid_by_hand(operator: Client, tenant_a: Tenant) -> None:
    invoice = Invoice.objects.create(
        organization=tenant_a,
        provider=Provider.STRIPE,
        provider_invoice_id="in_123",
        status=Invoice.Status.OPEN,
        currency="USD",
        total=100,
        issued_at=timezone.now(),
    )
    response = operator.post(
        "/admin/billing/invoice/",
        {"action": "mark_paid", "_selected_action": [invoice.pk]},
        follow=True,
    )
    assert "reports its own payments" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == "open"


# History and events ------------------------------------------------------------------------


def test_history_and_events_are_read_only(operator: Client, tenant_a: Tenant) -> None:
    change = _last_change(tenant_a)
    page = operator.get(f"/admin/billing/subscriptionchange/{change.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert operator.get("/admin/billing/subscriptionchange/add/").status_code == 403
    assert operator.get("/admin/billing/webhookevent/add/").status_code == 403
    response = operator.post(
        f"/admin/billing/subscriptionchange/{change.pk}/change/", {"note": "rewritten"}
    )
    assert response.status_code == 403
    change.refresh_from_db()
    assert change.note != "rewritten"


def _failed_invoice_event(event_id: str, subscription_id: str) -> WebhookEvent:
    """A Stripe "invoice.paid" that failed: no organization had the subscription yet."""
    now = timezone.now()
    return WebhookEvent.objects.create(
        provider=Provider.STRIPE,
        event_id=event_id,
        event_type="invoice.paid",
        occurred_at=now,
        state=WebhookEvent.State.FAILED,
        attempts=10,
        error="NotLinkedYet: no organization has subscription " + subscription_id,
        payload={
            "id": event_id,
            "type": "invoice.paid",
            "created": int(now.timestamp()),
            "data": {
                "object": {
                    "id": f"in_{event_id}",
                    "object": "invoice",
                    "subscription": subscription_id,
                    "customer": "cus_1",
                    "status": "paid",
                    "currency": "usd",
                    "subtotal": 3900,
                    "total": 3900,
                    "amount_paid": 3900,
                    "number": "STRIPE-0001",
                    "created": int(now.timestamp()),
                }
            },
        },
    )


def test_operator_applies_a_failed_event_again_and_an_applied_one_is_left_alone(
    operator: Client, ops: User, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    failed = _failed_invoice_event("evt_failed", "sub_alpha")
    applied = _failed_invoice_event("evt_applied", "sub_alpha")
    WebhookEvent.objects.filter(pk=applied.pk).update(state=WebhookEvent.State.APPLIED)
    # The organization's checkout has since linked it to the subscription.
    Subscription.objects.filter(organization=tenant_a).update(
        provider=Provider.STRIPE, provider_subscription_id="sub_alpha"
    )
    response = operator.post(
        "/admin/billing/webhookevent/",
        {"action": "retry", "_selected_action": [failed.pk, applied.pk]},
        follow=True,
    )
    assert "Left 1 event(s)" in response.content.decode()
    failed.refresh_from_db()
    assert (failed.state, failed.attempts, failed.error) == ("applied", 11, "")
    invoice = Invoice.objects.get(provider_invoice_id="in_evt_failed")
    assert (invoice.organization, invoice.status) == (tenant_a, "paid")
    assert not Invoice.objects.filter(provider_invoice_id="in_evt_applied").exists()
    assert not Invoice.objects.filter(organization=tenant_b).exists()
    assert _logged(ops, failed) == ["Applied again: applied."]


def test_an_event_that_fails_again_stays_failed_with_its_error(operator: Client) -> None:
    event = _failed_invoice_event("evt_unlinked", "sub_nobody")
    response = operator.post(
        "/admin/billing/webhookevent/",
        {"action": "retry", "_selected_action": [event.pk]},
        follow=True,
    )
    assert "NotLinkedYet" in response.content.decode()
    event.refresh_from_db()
    assert (event.state, event.attempts) == ("failed", 11)
