"""The organization admin's log (history pages, recent actions) belongs to the organization:
kept in its own schema, shown only on its own host, and gone with it."""

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import AdminLogEntry, Contact
from iam.models import Membership, Role, User
from tenants.models import Tenant
from tenants.services import provision_tenant, tenant_delete
from tests.conftest import host_of
from tests.factories import UserFactory

from .factories import ContactFactory

pytestmark = pytest.mark.django_db


def admin_client(user: User, tenant: Tenant) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def contact_in(tenant: Tenant, **fields: Any) -> Contact:
    # No e-mail or phone: these tests are about the admin's log, not about encryption.
    with tenant_context(tenant):
        return ContactFactory(email="", phone="", **fields)


def change_in_admin(client: Client, contact: Contact, **fields: str) -> None:
    data = {"first_name": contact.first_name, "last_name": contact.last_name, **fields}
    response = client.post(f"/admin/crm/contact/{contact.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[-2000:]


def recent_actions(client: Client) -> str:
    """The admin index's *Recent actions* box."""
    page = client.get("/admin/").content.decode()
    return page.split('id="recent-actions-module"', 1)[1].split("</ul>", 1)[0]


def public_log_count(text: str) -> int:
    """Rows of the shared `django_admin_log` (the operator admin's) that mention `text`."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM public.django_admin_log "
            "WHERE object_repr LIKE %s OR change_message LIKE %s",
            [f"%{text}%", f"%{text}%"],
        )
        return int(cur.fetchone()[0])


def test_a_change_made_in_the_admin_of_a_is_in_the_history_of_a(
    tenant_a: Tenant, owner_a: User
) -> None:
    contact = contact_in(tenant_a, first_name="Wilhelmina", last_name="Okonkwo")
    client = admin_client(owner_a, tenant_a)
    change_in_admin(client, contact, title="Head of Procurement")

    history = client.get(f"/admin/crm/contact/{contact.pk}/history/")
    assert history.status_code == 200
    page = history.content.decode()
    assert owner_a.email in page
    assert "Changed Title." in page
    with tenant_context(tenant_a):
        entry = AdminLogEntry.objects.get(object_id=str(contact.pk))
    assert entry.user_id == owner_a.pk
    assert entry.is_change()
    assert public_log_count("Okonkwo") == 0


def test_history_page_of_b_does_not_show_a_change_made_in_a_to_a_record_with_the_same_id(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    contact = contact_in(tenant_a, first_name="Wilhelmina", last_name="Okonkwo")
    twin = contact_in(tenant_b, pk=contact.pk, first_name="Bartholomew", last_name="Beta")
    change_in_admin(admin_client(owner_a, tenant_a), contact, title="Head of Procurement")

    history = admin_client(owner_b, tenant_b).get(f"/admin/crm/contact/{twin.pk}/history/")
    assert history.status_code == 200
    page = history.content.decode()
    assert "Bartholomew" in page  # B's own record, ...
    assert owner_a.email not in page  # ... without A's admin
    assert "Title" not in page  # ... or A's changes
    assert "doesn’t have a change history" in page


def test_recent_actions_of_an_admin_of_two_organizations_stay_with_each(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    Membership.objects.create(user=owner_a, tenant=tenant_b, role=Role.ADMIN)
    contact = contact_in(tenant_a, first_name="Wilhelmina", last_name="Okonkwo")
    change_in_admin(admin_client(owner_a, tenant_a), contact, title="Head of Procurement")

    at_a = recent_actions(admin_client(owner_a, tenant_a))
    assert f'<a href="/admin/crm/contact/{contact.pk}/change/">Wilhelmina Okonkwo</a>' in at_a
    at_b = recent_actions(admin_client(owner_a, tenant_b))
    assert "Wilhelmina" not in at_b


def test_additions_and_deletions_are_logged_in_the_organizations_own_log(
    tenant_a: Tenant, owner_a: User
) -> None:
    client = admin_client(owner_a, tenant_a)
    added = client.post("/admin/crm/contact/add/", {"first_name": "Ignatius", "last_name": "Ng"})
    assert added.status_code == 302, added.content.decode()[-2000:]
    with tenant_context(tenant_a):
        contact = Contact.objects.get(first_name="Ignatius")
    deleted = client.post(f"/admin/crm/contact/{contact.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302

    with tenant_context(tenant_a):
        entries = list(AdminLogEntry.objects.filter(object_id=str(contact.pk)))
    assert sorted((e.action_flag, e.object_repr) for e in entries) == [
        (1, "Ignatius Ng"),
        (3, "Ignatius Ng"),
    ]
    assert public_log_count("Ignatius") == 0
    listed = recent_actions(client)
    assert listed.count("Ignatius Ng") == 2  # added, then deleted (which links nowhere)
    assert listed.count(f'href="/admin/crm/contact/{contact.pk}/change/"') == 1


def test_deleting_an_organization_leaves_none_of_its_admin_log_behind() -> None:
    owner = UserFactory(email="owner@gamma.test")
    gamma = provision_tenant(slug="gamma", name="Gamma Ltd", owner=owner)
    contact = contact_in(gamma, first_name="Evangeline", last_name="Gamma-Only")
    change_in_admin(admin_client(owner, gamma), contact, title="Buyer")
    with tenant_context(gamma):
        assert AdminLogEntry.objects.filter(object_repr__contains="Gamma-Only").exists()

    tenant_delete(tenant=gamma)

    assert public_log_count("Gamma-Only") == 0
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [gamma.schema_name])
        assert cur.fetchone() is None
    # Whoever takes the slug next starts with an empty log.
    successor = provision_tenant(slug="gamma", name="Gamma Again", owner=owner)
    with tenant_context(successor):
        assert not AdminLogEntry.objects.exists()


def test_upgrading_removes_the_organization_admin_entries_left_in_the_shared_log(
    owner_a: User,
) -> None:
    migration = importlib.import_module(
        "tenants.migrations.0004_remove_organization_admin_log_from_public"
    )
    # As the organization admin wrote them before, and one of the operator admin's own.
    for model, repr_ in ((Contact, "Left-Behind Contact"), (Tenant, "Operator's tenant")):
        LogEntry.objects.create(
            user=owner_a,
            content_type=ContentType.objects.get_for_model(model),
            object_id="7",
            object_repr=repr_,
            action_flag=CHANGE,
        )

    with connection.schema_editor() as editor:
        migration.remove_organization_admin_log(apps, editor)

    assert public_log_count("Left-Behind") == 0
    assert public_log_count("Operator's tenant") == 1
