"""Two sign-ups racing for one subdomain: exactly one wins, the other gets SlugTaken, and
nothing half-made is left behind."""

import threading
import uuid

import pytest
from django.db import connections
from django_tenants.utils import schema_exists

from iam.models import Membership, User
from tenants.exceptions import SlugTaken
from tenants.models import Tenant
from tenants.services import provision_tenant, tenant_delete
from tests.factories import UserFactory
from tests.support.connections import run_on_own_connection

pytestmark = pytest.mark.django_db


def test_racing_provisionings_of_one_slug_make_exactly_one_tenant() -> None:
    slug = f"race-{uuid.uuid4().hex[:6]}"
    emails = [f"{slug}-{i}@race.test" for i in range(2)]
    barrier = threading.Barrier(len(emails))
    outcomes: dict[str, str] = {}

    def attempt(email: str) -> None:
        try:
            owner = UserFactory(email=email)
            barrier.wait(timeout=10)
            provision_tenant(slug=slug, name="Race", owner=owner)
            outcomes[email] = "created"
        except SlugTaken:
            outcomes[email] = "taken"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(e,)) for e in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert sorted(outcomes.values()) == ["created", "taken"]
        winner = next(e for e, outcome in outcomes.items() if outcome == "created")
        tenant = Tenant.objects.get(slug=slug)
        assert schema_exists(tenant.schema_name)
        assert [m.user.email for m in Membership.objects.filter(tenant=tenant)] == [winner]
    finally:

        def cleanup() -> None:
            for tenant in Tenant.objects.filter(slug=slug):
                tenant_delete(tenant=tenant)
            User.objects.filter(email__in=emails).delete()

        run_on_own_connection(cleanup)
