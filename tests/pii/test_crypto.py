"""Envelope encryption against the real OpenBao Transit engine of the devstack."""

import base64
import os

import pytest
from django.db import connection

from pii import crypto, keys, vault
from pii.exceptions import CiphertextInvalid, KeyServiceUnavailable
from pii.models import TenantKey
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_round_trip_with_a_fresh_nonce_each_time(tenant_a: Tenant) -> None:
    first = crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="ana@acme.test")
    second = crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="ana@acme.test")
    assert first != second
    assert first.startswith("v1.1.")
    for token in (first, second):
        assert crypto.decrypt(tenant_id=tenant_a.pk, field="email", token=token) == "ana@acme.test"


def test_ciphertext_of_tenant_a_does_not_decrypt_for_tenant_b(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    token = crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="secret@a.test")
    crypto.encrypt(tenant_id=tenant_b.pk, field="email", value="b has a key too")
    with pytest.raises(CiphertextInvalid):
        crypto.decrypt(tenant_id=tenant_b.pk, field="email", token=token)


def test_ciphertext_moved_to_another_field_does_not_decrypt(tenant_a: Tenant) -> None:
    token = crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="ana@acme.test")
    with pytest.raises(CiphertextInvalid):
        crypto.decrypt(tenant_id=tenant_a.pk, field="phone", token=token)


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "AA", lambda t: "v9" + t[2:], lambda t: "x"])
def test_tampered_or_foreign_values_are_refused(tenant_a: Tenant, mangle: object) -> None:
    token = crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="ana@acme.test")
    with pytest.raises(CiphertextInvalid):
        crypto.decrypt(tenant_id=tenant_a.pk, field="email", token=mangle(token))  # type: ignore[operator]


def test_only_the_wrapped_key_is_stored_and_vault_unwraps_it(tenant_a: Tenant) -> None:
    crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="x")
    row = TenantKey.objects.get(tenant=tenant_a, purpose=TenantKey.Purpose.DATA)
    assert row.wrapped.startswith("vault:v")
    _, plaintext_key = keys.current_key(tenant_a.pk, TenantKey.Purpose.DATA)
    assert vault.data_key_unwrap(row.vault_key, row.wrapped) == plaintext_key
    with connection.cursor() as cur:
        cur.execute("SELECT wrapped FROM pii_tenantkey WHERE id = %s", [row.pk])
        assert plaintext_key.hex() not in cur.fetchone()[0]


def test_cached_keys_keep_reads_working_while_vault_is_unreachable(
    tenant_a: Tenant, settings: object
) -> None:
    from tenants.services import provision_tenant
    from tests.factories import UserFactory

    # A brand-new organization: it has no key yet, whatever other tests committed.
    keyless = provision_tenant(slug="keyless", name="Keyless", owner=UserFactory())
    token = crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="ana@acme.test")
    settings.VAULT_ADDR = "http://127.0.0.1:9"  # type: ignore[attr-defined]
    assert crypto.decrypt(tenant_id=tenant_a.pk, field="email", token=token) == "ana@acme.test"
    with pytest.raises(KeyServiceUnavailable):
        crypto.encrypt(tenant_id=keyless.pk, field="email", value="needs a new key")
    assert not TenantKey.objects.filter(tenant=keyless).exists()


def test_blind_index_is_stable_per_tenant_and_field_and_differs_across_them(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a1 = crypto.blind_index(tenant_id=tenant_a.pk, field="email", normalized="ana@acme.test")
    a2 = crypto.blind_index(tenant_id=tenant_a.pk, field="email", normalized="ana@acme.test")
    other_field = crypto.blind_index(
        tenant_id=tenant_a.pk, field="phone", normalized="ana@acme.test"
    )
    other_tenant = crypto.blind_index(
        tenant_id=tenant_b.pk, field="email", normalized="ana@acme.test"
    )
    assert a1 == a2
    assert len({a1, other_field, other_tenant}) == 3


def test_a_blind_index_makes_only_the_index_key() -> None:
    from tenants.services import provision_tenant
    from tests.factories import UserFactory

    fresh = provision_tenant(slug="index-only", name="Index only", owner=UserFactory())
    crypto.blind_index(tenant_id=fresh.pk, field="email", normalized="ana@acme.test")
    index_key = TenantKey.objects.get(tenant=fresh, purpose=TenantKey.Purpose.INDEX)
    data_key = TenantKey.objects.filter(tenant=fresh, purpose=TenantKey.Purpose.DATA)
    assert index_key.wrapped and not data_key.exists()


def test_deleting_a_tenant_shreds_its_keys_so_a_backup_stays_unreadable() -> None:
    from tenants.services import provision_tenant, tenant_delete
    from tests.factories import UserFactory

    tenant = provision_tenant(slug="shredded", name="Shredded", owner=UserFactory())
    backup = crypto.encrypt(tenant_id=tenant.pk, field="email", value="gone@x.test")
    tenant_id = tenant.pk
    tenant_delete(tenant=tenant)
    keys.forget_all()  # what on_commit does once the deletion is committed
    assert not TenantKey.objects.filter(tenant_id=tenant_id).exists()
    with pytest.raises(CiphertextInvalid):
        crypto.decrypt(tenant_id=tenant_id, field="email", token=backup)


def test_values_are_base64url_of_nonce_ciphertext_and_tag(tenant_a: Tenant) -> None:
    """The stored form stays `v1.<version>.<base64url without padding>` of 12 + n + 16 bytes."""
    token = crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="ana@acme.test")
    body = token.split(".", 2)[2]
    assert "=" not in body and "+" not in body and "/" not in body
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert len(raw) == 12 + len("ana@acme.test") + 16


def test_a_forked_process_never_reuses_its_parents_nonces(tenant_a: Tenant) -> None:
    crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="warm the nonce block")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report the next nonce it would use, then leave at once
        os.write(write_end, crypto._nonces.take())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    child_nonce = os.read(read_end, 64)
    os.close(read_end)
    assert len(child_nonce) == 12
    assert crypto._nonces.take() != child_nonce
