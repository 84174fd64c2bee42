"""One sign-up link followed twice at the same moment (a double click, two tabs): the row
lock makes exactly one organization, and the other attempt is told the link was used."""

import re
import threading
import uuid

import pytest
from django.core import mail
from django.db import connections

from iam.models import Membership, User
from public_site.exceptions import SignupLinkUsed
from public_site.models import PendingSignup
from public_site.services import signup_finish, signup_start
from tenants.models import Tenant
from tenants.services import tenant_delete
from tests.support.connections import run_on_own_connection

pytestmark = pytest.mark.django_db


def test_a_link_followed_twice_at_once_makes_one_organization() -> None:
    slug = f"twice-{uuid.uuid4().hex[:6]}"
    email = f"owner@{slug}.test"
    run_on_own_connection(
        lambda: signup_start(
            organization_name="Twice",
            slug=slug,
            full_name="Tw Ice",
            email=email,
            password="pl3nty-of-Entropy-here",
        )
    )
    (message,) = [m for m in mail.outbox if m.to == [email]]
    found = re.search(r"/signup/finish/([^/\s]+)/", message.body)
    assert found
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            barrier.wait(timeout=10)
            signup_finish(raw=found.group(1), user=None)
            outcomes.append("created")
        except SignupLinkUsed:
            outcomes.append("used")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert sorted(outcomes) == ["created", "used"]
        tenant = Tenant.objects.get(slug=slug)
        assert [m.user.email for m in Membership.objects.filter(tenant=tenant)] == [email]
        assert User.objects.filter(email=email).count() == 1
    finally:

        def cleanup() -> None:
            for tenant in Tenant.objects.filter(slug=slug):
                tenant_delete(tenant=tenant)
            User.objects.filter(email=email).delete()
            PendingSignup.objects.filter(email=email).delete()

        run_on_own_connection(cleanup)
