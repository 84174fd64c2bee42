"""The operator admin on the bare domain: organizations, users, suspension."""

from typing import Any

import pytest
from django.test import Client

from iam.models import User
from tenants.models import Tenant
from tenants.routing import resolve_host
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db: None) -> Client:
    user = User.objects.create_superuser(email="ops@mycrm.test", password="x-Long-passphrase-9")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/tenants/tenant/", "/admin/iam/user/", "/admin/iam/membership/"],
)
def test_operator_admin_pages_render(operator: Client, path: str) -> None:
    assert operator.get(path).status_code == 200


def test_operator_suspends_and_restores_an_organization(operator: Client, tenant_a: Tenant) -> None:
    operator.post(
        "/admin/tenants/tenant/", {"action": "suspend", "_selected_action": [tenant_a.pk]}
    )
    tenant_a.refresh_from_db()
    assert tenant_a.is_suspended
    operator.post(
        "/admin/tenants/tenant/", {"action": "restore", "_selected_action": [tenant_a.pk]}
    )
    tenant_a.refresh_from_db()
    assert not tenant_a.is_suspended


def test_a_member_who_is_not_staff_cannot_use_the_operator_admin(owner_a: User) -> None:
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner_a)
    assert client.get("/admin/tenants/tenant/").status_code == 302


def _change_form(tenant: Tenant, **changes: str) -> dict[str, str]:
    """The organization's change form as the operator sends it back, with `changes`."""
    domains = list(tenant.domains.order_by("pk"))
    data = {
        "name": tenant.name,
        "status": tenant.status,
        "domains-TOTAL_FORMS": str(len(domains)),
        "domains-INITIAL_FORMS": str(len(domains)),
        "domains-MIN_NUM_FORMS": "0",
        "domains-MAX_NUM_FORMS": "1000",
    }
    for i, domain in enumerate(domains):
        data.update(
            {
                f"domains-{i}-id": str(domain.pk),
                f"domains-{i}-tenant": str(tenant.pk),
                f"domains-{i}-domain": domain.domain,
                f"domains-{i}-is_primary": "on" if domain.is_primary else "",
            }
        )
    data.update(changes)
    return data


def test_the_change_form_tells_every_process(
    operator: Client, tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    """Suspending, renaming or moving an organization through its change form reaches the
    host cache at once, as the list's actions do, and writes only what was changed."""
    path = f"/admin/tenants/tenant/{tenant_a.pk}/change/"
    host = host_of(tenant_a)
    assert resolve_host(host).tenant is not None  # kept in this process from here on
    with django_capture_on_commit_callbacks(execute=True) as announced:
        response = operator.post(path, _change_form(tenant_a, status="suspended", name="Alpha 2"))
    assert response.status_code == 302, response.content
    assert announced  # the hosts are published to the other processes on commit
    cached = resolve_host(host).tenant
    assert cached is not None and cached.is_suspended and cached.name == "Alpha 2"

    with django_capture_on_commit_callbacks(execute=True):
        operator.post(path, _change_form(tenant_a, **{"domains-0-domain": "alpha2.localhost"}))
    assert resolve_host(host).tenant is None  # the old host no longer routes anywhere
    moved = resolve_host("alpha2.localhost").tenant
    assert moved is not None and moved.pk == tenant_a.pk
