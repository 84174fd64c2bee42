"""An owner's plan changes land in the organization's audit log, at local Stripe."""

from collections.abc import Callable

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from billing.models import Subscription
from iam.models import User
from iam.org.models import AuditEvent
from tenants.models import Tenant
from tests.billing.conftest import paid_at_stripe, stripe_prices  # noqa: F401 - fixtures
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


def test_an_owners_plan_change_and_cancellation_are_logged(
    tenant_a: Tenant,
    owner_a: User,
    paid_at_stripe: Callable[..., Subscription],  # noqa: F811
) -> None:
    paid_at_stripe(tenant_a, "starter", "month")
    browser = Client(HTTP_HOST=host_of(tenant_a))
    browser.force_login(owner_a)
    browser.post(
        "/settings/billing/plan/", {"plan": "growth", "interval": "month", "currency": "USD"}
    )
    browser.post("/settings/billing/cancel/")
    with schema_context(tenant_a.schema_name):
        rows = list(AuditEvent.objects.filter(action__startswith="billing.").order_by("seq"))
    assert [(r.action, r.changes, r.actor_id) for r in rows] == [
        ("billing.plan_changed", {"plan": ["starter", "growth"]}, owner_a.pk),
        ("billing.cancel_scheduled", {"cancel_at_period_end": [False, True]}, owner_a.pk),
    ]
    assert rows[0].target_type == "subscription"
