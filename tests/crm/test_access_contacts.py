"""Contacts and companies behind the decision point: pages and API refuse with the reason,
lists and exports hold only what the member may view (roles with scopes, teams, shares, in
the query), a policy on the record type refuses by name, and another organization gets
nothing."""

import csv
import io

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm import selectors
from crm.models import Company, Contact
from iam import authz
from iam.models import AccessPolicy, CustomRole, Membership, Role, Team, TeamMember, User
from iam.org.models import RecordShare
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.factories import UserFactory

from .factories import CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db

OWN_CONTACTS = """
forbid (principal, action == MyCRM::Action::"edit", resource is MyCRM::Contact)
when { resource.owner != principal }
unless { principal.roles.contains("admin") || principal.roles.contains("owner") };
"""


def person(tenant: Tenant, role: str = Role.MEMBER, **custom: dict[str, str]) -> User:
    """A new member of `tenant` with a built-in role and custom roles (name -> matrix)."""
    user = UserFactory()
    membership = Membership.objects.create(user=user, tenant=tenant, role=role)
    for name, permissions in custom.items():
        membership.custom_roles.add(
            CustomRole.objects.create(tenant=tenant, name=name, permissions=permissions)
        )
    return user


def browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def test_a_read_only_member_views_contacts_but_changes_none(tenant_a: Tenant) -> None:
    reader = person(tenant_a, Role.READ_ONLY)
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Grace", last_name="Hopper")
        company = CompanyFactory(name="Navy Labs")
    page, api = browser(tenant_a, reader), token_client(reader, tenant_a)

    shown = page.get(f"/contacts/{contact.pk}/").content.decode()
    assert "Grace Hopper" in shown
    assert f"/contacts/{contact.pk}/edit/" not in shown  # no Edit button
    assert f"/contacts/{contact.pk}/delete/" not in shown  # no Delete button
    assert "Change owner" not in shown
    listed = page.get("/contacts/").content.decode()
    assert "Grace Hopper" in listed and "/contacts/new/" not in listed and "Export" not in listed

    for response in (
        page.get(f"/contacts/{contact.pk}/edit/"),
        page.post(f"/contacts/{contact.pk}/delete/"),
        page.post(f"/companies/{company.pk}/delete/"),
        page.get("/contacts/new/"),
        page.get("/contacts/export/"),
    ):
        assert response.status_code == 403
        assert "None of your roles (Read-only)" in response.content.decode()

    assert api.get(f"/api/v1/contacts/{contact.pk}/").status_code == 200
    for response in (
        api.patch(f"/api/v1/contacts/{contact.pk}/", {"title": "X"}, "application/json"),
        api.delete(f"/api/v1/companies/{company.pk}/"),
        api.post("/api/v1/contacts/", {"first_name": "New"}, "application/json"),
        api.get("/api/v1/contacts/export/"),
    ):
        assert response.status_code == 403
        problem = response.json()
        assert problem["code"] == "access-denied"
        assert "None of your roles (Read-only)" in problem["detail"]
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=contact.pk).title == contact.title
        assert Company.objects.filter(pk=company.pk).exists()
        assert not Contact.objects.filter(first_name="New").exists()


def test_an_own_scope_sees_only_own_and_shared_records_everywhere(tenant_a: Tenant) -> None:
    rep = person(
        tenant_a,
        Role.BILLING,  # no records of its own: the custom role grants them
        rep={"contact.view": "own", "contact.export": "all", "company.view": "own"},
    )
    with tenant_context(tenant_a):
        mine = ContactFactory(first_name="Mina", last_name="Zorro", owner_id=rep.pk)
        shared = ContactFactory(first_name="Shara", last_name="Zorro", owner_id=None)
        hidden = ContactFactory(first_name="Hidda", last_name="Zorro", owner_id=None)
        their_company = CompanyFactory(name="Zorro Hidden Co", owner_id=None)
        RecordShare.objects.create(record_type="contact", record_id=shared.pk, user_id=rep.pk)
    page, api = browser(tenant_a, rep), token_client(rep, tenant_a)

    listed = page.get("/contacts/").content.decode()
    assert "Mina" in listed and "Shara" in listed and "Hidda" not in listed
    names = {c["first_name"] for c in api.get("/api/v1/contacts/").json()["results"]}
    assert names == {"Mina", "Shara"}

    found = page.get("/search/", {"q": "zorro"}).content.decode()
    assert "Mina" in found and "Shara" in found and "Hidda" not in found
    assert "Zorro Hidden Co" not in found
    results = api.get("/api/v1/search/", {"q": "zorro"}).json()["results"]
    assert {hit["id"] for hit in results["contacts"]} == {mine.pk, shared.pk}
    assert results["companies"] == []

    exported = b"".join(page.get("/contacts/export/").streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(exported)))[1:]
    assert sorted(row[0] for row in rows) == ["Mina", "Shara"]
    api_rows = b"".join(api.get("/api/v1/contacts/export/").streaming_content).decode()
    assert "Hidda" not in api_rows and "Mina" in api_rows

    # A record out of sight is as missing as one that doesn't exist.
    assert page.get(f"/contacts/{hidden.pk}/").status_code == 404
    assert api.get(f"/api/v1/contacts/{hidden.pk}/").status_code == 404
    assert page.get(f"/companies/{their_company.pk}/").status_code == 404
    assert page.get(f"/contacts/{shared.pk}/").status_code == 200


def test_a_team_scope_reaches_teammates_contacts_and_a_share_opens_one_more(
    tenant_a: Tenant, django_assert_num_queries: object
) -> None:
    lead = person(tenant_a, Role.BILLING, north={"contact.view": "team"})
    mate, stranger = person(tenant_a), person(tenant_a)
    team = Team.objects.create(tenant=tenant_a, name="North")
    TeamMember.objects.create(team=team, user=lead)
    TeamMember.objects.create(team=team, user=mate)
    with tenant_context(tenant_a):
        mates = ContactFactory(first_name="Matt", last_name="Nord", owner_id=mate.pk)
        strangers = ContactFactory(first_name="Stan", last_name="Nord", owner_id=stranger.pk)
        shared = ContactFactory(first_name="Sheila", last_name="Nord", owner_id=stranger.pk)
        RecordShare.objects.create(record_type="contact", record_id=shared.pk, team_id=team.pk)
        principal = authz.principal_for(user=lead, tenant=tenant_a)
        # Warm: the search's keys are read once and then cached for a while.
        list(selectors.contact_list(principal=principal, search="nord"))
        # The filtered list is one statement: roles, team and shares are in its query.
        with django_assert_num_queries(1):  # type: ignore[operator]
            ids = set(
                selectors.contact_list(principal=principal, search="nord").values_list(
                    "pk", flat=True
                )
            )
    assert ids == {mates.pk, shared.pk}
    page = browser(tenant_a, lead)
    assert page.get(f"/contacts/{shared.pk}/").status_code == 200
    assert page.get(f"/contacts/{strangers.pk}/").status_code == 404


def test_a_share_to_edit_lets_a_reader_change_that_one_contact(tenant_a: Tenant) -> None:
    reader = person(tenant_a, Role.READ_ONLY)
    with tenant_context(tenant_a):
        shared, other = ContactFactory(title="Before"), ContactFactory(title="Before")
        RecordShare.objects.create(
            record_type="contact", record_id=shared.pk, user_id=reader.pk, level="edit"
        )
    api = token_client(reader, tenant_a)
    changed = api.patch(f"/api/v1/contacts/{shared.pk}/", {"title": "After"}, "application/json")
    assert changed.status_code == 200, changed.content
    refused = api.patch(f"/api/v1/contacts/{other.pk}/", {"title": "After"}, "application/json")
    assert refused.status_code == 403
    page = browser(tenant_a, reader).get(f"/contacts/{shared.pk}/").content.decode()
    assert f"/contacts/{shared.pk}/edit/" in page
    assert f"/contacts/{shared.pk}/delete/" not in page  # an edit share doesn't delete


def test_a_policy_on_contacts_refuses_by_name_in_the_page_and_the_api(
    tenant_a: Tenant, member_a: User, client_a: Client
) -> None:
    AccessPolicy.objects.create(tenant=tenant_a, name="Own contacts only", source=OWN_CONTACTS)
    with tenant_context(tenant_a):
        theirs = ContactFactory(owner_id=None, title="Kept")
        mine = ContactFactory(owner_id=member_a.pk)
    page = client_a.get(f"/contacts/{theirs.pk}/edit/")
    assert page.status_code == 403
    assert "Own contacts only" in page.content.decode()
    assert (
        f"/contacts/{theirs.pk}/edit/"
        not in client_a.get(f"/contacts/{theirs.pk}/").content.decode()
    )
    assert client_a.get(f"/contacts/{mine.pk}/edit/").status_code == 200

    api = token_client(member_a, tenant_a)
    refused = api.patch(f"/api/v1/contacts/{theirs.pk}/", {"title": "X"}, "application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "access-denied"
    assert refused.json()["policies"] == ["Own contacts only"]
    assert "Own contacts only" in refused.json()["detail"]
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=theirs.pk).title == "Kept"


def test_giving_a_contact_to_someone_else_needs_the_assign_right(
    tenant_a: Tenant, owner_a: User
) -> None:
    editor = person(tenant_a, Role.READ_ONLY, editor={"contact.edit": "all"})
    with tenant_context(tenant_a):
        contact = ContactFactory(owner_id=None)
    api = token_client(editor, tenant_a)
    url = f"/api/v1/contacts/{contact.pk}/"
    assert api.patch(url, {"title": "Fine"}, "application/json").status_code == 200
    refused = api.patch(url, {"owner_id": owner_a.pk}, "application/json")
    assert refused.status_code == 403
    assert "assign contacts" in refused.json()["detail"]
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=contact.pk).owner_id is None


def test_another_organizations_member_gets_nothing_of_ours(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Alphonse", last_name="Only")
    outsider = browser(tenant_a, owner_b)
    for path in (
        "/contacts/",
        f"/contacts/{contact.pk}/",
        "/contacts/export/",
        "/search/?q=alphonse",
    ):
        response = outsider.get(path)
        assert response.status_code in (302, 403, 404)
        assert b"Alphonse" not in response.content
    # Their own organization's search, with an id of ours, finds nothing of ours.
    theirs = token_client(owner_b, tenant_b)
    assert theirs.get("/api/v1/search/", {"q": "alphonse"}).json()["results"]["contacts"] == []
    assert theirs.get(f"/api/v1/contacts/{contact.pk}/").status_code == 404
    crossing = token_client(owner_b, tenant_b, host=tenant_a)
    assert crossing.get("/api/v1/search/", {"q": "alphonse"}).status_code in (401, 403)


def test_a_contact_is_linked_only_to_a_company_the_member_may_view(tenant_a: Tenant) -> None:
    rep = person(
        tenant_a,
        Role.BILLING,
        rep={"contact.view": "all", "contact.create": "all", "company.view": "own"},
    )
    with tenant_context(tenant_a):
        mine = CompanyFactory(name="Mine Ltd", owner_id=rep.pk)
        hidden = CompanyFactory(name="Hidden Ltd", owner_id=None)
    form = browser(tenant_a, rep).get("/contacts/new/").content.decode()
    assert "Mine Ltd" in form and "Hidden Ltd" not in form
    api = token_client(rep, tenant_a)
    refused = api.post(
        "/api/v1/contacts/", {"first_name": "X", "company": hidden.pk}, "application/json"
    )
    assert refused.status_code == 400
    assert "company" in refused.json()["errors"]
    made = api.post(
        "/api/v1/contacts/", {"first_name": "Y", "company": mine.pk}, "application/json"
    )
    assert made.status_code == 201, made.content


def test_contact_and_company_pages_carry_the_share_panel(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    with tenant_context(tenant_a):
        contact, company = ContactFactory(), CompanyFactory()
    owner = browser(tenant_a, owner_a)
    for kind, record in (("contact", contact), ("company", company)):
        page = owner.get(f"/{'contacts' if kind == 'contact' else 'companies'}/{record.pk}/")
        assert f"/share/{kind}/{record.pk}/" in page.content.decode()
        assert owner.get(f"/share/{kind}/{record.pk}/").status_code == 200
    # A share made there opens the contact to a reader who could not see it before.
    reader = person(tenant_a, Role.BILLING)
    assert browser(tenant_a, reader).get(f"/contacts/{contact.pk}/").status_code in (403, 404)
    with tenant_context(tenant_a):
        RecordShare.objects.create(record_type="contact", record_id=contact.pk, user_id=reader.pk)
    assert browser(tenant_a, reader).get(f"/contacts/{contact.pk}/").status_code == 200
