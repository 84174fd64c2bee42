"""Duplicate detection by e-mail: found through the blind index, though the column is
ciphertext; per organization; race-safe."""

from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django_tenants.utils import tenant_context

from crm import services
from crm.exceptions import ContactEmailTaken
from crm.models import Contact
from iam.models import User
from iam.services import api_token_create
from tenants.models import Tenant
from tests.conftest import host_of
from tests.support.connections import (
    assert_second_waits_for_first,
    committed_organization,
    run_on_own_connection,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="tests")
    return Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")


def _post(api: Client, body: dict[str, Any]) -> Any:
    return api.post("/api/v1/contacts/", body, content_type="application/json")


def test_a_second_contact_with_the_same_address_is_refused(api: Client, tenant_a: Tenant) -> None:
    first = _post(api, {"first_name": "Ada", "email": "ada@engine.test"})
    assert first.status_code == 201
    again = _post(api, {"first_name": "Other", "email": "  ADA@Engine.TEST "})
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    problem = again.json()
    assert problem["code"] == "contact-email-taken"
    assert problem["contact"] == first.json()["id"]
    assert "Ada" in problem["errors"]["email"][0]
    with tenant_context(tenant_a):
        assert Contact.objects.filter(first_name="Other").count() == 0


def test_changing_to_another_contacts_address_is_refused_keeping_ones_own_is_not(
    api: Client,
) -> None:
    _post(api, {"first_name": "Ada", "email": "ada@engine.test"})
    grace = _post(api, {"first_name": "Grace", "email": "grace@cobol.test"}).json()
    url = f"/api/v1/contacts/{grace['id']}/"
    taken = api.patch(url, {"email": "ada@engine.test"}, content_type="application/json")
    assert taken.status_code == 409
    assert api.get(url).json()["email"] == "grace@cobol.test"
    same = api.patch(
        url, {"email": "grace@cobol.test", "title": "Rear Admiral"}, content_type="application/json"
    )
    assert same.status_code == 200, same.content


def test_contacts_without_an_address_are_never_duplicates(api: Client) -> None:
    assert _post(api, {"first_name": "No", "email": ""}).status_code == 201
    assert _post(api, {"first_name": "Mail"}).status_code == 201


def test_the_same_address_in_another_organization_is_not_a_duplicate(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        services.contact_create(by=None, first_name="Ada", email="ada@engine.test")
    with tenant_context(tenant_b):
        services.contact_create(by=None, first_name="Ada B", email="ada@engine.test")
        assert Contact.objects.count() == 1  # B sees its own contact only
    with tenant_context(tenant_a), pytest.raises(ContactEmailTaken):
        services.contact_create(by=None, first_name="Twice", email="ada@engine.test")


def test_the_form_shows_the_duplicate_on_the_email_field(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        services.contact_create(by=None, first_name="Ada", last_name="L", email="ada@engine.test")
    response = client_a.post("/contacts/new/", {"first_name": "Copy", "email": "ada@ENGINE.test"})
    assert response.status_code == 409
    assert response.context["form"].errors["email"] == [
        "Ada L already has the e-mail address ada@ENGINE.test."
    ]
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(first_name="Copy").exists()


def _warm_keys(tenant: Tenant) -> None:
    services.contact_create(by=None, first_name="Warm", email="warm@race.test")


def test_two_writes_of_one_address_at_once_make_one_contact() -> None:
    """The first writer holds its transaction open after inserting; the second, checking
    the same address meanwhile, must wait for it and then find the duplicate (without the
    lock it would see no committed row and insert a second contact). Both commit on
    connections of their own, so this runs in an organization made for it and deleted
    afterwards."""
    made: dict[str, Any] = {}
    outcomes: dict[str, str] = {}

    with committed_organization("dup", prepare=_warm_keys) as tenant:

        def first(hold: Any) -> None:
            with tenant_context(tenant), transaction.atomic():
                services.contact_create(by=None, first_name="One", email="same@race.test")
                outcomes["first"] = "created"
                hold()

        def second() -> None:
            with tenant_context(tenant):
                try:
                    services.contact_create(by=None, first_name="Two", email="SAME@race.test")
                    outcomes["second"] = "created"
                except ContactEmailTaken:
                    outcomes["second"] = "taken"

        def count() -> None:
            with tenant_context(tenant):
                made["count"] = Contact.objects.filter(email_index__isnull=False).count()

        assert_second_waits_for_first(first, second)
        run_on_own_connection(count)
    assert outcomes == {"first": "created", "second": "taken"}
    assert made["count"] == 2  # the warm-up contact and the first writer's
