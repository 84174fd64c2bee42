"""Crypto-shredding: each organization's keys are wrapped by a Vault Transit key of its own,
deleted with the organization, so no backup of its rows or of its wrapped keys can be read
again; a Vault key rotation destroys the versions it replaced. These tests commit on
connections of their own, as the deletion and rotation would in production."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context
from pytest_django.fixtures import Settings

from crm import services
from crm.models import Contact
from pii import keys, vault
from pii.exceptions import KeyServiceUnavailable
from pii.models import TenantKey
from pii.services import transit_keys_orphaned_delete, vault_key_rotate, wrapped_keys_rewrap
from tenants.models import Tenant
from tenants.services import tenant_delete
from tests.support.connections import committed_organization, run_on_own_connection

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Backup:
    """What a database backup holds of an organization: its wrapped key and a sealed value."""

    vault_key: str
    wrapped: str
    sealed_email: str


def _contact(tenant: Tenant) -> None:
    services.contact_create(by=None, first_name="Shred", email="shred@keys.test")


def _backup(tenant: Tenant) -> Backup:
    key = TenantKey.objects.get(tenant=tenant, purpose=TenantKey.Purpose.DATA)
    sealed: list[str] = []

    def read() -> None:
        with tenant_context(tenant), connection.cursor() as cur:
            cur.execute("SELECT email FROM crm_contact WHERE first_name = 'Shred'")
            sealed.append(cur.fetchone()[0])

    run_on_own_connection(read)
    return Backup(vault_key=key.vault_key, wrapped=key.wrapped, sealed_email=sealed[0])


@pytest.fixture
def organization() -> Iterator[Tenant]:
    with committed_organization("shred", prepare=_contact) as tenant:
        yield tenant


def _email_read_afresh(tenant: Tenant) -> str:
    """The contact's e-mail, decrypted with keys unwrapped anew (on a connection of its own:
    a table read in the test's transaction would hold up the organization's deletion)."""
    keys.forget_all()
    found: list[str] = []

    def read() -> None:
        with tenant_context(tenant):
            found.append(Contact.objects.get(first_name="Shred").email)

    run_on_own_connection(read)
    return found[0]


def _rotate() -> None:
    vault_key_rotate()


def _rewrap() -> None:
    wrapped_keys_rewrap()


def _delete(tenant: Tenant) -> None:
    run_on_own_connection(lambda: tenant_delete(tenant=tenant))


def test_each_organization_has_a_vault_key_of_its_own(organization: Tenant) -> None:
    backup = _backup(organization)
    assert backup.vault_key == keys.transit_key_of(organization.pk) != settings.PII_TRANSIT_KEY
    assert vault.data_key_unwrap(backup.vault_key, backup.wrapped)


def test_deleting_an_organization_leaves_a_backup_of_its_keys_unreadable(
    organization: Tenant,
) -> None:
    backup = _backup(organization)
    _delete(organization)
    assert vault.transit_key_created_at(backup.vault_key) is None
    with pytest.raises(KeyServiceUnavailable):
        vault.data_key_unwrap(backup.vault_key, backup.wrapped)


def test_a_deletion_that_could_not_reach_vault_is_finished_by_the_orphan_sweep(
    organization: Tenant, settings: Settings
) -> None:
    backup = _backup(organization)
    reachable = settings.VAULT_ADDR
    settings.VAULT_ADDR = "http://127.0.0.1:9"
    _delete(organization)  # the rows go; Vault can't be told
    settings.VAULT_ADDR = reachable
    assert vault.data_key_unwrap(backup.vault_key, backup.wrapped)  # still there, for now

    assert transit_keys_orphaned_delete(older_than=3600) == []  # too young to be sure
    assert backup.vault_key in transit_keys_orphaned_delete(older_than=0)
    with pytest.raises(KeyServiceUnavailable):
        vault.data_key_unwrap(backup.vault_key, backup.wrapped)


def test_the_sweep_keeps_the_key_of_an_organization_that_exists() -> None:
    with committed_organization("keyless") as tenant:  # no key stored yet
        name = keys.transit_key_of(tenant.pk)
        vault.data_key_generate(name)  # as a first key being created right now does
        assert name not in transit_keys_orphaned_delete(older_than=0)
        assert vault.transit_key_created_at(name) is not None


def test_a_vault_key_rotation_leaves_older_backups_of_the_keys_unreadable(
    organization: Tenant,
) -> None:
    backup = _backup(organization)
    run_on_own_connection(_rotate)
    with pytest.raises(KeyServiceUnavailable):
        vault.data_key_unwrap(backup.vault_key, backup.wrapped)

    keys.forget_all()  # the current rows still unwrap, and the values still read
    assert _email_read_afresh(organization) == "shred@keys.test"


def test_keys_under_the_formerly_shared_vault_key_move_to_their_own(
    organization: Tenant,
) -> None:
    shared = settings.PII_TRANSIT_KEY
    row = TenantKey.objects.get(tenant=organization, purpose=TenantKey.Purpose.DATA)
    plaintext = vault.data_key_unwrap(row.vault_key, row.wrapped)
    legacy_wrapped, legacy_version = vault.data_key_wrap(shared, plaintext)

    def make_legacy() -> None:
        TenantKey.objects.filter(pk=row.pk).update(
            vault_key=shared, wrapped=legacy_wrapped, vault_key_version=legacy_version
        )

    run_on_own_connection(make_legacy)
    run_on_own_connection(_rewrap)
    row.refresh_from_db()
    assert row.vault_key == keys.transit_key_of(organization.pk)
    assert vault.data_key_unwrap(row.vault_key, row.wrapped) == plaintext
    assert _email_read_afresh(organization) == "shred@keys.test"
    assert not TenantKey.objects.filter(vault_key=shared).exists()
    assert shared in transit_keys_orphaned_delete(older_than=0)
