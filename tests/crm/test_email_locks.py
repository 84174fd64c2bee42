"""The locks that keep two writers of one e-mail address from racing are per organization:
one organization's large import, which locks (nearly) every address bucket until it commits,
never holds up another organization's writes."""

import threading
from typing import Any

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context

from crm import services
from crm.models import Contact
from pii.fields import blind_index_for
from tenants.models import Tenant
from tests.support.connections import (
    committed_organization,
    run_on_own_connection,
    start_on_own_connection,
)

pytestmark = pytest.mark.django_db


def _warm_keys(tenant: Tenant) -> None:
    services.contact_create(by=None, first_name="Warm", email=f"warm@{tenant.slug}.test")


def _bucket(email: str) -> str:
    """The lock bucket of an address in the current organization."""
    return blind_index_for(Contact, "email", email)[:2]


def test_an_import_holding_its_address_locks_does_not_hold_up_another_organization() -> None:
    """Organization A imports addresses, one of which falls in the very bucket of the address
    B then gives a new contact, and keeps its transaction open; B's write goes through at once
    and commits while A still holds its locks."""
    made: dict[str, Any] = {}
    holding, release, b_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    with (
        committed_organization("locks-a", prepare=_warm_keys) as a,
        committed_organization("locks-b", prepare=_warm_keys) as b,
    ):

        def b_bucket() -> None:
            with tenant_context(b):
                made["bucket"] = _bucket("grace@b.test")

        run_on_own_connection(b_bucket)

        def a_imports_and_holds() -> None:
            with tenant_context(a):
                # Blind indexes are keyed per organization: find addresses of A's that land
                # in B's bucket, so both writers want the same bucket number.
                same = [f"person{i}@a.test" for i in range(5000)]
                same = [e for e in same if _bucket(e) == made["bucket"]][:3]
                assert same, "no address of A in B's bucket"
                made["addresses"] = len(same)
                rows = "".join(f"Person,{e}\n" for e in same)
                with transaction.atomic():
                    made["import"] = services.contact_import(
                        by=None, content=f"first name,email\n{rows}".encode()
                    )
                    holding.set()
                    assert release.wait(timeout=30)

        def b_creates() -> None:
            with tenant_context(b):
                made["contact"] = services.contact_create(
                    by=None, first_name="Grace", email="grace@b.test"
                )
            b_done.set()

        importer = start_on_own_connection(a_imports_and_holds, errors)
        creator = None
        try:
            assert holding.wait(timeout=30), errors
            creator = start_on_own_connection(b_creates, errors)
            went_through = b_done.wait(timeout=5)
        finally:
            release.set()
            importer.join(timeout=30)
            if creator is not None:
                creator.join(timeout=30)
        if errors:
            raise errors[0]
        assert went_through, "B's contact waited for A's import to commit"
        assert made["import"].contacts_created == made["addresses"]

        def b_count() -> None:
            with tenant_context(b):
                made["b_count"] = Contact.objects.filter(first_name="Grace").count()

        run_on_own_connection(b_count)
    assert made["b_count"] == 1
