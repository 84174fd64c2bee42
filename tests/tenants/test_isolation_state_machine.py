"""A randomized walk over organizations, contacts, tokens and deletions: at every step each
organization's API shows exactly its own contacts, and no token works anywhere else."""

import itertools
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from iam.services import api_token_create
from tenants.services import provision_tenant, tenant_delete
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

_serial = itertools.count()


class Org:
    def __init__(self, slug: str) -> None:
        self.slug = slug
        owner = UserFactory(email=f"owner@{slug}.test")
        self.tenant = provision_tenant(slug=slug, name=slug.title(), owner=owner)
        _, self.token = api_token_create(user=owner, tenant=self.tenant, name="walk")
        self.contacts: set[str] = set()

    def client(self, token: str | None = None) -> Client:
        return Client(
            HTTP_HOST=f"{self.slug}.localhost",
            HTTP_AUTHORIZATION=f"Bearer {token or self.token}",
        )


class TenancyWalk(RuleBasedStateMachine):
    orgs = Bundle("orgs")

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.live: list[Org] = []

    @rule(target=orgs)
    def create_org(self) -> Org:
        org = Org(f"walk-{next(_serial)}")
        self.live.append(org)
        return org

    @rule(org=orgs, name=st.text(alphabet="abcdefghij", min_size=1, max_size=8))
    def add_contact(self, org: Org, name: str) -> None:
        if org not in self.live:
            return
        marker = f"{name}-{next(_serial)}"
        response = org.client().post(
            "/api/v1/contacts/", {"first_name": marker}, content_type="application/json"
        )
        assert response.status_code == 201, response.content
        org.contacts.add(marker)

    @rule(owner=orgs, other=orgs)
    def token_works_only_at_home(self, owner: Org, other: Org) -> None:
        if owner not in self.live or other not in self.live or owner is other:
            return
        assert other.client(owner.token).get("/api/v1/contacts/").status_code == 401

    @rule(org=consumes(orgs))
    def delete_org(self, org: Org) -> None:
        if org not in self.live:
            return
        tenant_delete(tenant=org.tenant)
        self.live.remove(org)
        assert org.client().get("/api/v1/contacts/").status_code == 404

    @invariant()
    def each_org_sees_exactly_its_own_contacts(self) -> None:
        for org in self.live:
            body: dict[str, Any] = org.client().get("/api/v1/contacts/?page_size=100").json()
            assert {c["first_name"] for c in body["results"]} == org.contacts

    @invariant()
    def connection_is_back_on_public(self) -> None:
        assert connection.schema_name == "public"  # type: ignore[attr-defined]

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)
        connection.set_schema_to_public()  # type: ignore[attr-defined]


TenancyWalk.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_tenancy_walk(db: None) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(TenancyWalk, settings=TenancyWalk.TestCase.settings)
