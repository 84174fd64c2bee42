"""The tools that act on contacts and companies go through the decision point too: merging
(edit the kept record, delete each merged one), the trash (only records the member may
delete), imports, the CRM set-up pages (custom fields, tags) and the organization admin, whose
record lists and deletions are decided record by record, policies included."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from crm.models import Company, Contact
from crm.services import contact_delete
from iam.models import AccessPolicy, Membership, Role, User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import CompanyFactory, ContactFactory
from .test_access_contacts import browser, person

pytestmark = pytest.mark.django_db

OWN_ONLY = {
    "contact.view": "all",
    "contact.edit": "own",
    "contact.delete": "own",
    "company.view": "all",
    "company.delete": "own",
}
OWN_COMPANIES = """
forbid (principal, action == MyCRM::Action::"delete", resource is MyCRM::Company)
when { resource.owner != principal };
"""


def test_a_merge_with_a_record_the_member_may_not_delete_changes_nothing(
    tenant_a: Tenant, member_a: User
) -> None:
    rep = person(tenant_a, Role.BILLING, rep=OWN_ONLY)
    with tenant_context(tenant_a):
        mine = ContactFactory(first_name="Ada", title="Kept", owner_id=rep.pk)
        my_dup = ContactFactory(first_name="Ada", title="Dup", owner_id=rep.pk)
        theirs = ContactFactory(first_name="Ada", title="Theirs", owner_id=member_a.pk)
    api = token_client(rep, tenant_a)

    body = {"survivor": mine.pk, "others": [theirs.pk], "fields": {"title": theirs.pk}}
    refused = api.post("/api/v1/contacts/merge/", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "access-denied"
    assert "only for their own records" in refused.json()["detail"]
    page = browser(tenant_a, rep).post(
        f"/merge/contact/{mine.pk}/{theirs.pk}/", {"survivor": mine.pk, "title": theirs.pk}
    )
    assert page.status_code == 403
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=mine.pk).title == "Kept"
        assert Contact.objects.filter(pk=theirs.pk).exists()

    body = {"survivor": mine.pk, "others": [my_dup.pk], "fields": {"title": my_dup.pk}}
    merged = api.post("/api/v1/contacts/merge/", body, content_type="application/json")
    assert merged.status_code == 200, merged.content
    assert merged.json()["title"] == "Dup"


def test_a_merge_naming_a_record_out_of_sight_is_an_unknown_id(tenant_a: Tenant) -> None:
    rep = person(tenant_a, Role.BILLING, rep={**OWN_ONLY, "contact.view": "own"})
    with tenant_context(tenant_a):
        mine = ContactFactory(owner_id=rep.pk)
        hidden = ContactFactory(owner_id=None)
    body = {"survivor": mine.pk, "others": [hidden.pk]}
    answer = token_client(rep, tenant_a).post(
        "/api/v1/contacts/merge/", body, content_type="application/json"
    )
    assert answer.status_code == 400
    assert "others" in answer.json()["errors"]
    with tenant_context(tenant_a):
        assert Contact.objects.filter(pk=hidden.pk).exists()


def test_the_trash_holds_only_what_the_member_may_delete(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    rep = person(tenant_a, Role.BILLING, rep=OWN_ONLY)
    with tenant_context(tenant_a):
        mine = ContactFactory(first_name="Minerva", owner_id=rep.pk)
        theirs = ContactFactory(first_name="Theodora", owner_id=member_a.pk)
        contact_delete(contact=mine, by=rep)
        contact_delete(contact=theirs, by=owner_a)
    page, api = browser(tenant_a, rep), token_client(rep, tenant_a)

    listed = page.get("/trash/").content.decode()
    assert "Minerva" in listed and "Theodora" not in listed
    assert [e["id"] for e in api.get("/api/v1/trash/").json()["results"]] == [mine.pk]
    assert page.post(f"/trash/contact/{theirs.pk}/restore/").status_code == 403
    assert api.post(f"/api/v1/contacts/{theirs.pk}/restore/").status_code == 403
    assert api.delete(f"/api/v1/trash/contact/{theirs.pk}/").status_code == 403
    with tenant_context(tenant_a):
        assert Contact.trashed.filter(pk=theirs.pk).exists()

    assert api.post(f"/api/v1/contacts/{mine.pk}/restore/").status_code == 200
    with tenant_context(tenant_a):
        assert Contact.objects.filter(pk=mine.pk).exists()


def test_importing_needs_the_create_right(tenant_a: Tenant) -> None:
    reader = browser(tenant_a, person(tenant_a, Role.READ_ONLY))
    refused = reader.get("/contacts/import/")
    assert refused.status_code == 403
    assert "create contacts" in refused.content.decode()
    creator = browser(tenant_a, person(tenant_a, Role.READ_ONLY, adds={"contact.create": "all"}))
    assert creator.get("/contacts/import/").status_code == 200


def test_the_set_up_pages_and_the_admin_follow_the_set_up_right(tenant_a: Tenant) -> None:
    fixer = browser(
        tenant_a,
        person(tenant_a, Role.BILLING, setup={"admin.custom_fields": "all", "contact.view": "own"}),
    )
    reader = browser(tenant_a, person(tenant_a, Role.READ_ONLY))
    for path in ("/settings/custom-fields/", "/settings/tags/", "/admin/"):
        assert fixer.get(path).status_code == 200, path
        refused = reader.get(path)
        assert refused.status_code == 403
        assert "CRM set-up right" in refused.content.decode()
    with tenant_context(tenant_a):
        ContactFactory(first_name="Quentin", owner_id=None)
    # The admin's lists are narrowed as every other list.
    assert "Quentin" not in fixer.get("/admin/crm/contact/").content.decode()


def test_a_policy_refuses_deletions_in_the_admin(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    admin_user = person(tenant_a, Role.ADMIN)
    AccessPolicy.objects.create(tenant=tenant_a, name="Own companies only", source=OWN_COMPANIES)
    with tenant_context(tenant_a):
        theirs = CompanyFactory(name="Theirs Inc", owner_id=member_a.pk)
        mine = CompanyFactory(name="Mine Inc", owner_id=admin_user.pk)
    web = browser(tenant_a, admin_user)
    refused = web.post(
        "/admin/crm/company/",
        {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk], "post": "yes"},
    )
    assert refused.status_code == 403  # one the policy forbids refuses the whole action
    assert web.post(f"/admin/crm/company/{theirs.pk}/delete/", {"post": "yes"}).status_code == 403
    with tenant_context(tenant_a):
        assert Company.objects.filter(pk__in=[mine.pk, theirs.pk]).count() == 2
    assert web.post(f"/admin/crm/company/{mine.pk}/delete/", {"post": "yes"}).status_code == 302
    with tenant_context(tenant_a):
        assert not Company.objects.filter(pk=mine.pk).exists()


def test_a_deactivated_member_is_refused_everywhere(tenant_a: Tenant) -> None:
    gone = person(tenant_a)
    web = browser(tenant_a, gone)
    Membership.objects.filter(user=gone, tenant=tenant_a).update(deactivated_at="2026-01-01T00:00Z")
    for path in ("/contacts/", "/search/?q=a", "/trash/"):
        assert web.get(path).status_code in (302, 403)


def test_an_import_that_would_update_a_contact_the_member_may_not_edit_writes_nothing(
    tenant_a: Tenant, member_a: User
) -> None:
    rep = person(tenant_a, Role.BILLING, rep={**OWN_ONLY, "contact.create": "all"})
    with tenant_context(tenant_a):
        ContactFactory(first_name="Mine", email="mine@own.test", title="Old", owner_id=rep.pk)
        theirs = ContactFactory(email="theirs@own.test", title="Old", owner_id=member_a.pk)
    text = (
        "first name,email,title\nMine,mine@own.test,New\nNew,new@own.test,\nT,theirs@own.test,New\n"
    )
    api = token_client(rep, tenant_a)

    def upload(**fields: str) -> Any:
        body = {"file": SimpleUploadedFile("p.csv", text.encode(), "text/csv"), **fields}
        return api.post("/api/v1/contacts/import/", body)

    refused = upload(on_duplicate="update")
    assert refused.status_code == 403
    assert refused.json()["code"] == "access-denied"
    assert refused.json()["detail"].startswith("Rows 4 would update contacts you may not edit")
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=theirs.pk).title == "Old"
        assert not Contact.objects.filter(first_name="New").exists()
    # Skipping the duplicates changes nobody else's contact: allowed.
    assert upload(on_duplicate="skip").status_code == 201
