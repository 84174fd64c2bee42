"""The list pages of contacts, companies, leads and deals: owner filters and sortable heads,
the column picker, saved views, and bulk actions on the rows ticked; isolation between
organizations and members; statements per page."""

from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Company, Contact, Deal, Lead, SavedView, Tag
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db

LIST_URLS = {
    "contacts": "/contacts/",
    "companies": "/companies/",
    "leads": "/leads/",
    "deals": "/deals/",
}
FACTORIES: dict[str, Any] = {
    "contacts": ContactFactory,
    "companies": CompanyFactory,
    "leads": LeadFactory,
    "deals": DealFactory,
}
MODELS: dict[str, Any] = {"contacts": Contact, "companies": Company, "leads": Lead, "deals": Deal}


def _names(html: str, records: list[Any]) -> list[str]:
    """The records' names in the order the page shows them."""
    found = [(html.find(str(r)), str(r)) for r in records]
    return [name for at, name in sorted(found) if at >= 0]


def test_contacts_show_their_owner_by_name_and_filter_by_owner_and_mine(
    client_a: Client, tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    owner_a.full_name = "Olive Owner"
    owner_a.save(update_fields=["full_name"])
    with tenant_context(tenant_a):
        ContactFactory(first_name="Mia", last_name="Mine", owner_id=member_a.pk)
        ContactFactory(first_name="Otto", last_name="Other", owner_id=owner_a.pk)
    page = client_a.get("/contacts/").content.decode()
    assert "Olive Owner" in page
    mine = client_a.get("/contacts/?mine=on").content.decode()
    assert "Mia Mine" in mine and "Otto Other" not in mine
    theirs = client_a.get(f"/contacts/?owner={owner_a.pk}").content.decode()
    assert "Otto Other" in theirs and "Mia Mine" not in theirs


@pytest.mark.parametrize(
    ("url", "key", "make"),
    [
        ("/contacts/", "name", lambda n: ContactFactory(first_name=n, last_name="")),
        ("/companies/", "name", lambda n: CompanyFactory(name=n)),
    ],
)
def test_a_column_head_sorts_the_list_and_sorts_it_back(
    client_a: Client, tenant_a: Tenant, url: str, key: str, make: Any
) -> None:
    with tenant_context(tenant_a):
        records = [make(n) for n in ("Qbravo", "Qalpha", "Qcharlie")]
    up = client_a.get(f"{url}?ordering={key}").content.decode()
    assert _names(up, records) == ["Qalpha", "Qbravo", "Qcharlie"]
    assert 'aria-sort="ascending"' in up
    down = client_a.get(f"{url}?ordering=-{key}").content.decode()
    assert _names(down, records) == ["Qcharlie", "Qbravo", "Qalpha"]


@pytest.mark.parametrize("records", ["contacts", "companies", "leads", "deals"])
def test_the_columns_a_member_picks_are_remembered_for_that_list(
    client_a: Client, tenant_a: Tenant, member_a: User, records: str
) -> None:
    other_list = next(r for r in LIST_URLS if r != records)
    with tenant_context(tenant_a):
        FACTORIES[records]()
        FACTORIES[other_list]()
    before = client_a.get(LIST_URLS[records]).content.decode()
    assert 'data-testid="owner"' in before
    response = client_a.post(f"/lists/{records}/columns/", {"columns": ["tags"]})
    assert response.status_code == 302
    after = client_a.get(LIST_URLS[records]).content.decode()
    assert 'data-testid="owner"' not in after
    with tenant_context(tenant_a):
        assert SavedView.objects.get(user_id=member_a.pk, records=records, name="").columns == [
            "tags"
        ]
    assert 'data-testid="owner"' in client_a.get(LIST_URLS[other_list]).content.decode()


def test_a_saved_view_keeps_filters_sort_and_columns_and_is_picked_from_the_menu(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        ContactFactory(first_name="Vera", last_name="Vip", owner_id=member_a.pk)
        ContactFactory(first_name="Nora", last_name="Normal")
    saved = client_a.post(
        "/lists/contacts/views/",
        {
            "name": "My contacts",
            "query": "mine=on&ordering=-name&page=3&bogus=1",
            "columns": ["email", "owner"],
        },
    )
    assert saved.status_code == 302
    with tenant_context(tenant_a):
        view = SavedView.objects.get(name="My contacts")
    assert (view.query, view.columns, view.is_shared) == (
        {"mine": "on", "ordering": "-name"},
        ["email", "owner"],
        False,
    )
    assert saved["Location"] == f"/contacts/?mine=on&ordering=-name&view={view.pk}"
    listed = client_a.get("/contacts/").content.decode()
    assert f"view={view.pk}" in listed  # in the menu
    shown = client_a.get(saved["Location"]).content.decode()
    assert "Vera Vip" in shown and "Nora Normal" not in shown
    assert "View: My contacts" in shown


def test_a_shared_view_shows_for_others_who_cannot_delete_it(
    client_a: Client, tenant_a: Tenant, owner_a: User
) -> None:
    with tenant_context(tenant_a):
        shared = SavedView.objects.create(
            user_id=owner_a.pk, records="deals", name="Team pipeline", is_shared=True
        )
        private = SavedView.objects.create(user_id=owner_a.pk, records="deals", name="Secret")
    page = client_a.get("/deals/").content.decode()
    assert "Team pipeline" in page and "Secret" not in page
    assert client_a.post(f"/lists/views/{private.pk}/delete/").status_code == 404
    client_a.post(f"/lists/views/{shared.pk}/delete/")
    with tenant_context(tenant_a):
        assert SavedView.objects.filter(pk=shared.pk).exists()


def test_a_member_deletes_their_own_view(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        view = SavedView.objects.create(user_id=member_a.pk, records="leads", name="Mine")
    assert client_a.post(f"/lists/views/{view.pk}/delete/").status_code == 302
    with tenant_context(tenant_a):
        assert not SavedView.objects.filter(pk=view.pk).exists()


@pytest.mark.parametrize("records", ["contacts", "companies", "leads", "deals"])
def test_ticked_rows_are_given_to_an_owner_at_once(
    client_a: Client, tenant_a: Tenant, owner_a: User, records: str
) -> None:
    with tenant_context(tenant_a):
        ticked = [FACTORIES[records]() for _ in range(3)]
        left = FACTORIES[records]()
    response = client_a.post(
        f"/lists/{records}/bulk/",
        {"action": "owner", "owner_id": owner_a.pk, "ids": [r.pk for r in ticked]},
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        model = MODELS[records]
        assert {r.owner_id for r in model.objects.filter(pk__in=[r.pk for r in ticked])} == {
            owner_a.pk
        }
        assert model.objects.get(pk=left.pk).owner_id != owner_a.pk


def test_an_owner_who_is_not_a_member_is_refused_and_nothing_changes(
    client_a: Client, tenant_a: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        contacts = [ContactFactory(owner_id=None) for _ in range(2)]
    response = client_a.post(
        "/lists/contacts/bulk/",
        {"action": "owner", "owner_id": owner_b.pk, "ids": [c.pk for c in contacts]},
        follow=True,
    )
    assert "Choose a member of the organization." in response.content.decode()
    with tenant_context(tenant_a):
        assert set(Contact.objects.values_list("owner_id", flat=True)) == {None}


def test_ticked_rows_get_a_tag_and_keep_theirs(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        old = Tag.objects.create(name="old")
        leads = [LeadFactory() for _ in range(2)]
        leads[0].tags.add(old)
    client_a.post(
        "/lists/leads/bulk/", {"action": "tag", "tag": " Hot  lead ", "ids": [x.pk for x in leads]}
    )
    with tenant_context(tenant_a):
        assert sorted(t.name for t in Lead.objects.get(pk=leads[0].pk).tags.all()) == [
            "Hot lead",
            "old",
        ]
        assert [t.name for t in Lead.objects.get(pk=leads[1].pk).tags.all()] == ["Hot lead"]


def test_ticked_rows_are_deleted_through_the_delete_service(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        doomed = [CompanyFactory() for _ in range(2)]
        kept = CompanyFactory()
    client_a.post("/lists/companies/bulk/", {"action": "delete", "ids": [c.pk for c in doomed]})
    with tenant_context(tenant_a):
        assert list(Company.objects.values_list("pk", flat=True)) == [kept.pk]


def test_ids_of_another_organization_are_ignored_by_bulk_actions(
    client_a: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        theirs = DealFactory()
    response = client_a.post("/lists/deals/bulk/", {"action": "delete", "ids": [theirs.pk]})
    assert response.status_code == 302
    with tenant_context(tenant_b):
        assert Deal.objects.filter(pk=theirs.pk).exists()


def test_a_saved_view_of_another_organization_is_not_found(
    client_a: Client, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_b):
        theirs = SavedView.objects.create(
            user_id=owner_b.pk, records="contacts", name="Theirs", is_shared=True
        )
    assert client_a.post(f"/lists/views/{theirs.pk}/delete/").status_code == 404
    assert "Theirs" not in client_a.get(f"/contacts/?view={theirs.pk}").content.decode()


def test_an_unknown_list_is_not_found(client_a: Client) -> None:
    assert client_a.post("/lists/tickets/bulk/", {"action": "delete"}).status_code == 404
    assert client_a.post("/lists/tickets/columns/", {}).status_code == 404


@pytest.mark.parametrize("records", ["contacts", "companies", "leads", "deals"])
def test_a_list_page_reads_in_a_fixed_number_of_statements(
    client_a: Client,
    tenant_a: Tenant,
    member_a: User,
    django_assert_max_num_queries: Any,
    records: str,
) -> None:
    with tenant_context(tenant_a):
        tag = Tag.objects.create(name="t")
        for _ in range(3):
            FACTORIES[records]().tags.add(tag)
        SavedView.objects.create(user_id=member_a.pk, records=records, name="A view")
    client_a.get(LIST_URLS[records])  # warm the host and session caches
    with django_assert_max_num_queries(40) as few:
        client_a.get(LIST_URLS[records])
    with tenant_context(tenant_a):
        for _ in range(20):
            FACTORIES[records]().tags.add(tag)
    # A little room for the session's and the host cache's occasional upkeep; a statement
    # per row would add 20.
    with django_assert_max_num_queries(len(few.captured_queries) + 3):
        client_a.get(LIST_URLS[records])


@pytest.mark.parametrize(
    ("records", "factory", "page"),
    [
        ("contacts", ContactFactory, "/contacts/{}/"),
        ("companies", CompanyFactory, "/companies/{}/"),
    ],
)
def test_a_contact_or_company_page_shows_its_owner_and_gives_it_to_another(
    client_a: Client,
    tenant_a: Tenant,
    member_a: User,
    owner_a: User,
    records: str,
    factory: Any,
    page: str,
) -> None:
    User.objects.filter(pk=owner_a.pk).update(full_name="Olive Owner")
    User.objects.filter(pk=member_a.pk).update(full_name="Mia Member")
    with tenant_context(tenant_a):
        record = factory(owner_id=member_a.pk)
    url = page.format(record.pk)
    shown = client_a.get(url).content.decode()
    assert '<span data-testid="record-owner">Mia Member</span>' in shown
    moved = client_a.post(
        f"/lists/{records}/bulk/",
        {"action": "owner", "owner_id": owner_a.pk, "ids": [record.pk], "next": url},
    )
    assert moved["Location"] == url
    assert (
        '<span data-testid="record-owner">Olive Owner</span>' in client_a.get(url).content.decode()
    )


def test_picking_columns_in_a_saved_view_shows_the_members_own_columns_filters_kept(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        view = SavedView.objects.create(
            user_id=member_a.pk, records="contacts", name="V", columns=["email"]
        )
    response = client_a.post(
        "/lists/contacts/columns/",
        {"columns": ["owner"], "next": f"/contacts/?tag=vip&view={view.pk}"},
    )
    assert response["Location"] == "/contacts/?tag=vip"


def test_a_member_of_a_gets_403_from_the_list_routes_and_apis_of_b(
    client_a: Client, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        theirs = ContactFactory(first_name="Bea")
    # The same session (cookie spanning subdomains) presented to B's host.
    client_a.defaults["HTTP_HOST"] = host_of(tenant_b)
    for path, body in (
        ("/lists/contacts/bulk/", {"action": "delete", "ids": [theirs.pk]}),
        ("/lists/contacts/columns/", {"columns": ["email"]}),
        ("/lists/contacts/views/", {"name": "Mine"}),
        ("/lists/views/1/delete/", {}),
    ):
        assert client_a.post(path, body).status_code == 403, path
    for path, json_body in (
        ("/api/v1/contacts/bulk/", {"delete": [theirs.pk]}),
        ("/api/v1/saved-views/", {"list": "contacts", "name": "Mine"}),
    ):
        response = client_a.post(path, json_body, content_type="application/json")
        assert response.status_code == 403, path
    assert client_a.get("/api/v1/saved-views/").status_code == 403
    with tenant_context(tenant_b):
        assert Contact.objects.filter(pk=theirs.pk).exists()
        assert not SavedView.objects.exists()
