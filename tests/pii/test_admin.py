"""Operators rotate keys from the admin on the public host; tenant hosts cannot."""

import pytest
from django.test import Client

from iam.models import User
from pii import crypto
from pii.models import TenantKey
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db: None) -> Client:
    user = User.objects.create_superuser(email="ops@mycrm.test", password="x-Long-passphrase-9")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def test_operator_rotates_the_vault_key_and_a_tenant_data_key(
    operator: Client, tenant_a: Tenant
) -> None:
    crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="x")
    key = TenantKey.objects.get(tenant=tenant_a, purpose="data")
    listing = operator.get("/admin/pii/tenantkey/")
    assert listing.status_code == 200 and b"alpha" in listing.content

    operator.post(
        "/admin/pii/tenantkey/", {"action": "rotate_vault_key", "_selected_action": [key.pk]}
    )
    key.refresh_from_db()
    assert key.vault_key_version >= 2

    response = operator.post(
        "/admin/pii/tenantkey/",
        {"action": "rotate_tenant_data_keys", "_selected_action": [key.pk]},
        follow=True,
    )
    assert b"data key version 2" in response.content
    assert TenantKey.objects.filter(tenant=tenant_a, purpose="data", version=2).exists()


def test_tenant_hosts_have_no_key_admin(tenant_a: Tenant, owner_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    assert client.get("/admin/pii/tenantkey/").status_code == 404
