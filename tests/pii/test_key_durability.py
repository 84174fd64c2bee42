"""A key is used only once its row is durably stored, and a rotation reaches every process.

A first key made inside a transaction that rolls back must not linger in memory to seal
data that a later transaction commits: another process would then find no key, make a
different one, and never read those values again. These tests commit on connections of
their own (`tests.support.connections`) and read back in a separate process with nothing
in memory.
"""

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context
from pytest_django.fixtures import Settings

from crm import services
from crm.models import Contact
from pii import keys, vault
from pii.models import TenantKey
from tenants.models import Tenant
from tenants.services import provision_tenant, tenant_delete
from tests.factories import UserFactory
from tests.support.connections import committed_organization, run_on_own_connection
from tests.support.manage import ROOT, env_on_test_database, manage

pytestmark = pytest.mark.django_db

CSV = b"first name,email,phone\nAda,ada@keys.test,+1 555 0101\nBob,bob@keys.test,+1 555 0102\n"

_READ_BACK = """
import json
from django_tenants.utils import tenant_context
from crm.models import Contact
from pii.fields import blind_index_for
from tenants.models import Tenant
with tenant_context(Tenant.objects.get(slug={slug!r})):
    found = []
    for c in Contact.objects.order_by("first_name"):
        index = blind_index_for(Contact, "email", c.email)
        found.append([c.first_name, c.email, c.phone,
                      Contact.objects.filter(email_index=index).count()])
print(json.dumps(found))
"""


def _read_back_in_a_fresh_process(slug: str) -> list[list[Any]]:
    done = manage(env_on_test_database(), "shell", "-c", _READ_BACK.format(slug=slug))
    result: list[list[Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _in(tenant: Tenant, work: Any) -> Any:
    made: list[Any] = []

    def body() -> None:
        with tenant_context(tenant):
            made.append(work())

    run_on_own_connection(body)
    return made[0]


def test_a_dry_run_import_then_a_real_one_in_a_new_organization_stays_readable() -> None:
    with committed_organization("dryrun") as tenant:
        dry = _in(tenant, lambda: services.contact_import(by=None, content=CSV, dry_run=True))
        assert dry.contacts_created == 2
        real = _in(tenant, lambda: services.contact_import(by=None, content=CSV))
        assert real.contacts_created == 2

        assert _read_back_in_a_fresh_process(tenant.slug) == [
            ["Ada", "ada@keys.test", "+1 555 0101", 1],
            ["Bob", "bob@keys.test", "+1 555 0102", 1],
        ]


def test_a_rolled_back_first_write_leaves_the_key_it_made_stored() -> None:
    """The key a failed first write made is the one every later write and process uses."""

    class Failed(Exception):
        pass

    def fail_after_writing() -> None:
        with transaction.atomic():
            services.contact_create(by=None, first_name="Gone", email="gone@keys.test")
            raise Failed

    with committed_organization("rollback") as tenant:
        with pytest.raises(Failed):
            _in(tenant, fail_after_writing)
        _in(tenant, lambda: services.contact_create(by=None, first_name="Kept", email="k@k.test"))

        stored = TenantKey.objects.get(tenant=tenant, purpose=TenantKey.Purpose.DATA)
        in_memory = keys.key_for_version(tenant.pk, TenantKey.Purpose.DATA, stored.version)
        assert vault.data_key_unwrap(stored.vault_key, stored.wrapped) == in_memory
        assert _read_back_in_a_fresh_process(tenant.slug) == [["Kept", "k@k.test", "", 1]]


def test_an_organization_made_and_filled_in_one_transaction_is_readable_after_commit() -> None:
    """The seeding path: the organization, its keys and its first contacts commit together."""
    slug = "one-transaction"

    def provision_and_fill() -> None:
        with transaction.atomic():
            tenant = provision_tenant(slug=slug, name="One", owner=UserFactory())
            with tenant_context(tenant):
                services.contact_create(by=None, first_name="Seed", email="seed@keys.test")

    def cleanup() -> None:
        for tenant in Tenant.objects.filter(slug=slug):
            tenant_delete(tenant=tenant)

    try:
        run_on_own_connection(provision_and_fill)
        assert _read_back_in_a_fresh_process(slug) == [["Seed", "seed@keys.test", "", 1]]
    finally:
        run_on_own_connection(cleanup)


def test_keys_of_an_organization_rolled_back_with_it_are_never_used_again() -> None:
    """Inside the transaction that creates an organization its keys work; rolled back, the
    organization and its keys are gone together and nothing else can pick them up."""
    with transaction.atomic():
        sid = transaction.savepoint()
        tenant = provision_tenant(slug="vanishing", name="Vanishing", owner=UserFactory())
        with tenant_context(tenant):
            contact = services.contact_create(by=None, first_name="V", email="v@keys.test")
            assert Contact.objects.get(pk=contact.pk).email == "v@keys.test"
        transaction.savepoint_rollback(sid)
    assert not TenantKey.objects.filter(tenant_id=tenant.pk).exists()
    with pytest.raises(TenantKey.DoesNotExist):
        keys.key_for_version(tenant.pk, TenantKey.Purpose.DATA, 1)


def _sealed_version(tenant: Tenant, pk: int) -> int:
    """The data-key version the contact's e-mail is sealed with (read on a connection of its
    own: a table read in the test's transaction would hold up the organization's deletion)."""

    def read() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT email FROM crm_contact WHERE id = %s", [pk])
            return int(cur.fetchone()[0].split(".")[1])

    return int(_in(tenant, read))


def _contact_in(tenant: Tenant, first_name: str) -> int:
    contact = _in(
        tenant,
        lambda: services.contact_create(by=None, first_name=first_name, email=f"{first_name}@r.t"),
    )
    return int(contact.pk)


def _warm(tenant: Tenant) -> None:
    services.contact_create(by=None, first_name="warm", email="warm@r.t")


def test_a_rotation_made_elsewhere_is_used_here_within_the_current_key_lifetime(
    settings: Settings,
) -> None:
    settings.PII_KEY_CURRENT_SECONDS = 0.5
    with committed_organization("rotated", prepare=_warm) as tenant:
        assert _sealed_version(tenant, _contact_in(tenant, "before")) == 1
        manage(
            env_on_test_database(),
            "pii_rotate_tenant_key",
            "--tenant",
            tenant.slug,
            "--no-reencrypt",
        )
        time.sleep(0.6)
        assert _sealed_version(tenant, _contact_in(tenant, "after")) == 2


def test_reencryption_ends_only_after_every_process_took_up_the_new_key(
    settings: Settings,
) -> None:
    """This process stands for one that still writes with the old key just after a rotation
    made elsewhere; the re-encryption that runs meanwhile must still bring its value under
    the new key before it reports that it has finished."""
    settings.PII_KEY_CURRENT_SECONDS = 60  # this process keeps the old version meanwhile
    window = "4"
    with committed_organization("lagging", prepare=_warm) as tenant:
        _contact_in(tenant, "cached")  # this process now holds version 1 as current
        env = env_on_test_database(PII_KEY_CURRENT_SECONDS=window, LOG_LEVEL="INFO")
        # Rotation and re-encryption in one process: the window starts at the rotation, and
        # the first pass follows it at once (a process of its own would spend the window
        # starting up on a busy machine, find it over, and rightly not wait).
        reencrypt = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "pii_rotate_tenant_key", "--tenant", tenant.slug],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert reencrypt.stdout is not None
            deadline = time.monotonic() + 60
            for line in reencrypt.stdout:  # its first pass is over when it starts waiting
                if "pii.values_reseal.waiting" in line:
                    break
                assert time.monotonic() < deadline, "re-encryption never waited"
            else:
                pytest.fail("re-encryption finished without waiting for the other processes")
            late = _contact_in(tenant, "late")
            assert _sealed_version(tenant, late) == 1  # written with the old key meanwhile
            output, _ = reencrypt.communicate(timeout=60)
        finally:
            reencrypt.kill()
        assert reencrypt.returncode == 0, output
        assert _sealed_version(tenant, late) == 2
