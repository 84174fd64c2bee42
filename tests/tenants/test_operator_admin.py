"""The operator admin on the bare domain: organizations, users, suspension."""

import pytest
from django.test import Client

from iam.models import User
from tenants.models import Tenant

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
