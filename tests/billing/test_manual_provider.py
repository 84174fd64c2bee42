"""Manual invoicing as a provider: our records are the contract, so there is no checkout,
portal or webhook, and its changes and its state are our own rows."""

import datetime as dt

import pytest
from django.utils import timezone

from billing.exceptions import BillingRuleBroken, InvalidSignature, ProviderError
from billing.models import Invoice, Plan, Price, Provider, Subscription, SubscriptionChange
from billing.providers import provider_for
from billing.providers.manual import ManualProvider
from billing.services.manual import (
    invoice_issue,
    invoice_mark_paid,
    subscription_manual_invoicing,
    subscription_operator_change,
)
from billing.services.subscriptions import (
    payment_failed,
    subscription_apply_state,
    trials_expire,
)
from iam.models import User
from tenants.models import Tenant
from tests.support.connections import (
    committed_organization,
    run_on_own_connection,
    start_on_own_connection,
)

pytestmark = pytest.mark.django_db

Kind = SubscriptionChange.Kind
manual = provider_for("manual")


@pytest.fixture
def ops(db: None) -> User:
    return User.objects.create_superuser(email="ops@mycrm.test", password="x-Long-passphrase-9")


def _price(plan: str, interval: str = "year") -> Price:
    return Price.objects.get(plan__code=plan, currency="USD", interval=interval)


def _on_contract(tenant: Tenant, ops: User, *, seats: int = 10) -> Subscription:
    return subscription_manual_invoicing(
        subscription=Subscription.objects.get(organization=tenant),
        by=ops,
        contract_seats=seats,
        payment_terms_days=30,
        price=_price("growth"),
    )


def _changes(tenant: Tenant) -> int:
    return SubscriptionChange.objects.filter(organization=tenant).count()


def test_the_manual_provider_is_found_by_its_code() -> None:
    assert isinstance(manual, ManualProvider)
    assert manual.code == Provider.MANUAL


def test_a_contract_has_no_checkout_and_no_portal(tenant_a: Tenant, ops: User) -> None:
    subscription = _on_contract(tenant_a, ops)
    with pytest.raises(ProviderError, match="handled by sales"):
        manual.checkout_url(
            subscription=subscription,
            price=_price("growth"),
            quantity=3,
            success_url="http://alpha.localhost/ok",
            cancel_url="http://alpha.localhost/no",
        )
    with pytest.raises(ProviderError):
        manual.portal_url(subscription=subscription, return_url="http://alpha.localhost/")


def test_manual_invoicing_accepts_no_webhook() -> None:
    with pytest.raises(InvalidSignature):
        manual.verify_webhook(body=b'{"id": "evt_1"}', headers={"Stripe-Signature": "t=1,v1=x"})
    assert manual.interpret(event_type="invoice.paid", payload={"id": "in_1"}) is None


def test_a_prices_manual_id_is_local() -> None:
    price = _price("starter", "month")
    assert manual.ensure_price(price=price) == f"man_pri_{price.pk}"
    assert manual.ensure_price(price=price) == manual.ensure_price(price=price)


def test_seats_below_the_contract_are_billed_as_the_contract_and_more_as_a_true_up(
    tenant_a: Tenant, ops: User
) -> None:
    subscription = _on_contract(tenant_a, ops, seats=10)
    before = _changes(tenant_a)
    state = manual.set_quantity(subscription=subscription, quantity=3, idempotency_key="k1")
    assert state.quantity == 10
    assert _changes(tenant_a) == before  # nothing changed, nothing recorded
    state = manual.set_quantity(subscription=subscription, quantity=12, idempotency_key="k2")
    assert state.quantity == 12
    stored = Subscription.objects.get(organization=tenant_a)
    assert stored.quantity == 12 and stored.contract_seats == 10
    change = SubscriptionChange.objects.filter(organization=tenant_a).latest("id")
    assert (change.kind, change.quantity, change.actor) == (Kind.SEATS_CHANGED, 12, None)


def test_a_contract_changes_plan_and_is_ended_and_resumed_on_our_records(
    tenant_a: Tenant, ops: User
) -> None:
    subscription = _on_contract(tenant_a, ops)
    starter = _price("starter", "month")
    state = manual.change_price(subscription=subscription, price=starter, quantity=4)
    stored = Subscription.objects.select_related("plan").get(organization=tenant_a)
    assert (stored.plan.code, stored.price_id, stored.quantity) == ("starter", starter.pk, 10)
    assert state.price_id == f"man_pri_{starter.pk}"

    assert manual.cancel_at_period_end(subscription=stored).cancel_at_period_end
    kinds = list(
        SubscriptionChange.objects.filter(organization=tenant_a)
        .order_by("-id")
        .values_list("kind", flat=True)[:2]
    )
    assert kinds == [Kind.CANCEL_SCHEDULED, Kind.PLAN_CHANGED]
    stored.refresh_from_db()
    assert not manual.resume(subscription=stored).cancel_at_period_end
    stored.refresh_from_db()
    with pytest.raises(BillingRuleBroken):
        manual.resume(subscription=stored)

    assert manual.apply_coupon(subscription=stored, coupon="LOYAL10").coupon == "LOYAL10"


def test_reconciling_a_contract_changes_nothing(tenant_a: Tenant, ops: User) -> None:
    """Applying what the provider "holds" is a no-op: it holds our own rows."""
    subscription = _on_contract(tenant_a, ops)
    before = _changes(tenant_a)
    state = manual.fetch(subscription=subscription)
    assert (state.status, state.quantity, state.organization_id) == ("active", 10, tenant_a.pk)
    applied = subscription_apply_state(
        provider=Provider.MANUAL, state=state, occurred_at=timezone.now()
    )
    assert applied is not None
    assert (applied.plan.code, applied.quantity, applied.status) == ("growth", 10, "active")
    assert _changes(tenant_a) == before


def test_a_contracts_invoices_are_its_own_organizations(
    tenant_a: Tenant, tenant_b: Tenant, ops: User
) -> None:
    a = _on_contract(tenant_a, ops)
    b = _on_contract(tenant_b, ops)
    issued = invoice_issue(subscription=a, by=ops, subtotal=1000, tax=190)
    invoice_issue(subscription=b, by=ops, subtotal=5000)
    invoice_mark_paid(invoice=issued, by=ops)
    states = manual.fetch_invoices(subscription=a)
    assert [(s.number, s.status, s.total, s.amount_paid) for s in states] == [
        (issued.number, "paid", 1190, 1190)
    ]
    assert [s.total for s in manual.fetch_invoices(subscription=b)] == [5000]


def test_marking_an_invoice_paid_ends_dunning_once_in_the_operators_name(
    tenant_a: Tenant, ops: User
) -> None:
    subscription = _on_contract(tenant_a, ops)
    invoice = invoice_issue(subscription=subscription, by=ops, subtotal=1000)
    payment_failed(subscription=subscription, at=timezone.now() - dt.timedelta(days=1))
    assert Subscription.objects.get(organization=tenant_a).status == "past_due"
    invoice_mark_paid(invoice=invoice, by=ops)
    invoice_mark_paid(invoice=invoice, by=ops)  # twice is once
    after = Subscription.objects.get(organization=tenant_a)
    assert (after.status, after.dunning) == ("active", "none")
    recovered = SubscriptionChange.objects.filter(
        organization=tenant_a, kind=Kind.PAYMENT_RECOVERED
    )
    assert [change.actor for change in recovered] == [ops]


def test_a_custom_plan_of_another_organization_cannot_back_a_contract(
    tenant_a: Tenant, tenant_b: Tenant, ops: User
) -> None:
    plan = Plan.objects.create(code="custom-beta", name="Beta", organization=tenant_b)
    price = Price.objects.create(plan=plan, interval="year", currency="USD", unit_amount=100)
    with pytest.raises(BillingRuleBroken):
        subscription_manual_invoicing(
            subscription=Subscription.objects.get(organization=tenant_a),
            by=ops,
            contract_seats=2,
            payment_terms_days=14,
            plan=plan,
            price=price,
        )
    assert Subscription.objects.get(organization=tenant_a).provider != Provider.MANUAL


def test_a_contract_on_a_plan_without_prices_asks_for_a_custom_plan(
    tenant_a: Tenant, ops: User
) -> None:
    with pytest.raises(BillingRuleBroken, match="custom plan first") as refused:
        subscription_manual_invoicing(
            subscription=Subscription.objects.get(organization=tenant_a),
            by=ops,
            contract_seats=50,
            payment_terms_days=30,
            plan=Plan.objects.get(code="enterprise"),
        )
    assert refused.value.field == "price"
    assert Subscription.objects.get(organization=tenant_a).plan.code == "growth"


def test_a_trial_switched_to_manual_invoicing_still_ends(tenant_a: Tenant, ops: User) -> None:
    """Only a contract (not the bare switch) stands in for a provider's subscription."""
    subscription = subscription_operator_change(
        subscription=Subscription.objects.get(organization=tenant_a),
        by=ops,
        provider=Provider.MANUAL,
    )
    assert (subscription.provider, subscription.status) == ("manual", "trialing")
    assert subscription.trial_ends_at is not None
    assert trials_expire(now=subscription.trial_ends_at + dt.timedelta(minutes=1)) >= 1
    after = Subscription.objects.select_related("plan").get(organization=tenant_a)
    assert (after.status, after.plan.code) == ("free", "free")


def test_operators_issuing_and_paying_at_once_get_consecutive_numbers_and_one_recovery(
    db: None,
) -> None:
    """Each side on a connection of its own, committing as separate processes would."""
    with committed_organization("gamma") as tenant:

        def contract() -> None:
            subscription = _on_contract(tenant, None)  # type: ignore[arg-type]
            payment_failed(subscription=subscription, at=timezone.now())

        run_on_own_connection(contract)

        def issue() -> None:
            subscription = Subscription.objects.get(organization=tenant)
            invoice_issue(subscription=subscription, by=None, subtotal=100)

        errors: list[BaseException] = []
        for thread in [start_on_own_connection(issue, errors) for _ in range(4)]:
            thread.join(timeout=30)
        assert not errors
        invoices = list(Invoice.objects.filter(organization=tenant).order_by("number"))
        year = invoices[0].issued_at.year
        prefix = f"{tenant.slug.upper()}-{year}-"
        assert [i.number for i in invoices] == [f"{prefix}{n:04d}" for n in range(1, 5)]

        def pay() -> None:
            invoice_mark_paid(invoice=Invoice.objects.get(pk=invoices[0].pk), by=None)

        for thread in [start_on_own_connection(pay, errors) for _ in range(3)]:
            thread.join(timeout=30)
        assert not errors
        recovered = SubscriptionChange.objects.filter(
            organization=tenant, kind=Kind.PAYMENT_RECOVERED
        )
        assert recovered.count() == 1
        assert Subscription.objects.get(organization=tenant).status == "active"
