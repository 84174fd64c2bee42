"""Trials: the owners are reminded three days before the end (once), and a trial that ends
unpaid falls back to Free with its data kept and nothing suspended."""

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django_tenants.utils import tenant_context

from billing import tasks
from billing.models import Subscription, SubscriptionChange
from crm.models import Company
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
ENDS = T0 + 10 * DAY


def _trial_ending(tenant: Tenant, at: dt.datetime = ENDS, **fields: Any) -> None:
    Subscription.objects.filter(organization=tenant).update(
        status=Subscription.Status.TRIALING, trial_ends_at=at, trial_reminder_sent_at=None, **fields
    )


def _run(task: Any, at: dt.datetime) -> int:
    with time_machine.travel(at, tick=False):
        result: int = task.apply().get()
    return result


def test_owners_are_reminded_three_days_before_the_trial_ends(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    _trial_ending(tenant_a)

    with django_capture_on_commit_callbacks(execute=True):
        early = _run(tasks.trials_remind, ENDS - 3 * DAY - dt.timedelta(hours=1))
        due = _run(tasks.trials_remind, ENDS - 3 * DAY + dt.timedelta(hours=1))

    assert (early, due) == (0, 1)
    [message] = mail.outbox
    assert message.to == ["owner@alpha.test"]
    assert message.subject == "Your Growth trial of MyCRM for Alpha Inc ends May 14"
    assert "http://alpha.localhost:8000/settings/billing/" in message.body
    assert "moves to the Free plan" in message.body


def test_the_reminder_is_sent_once(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    _trial_ending(tenant_a)

    with django_capture_on_commit_callbacks(execute=True):
        sent = [
            _run(tasks.trials_remind, ENDS - hours * dt.timedelta(hours=1)) for hours in (70, 40, 2)
        ]

    assert sent == [1, 0, 0]
    assert len(mail.outbox) == 1


def test_a_trial_at_a_provider_is_neither_reminded_nor_expired_here(tenant_a: Tenant) -> None:
    _trial_ending(tenant_a, provider="stripe", provider_subscription_id="sub_trial")

    assert _run(tasks.trials_remind, ENDS - DAY) == 0
    assert _run(tasks.trials_expire, ENDS + DAY) == 0
    assert Subscription.objects.get(organization=tenant_a).status == "trialing"


def test_a_trial_that_ends_unpaid_falls_back_to_free_with_its_data_kept(
    tenant_a: Tenant, client_a: Client
) -> None:
    _trial_ending(tenant_a)
    with tenant_context(tenant_a):
        Company.objects.create(name="Initech")

    assert _run(tasks.trials_expire, ENDS - dt.timedelta(minutes=1)) == 0
    assert _run(tasks.trials_expire, ENDS + dt.timedelta(minutes=30)) == 1

    subscription = Subscription.objects.get(organization=tenant_a)
    assert (subscription.plan.code, subscription.status) == ("free", "free")
    assert subscription.dunning == Subscription.Dunning.NONE
    [change] = SubscriptionChange.objects.filter(organization=tenant_a, kind="trial_ended")
    assert (change.effective_at, change.plan.code, change.mrr) == (ENDS, "free", 0)
    tenant_a.refresh_from_db()
    assert not tenant_a.is_suspended
    page = client_a.get("/companies/")
    assert page.status_code == 200
    assert b"Initech" in page.content
    assert b"billing-banner" not in page.content


def test_expiring_twice_changes_nothing_more(tenant_a: Tenant) -> None:
    _trial_ending(tenant_a)

    assert _run(tasks.trials_expire, ENDS + DAY) == 1
    assert _run(tasks.trials_expire, ENDS + 2 * DAY) == 0
    kinds = SubscriptionChange.objects.filter(organization=tenant_a, kind="trial_ended")
    assert kinds.count() == 1


def test_one_organizations_trial_end_leaves_anothers_trial_alone(
    tenant_a: Tenant, tenant_b: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    _trial_ending(tenant_a)
    _trial_ending(tenant_b, at=ENDS + 30 * DAY)

    with django_capture_on_commit_callbacks(execute=True):
        _run(tasks.trials_remind, ENDS - DAY)
        _run(tasks.trials_expire, ENDS + DAY)

    b = Subscription.objects.get(organization=tenant_b)
    assert (b.plan.code, b.status, b.trial_reminder_sent_at) == ("growth", "trialing", None)
    assert all("owner@beta.test" not in message.to for message in mail.outbox)
