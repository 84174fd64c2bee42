"""The "why?" tool's record picker: the record is found by its name (an htmx search over the
chosen type, ten matches at most, found as the search box finds them, so encrypted e-mail
addresses match through their digests), while a typed id still works. Nothing of another
organization is ever offered or decided on; bad input is a field error."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from iam.models import CustomRole, Membership, Role, User
from tenants.models import Tenant
from tests.conftest import host_of
from tests.crm.factories import ActivityFactory, ContactFactory, DealFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PICKER = "/settings/access/why/records/"


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def _ids(response: object) -> list[int]:
    return [option.id for option in response.context["options"]]  # type: ignore[attr-defined]


@pytest.fixture
def owner_client(tenant_a: Tenant, owner_a: User) -> Client:
    return _browser(tenant_a, owner_a)


def test_deals_are_found_by_name_with_a_typo_and_picked_by_id(
    tenant_a: Tenant, owner_a: User, member_a: User, owner_client: Client
) -> None:
    with tenant_context(tenant_a):
        wanted = DealFactory(name="Globex renewal", owner_id=owner_a.pk)
        DealFactory(name="Initech pilot", owner_id=owner_a.pk)

    response = owner_client.get(PICKER, {"record_type": "deal", "q": "globx"})

    assert response.status_code == 200
    assert _ids(response) == [wanted.pk]
    html = response.content.decode()
    assert f'data-pick-record="{wanted.pk}"' in html and "Globex renewal" in html
    # The id it picks is what the "why?" page decides on.
    page = owner_client.get(
        "/settings/access/why/",
        {"user": member_a.pk, "action": "view", "record_type": "deal", "record_id": wanted.pk},
    )
    assert page.status_code == 200 and "Globex renewal" in page.content.decode()


def test_contacts_are_found_by_their_encrypted_e_mail_address(
    tenant_a: Tenant, owner_client: Client
) -> None:
    with tenant_context(tenant_a):
        zoe = ContactFactory(first_name="Zoë", last_name="Müller", email="zoe.muller@example.com")
        ContactFactory(first_name="Other", last_name="Person", email="other@elsewhere.org")
    by_address = owner_client.get(PICKER, {"record_type": "contact", "q": "zoe.muller"})
    assert _ids(by_address) == [zoe.pk]
    by_name = owner_client.get(PICKER, {"record_type": "contact", "q": "muller"})
    assert _ids(by_name) == [zoe.pk]


def test_activities_are_found_by_their_subject(tenant_a: Tenant, owner_client: Client) -> None:
    with tenant_context(tenant_a):
        call = ActivityFactory(subject="Quarterly review call")
        ActivityFactory(subject="Lunch")
    response = owner_client.get(PICKER, {"record_type": "activity", "q": "quarterly review"})
    assert _ids(response) == [call.pk]


def test_at_most_ten_records_are_offered(tenant_a: Tenant, owner_client: Client) -> None:
    with tenant_context(tenant_a):
        for n in range(12):
            DealFactory(name=f"Acme order {n}")
    assert len(_ids(owner_client.get(PICKER, {"record_type": "deal", "q": "acme"}))) == 10


def test_nothing_typed_offers_nothing_and_no_match_says_so(owner_client: Client) -> None:
    empty = owner_client.get(PICKER, {"record_type": "deal", "q": "  "})
    assert empty.status_code == 200 and _ids(empty) == []
    none = owner_client.get(PICKER, {"record_type": "deal", "q": "zzzzqqq"})
    assert 'data-testid="why-record-empty"' in none.content.decode()


def test_another_organization_s_records_are_never_offered_nor_decided(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User, owner_client: Client
) -> None:
    with tenant_context(tenant_a):
        ours = DealFactory(name="Umbrella small deal", owner_id=owner_a.pk)
    with tenant_context(tenant_b):
        theirs = DealFactory(name="Umbrella secret deal", owner_id=owner_b.pk)
        if theirs.pk == ours.pk:  # ids are per organization: take one that names nothing in A
            theirs = DealFactory(name="Umbrella secret deal 2", owner_id=owner_b.pk)

    offered = owner_client.get(PICKER, {"record_type": "deal", "q": "umbrella"})

    assert _ids(offered) == [ours.pk]
    assert "secret" not in offered.content.decode()
    asked = owner_client.get(
        "/settings/access/why/",
        {"user": owner_a.pk, "action": "view", "record_type": "deal", "record_id": theirs.pk},
    )
    assert asked.status_code == 400
    assert asked.context["errors"]["record_id"] == ["No such record in this organization."]
    assert "secret" not in asked.content.decode()
    # B's owner is no member of A: nothing from A's host.
    on_a = Client(HTTP_HOST=host_of(tenant_a))
    on_a.force_login(owner_b)
    assert on_a.get(PICKER, {"record_type": "deal", "q": "umbrella"}).status_code in (302, 403)


def test_bad_input_is_a_field_error(owner_client: Client) -> None:
    unknown = owner_client.get(PICKER, {"record_type": "spaceship", "q": "acme"})
    assert unknown.status_code == 400
    assert unknown.context["errors"]["record_type"] == ["No such record type."]
    assert 'data-field="record_type"' in unknown.content.decode()
    long = owner_client.get(PICKER, {"record_type": "deal", "q": "x" * 201})
    assert long.status_code == 400
    assert "q" in long.context["errors"]


def test_only_people_or_policy_admins_use_the_picker(
    client_a: Client, tenant_a: Tenant, owner_a: User
) -> None:
    with tenant_context(tenant_a):
        DealFactory(name="Hidden deal", owner_id=owner_a.pk)
    response = client_a.get(PICKER, {"record_type": "deal", "q": "hidden"})
    assert response.status_code == 403
    assert b"Hidden deal" not in response.content


def test_the_page_carries_the_picker(owner_client: Client) -> None:
    html = owner_client.get("/settings/access/why/").content.decode()
    assert 'data-testid="why-record-search"' in html
    assert f'hx-get="{PICKER}"' in html


def test_records_the_asker_may_not_view_are_not_offered(tenant_a: Tenant, owner_a: User) -> None:
    """A people admin whose roles see no deals (billing, plus the "People" right) finds none:
    the picker offers what the asker's own search box would."""
    asker = UserFactory(email="people-admin@alpha.test")
    membership = Membership.objects.create(user=asker, tenant=tenant_a, role=Role.BILLING)
    people = CustomRole.objects.create(
        tenant=tenant_a, name="People admin", permissions={"admin.people": "all"}
    )
    membership.custom_roles.add(people)
    with tenant_context(tenant_a):
        DealFactory(name="Private pipeline deal", owner_id=owner_a.pk)
    response = _browser(tenant_a, asker).get(PICKER, {"record_type": "deal", "q": "private"})
    assert response.status_code == 200
    assert _ids(response) == []
