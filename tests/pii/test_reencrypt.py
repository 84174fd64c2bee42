"""Re-encryption: values stored before encryption, tenant key rotation, Vault key rotation."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import tenant_context

from crm.models import Contact
from pii import keys
from pii.fields import blind_index_for
from pii.models import TenantKey
from pii.services import key_versions_in_use, tenant_key_rotate, values_reseal, vault_key_rotate
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def _store_plaintext(tenant: Tenant, count: int) -> list[int]:
    with tenant_context(tenant):
        contacts = [Contact.objects.create(first_name=f"Old {i}") for i in range(count)]
        with connection.cursor() as cur:
            for c in contacts:
                cur.execute(
                    "UPDATE crm_contact SET email = %s, phone = %s WHERE id = %s",
                    [f"old{c.pk}@x.test", "+1 555 0100", c.pk],
                )
        return [c.pk for c in contacts]


def _plaintext_left() -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM crm_contact WHERE (email <> '' AND email NOT LIKE 'v1.%%') "
            "OR (phone <> '' AND phone NOT LIKE 'v1.%%')"
        )
        return int(cur.fetchone()[0])


def test_command_encrypts_old_rows_in_every_tenant_and_indexes_them(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    pks_a = _store_plaintext(tenant_a, 5)
    _store_plaintext(tenant_b, 3)
    out = StringIO()
    call_command("pii_reencrypt", batch_size=2, stdout=out)
    assert "alpha: crm.Contact 5 row(s) re-encrypted" in out.getvalue()
    assert "beta: crm.Contact 3 row(s) re-encrypted" in out.getvalue()
    with tenant_context(tenant_a):
        assert _plaintext_left() == 0
        contact = Contact.objects.get(pk=pks_a[0])
        assert contact.email == f"old{pks_a[0]}@x.test"
        index = blind_index_for(Contact, "email", contact.email)
        assert Contact.objects.filter(email_index=index).get() == contact
    again = StringIO()
    call_command("pii_reencrypt", stdout=again)
    assert "alpha: everything is under the current key" in again.getvalue()


def test_an_interrupted_run_continues_where_it_stopped(tenant_a: Tenant) -> None:
    _store_plaintext(tenant_a, 5)
    with tenant_context(tenant_a):
        run = values_reseal(batch_size=2)
        assert next(run) == ("crm.Contact", 2)
        run.close()  # stopped after the first batch
        assert _plaintext_left() == 3
        assert list(values_reseal(batch_size=2))[-1] == ("crm.Contact", 3)
        assert _plaintext_left() == 0


def _versions() -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT split_part(email, '.', 2) FROM crm_contact WHERE email <> ''")
        return {row[0] for row in cur.fetchall()}


def test_tenant_key_rotation_reencrypts_while_reads_and_writes_continue(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        old = [Contact.objects.create(first_name=f"C{i}", email=f"c{i}@x.test") for i in range(5)]
        assert _versions() == {"1"}
        assert tenant_key_rotate(tenant_id=tenant_a.pk) == 2
        written_meanwhile = Contact.objects.create(first_name="New", email="new@x.test")
        assert _versions() == {"1", "2"}
        run = values_reseal(batch_size=2)
        next(run)  # half-way: old and new versions side by side, all readable
        assert {c.email for c in Contact.objects.all()} >= {"c0@x.test", "new@x.test"}
        Contact.objects.create(first_name="During", email="during@x.test")
        list(run)
        assert _versions() == {"2"}
        assert Contact.objects.get(pk=old[4].pk).email == "c4@x.test"
        assert Contact.objects.get(pk=written_meanwhile.pk).email == "new@x.test"
    with tenant_context(tenant_b):
        Contact.objects.create(first_name="B", email="b@x.test")
        assert _versions() == {"1"}  # the other tenant's key is untouched


def test_vault_key_rotation_rewraps_keys_without_touching_values(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = Contact.objects.create(first_name="Wrapped", email="wrapped@x.test")
        with connection.cursor() as cur:
            cur.execute("SELECT email FROM crm_contact WHERE id = %s", [contact.pk])
            stored_before = cur.fetchone()[0]
    before = {k.pk: k.vault_key_version for k in TenantKey.objects.filter(tenant=tenant_a)}
    rotated, count = vault_key_rotate()
    assert rotated >= 1 and count >= len(before)
    after = {k.pk: k.vault_key_version for k in TenantKey.objects.filter(tenant=tenant_a)}
    assert all(after[pk] > before[pk] for pk in before)
    keys.forget_all()  # force unwrapping the rewrapped keys through Vault
    with tenant_context(tenant_a):
        with connection.cursor() as cur:
            cur.execute("SELECT email FROM crm_contact WHERE id = %s", [contact.pk])
            assert cur.fetchone()[0] == stored_before  # no value was re-encrypted
        assert Contact.objects.get(pk=contact.pk).email == "wrapped@x.test"
    report = key_versions_in_use()
    assert ("data", 1, report["tenant"][0][2]) in report["tenant"]
    own = keys.transit_key_of(tenant_a.pk)
    assert (own, max(after.values())) in [(k, v) for k, v, _ in report["transit"]]
