"""`pii_encrypt_existing` seals values stored before encryption, in batches, resumably."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import tenant_context

from crm.models import Contact
from pii.fields import blind_index_for
from pii.services import plaintext_seal
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
    call_command("pii_encrypt_existing", batch_size=2, stdout=out)
    assert "alpha: crm.Contact 5 row(s) encrypted" in out.getvalue()
    assert "beta: crm.Contact 3 row(s) encrypted" in out.getvalue()
    with tenant_context(tenant_a):
        assert _plaintext_left() == 0
        contact = Contact.objects.get(pk=pks_a[0])
        assert contact.email == f"old{pks_a[0]}@x.test"
        index = blind_index_for(Contact, "email", contact.email)
        assert Contact.objects.filter(email_index=index).get() == contact
    again = StringIO()
    call_command("pii_encrypt_existing", stdout=again)
    assert "alpha: nothing left in plaintext" in again.getvalue()


def test_an_interrupted_run_continues_where_it_stopped(tenant_a: Tenant) -> None:
    _store_plaintext(tenant_a, 5)
    with tenant_context(tenant_a):
        run = plaintext_seal(batch_size=2)
        assert next(run) == ("crm.Contact", 2)
        run.close()  # stopped after the first batch
        assert _plaintext_left() == 3
        assert list(plaintext_seal(batch_size=2))[-1] == ("crm.Contact", 3)
        assert _plaintext_left() == 0
