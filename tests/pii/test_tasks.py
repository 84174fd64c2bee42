"""Background re-encryption: the task, its progress report, the operator action."""

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Contact
from iam.models import User
from pii.models import TenantKey
from pii.services import tenant_key_rotate
from pii.tasks import reencryption_progress, reencryption_queue, tenant_reencrypt
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def _versions() -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT split_part(email, '.', 2) FROM crm_contact WHERE email <> ''")
        return {row[0] for row in cur.fetchall()}


def test_task_reencrypts_under_the_new_key_and_reports_progress(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        for i in range(3):
            Contact.objects.create(first_name=f"T{i}", email=f"t{i}@x.test")
    tenant_key_rotate(tenant_id=tenant_a.pk)
    with tenant_context(tenant_a):
        assert tenant_reencrypt.apply().get() == 3
    with tenant_context(tenant_a):
        assert _versions() == {"2"}
    assert reencryption_progress(tenant_a) == {"state": "finished", "rows": 3}


def test_operator_action_starts_background_reencryption(
    tenant_a: Tenant, django_capture_on_commit_callbacks: object
) -> None:
    operator = User.objects.create_superuser(email="ops@x.test", password="x-Long-passphrase-9")
    client = Client(HTTP_HOST="localhost")
    client.force_login(operator)
    with tenant_context(tenant_a):
        Contact.objects.create(first_name="Bg", email="bg@x.test")
    key = TenantKey.objects.get(tenant=tenant_a, purpose="data")
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
        client.post(
            "/admin/pii/tenantkey/",
            {"action": "rotate_tenant_data_keys", "_selected_action": [key.pk]},
        )
    # The task is queued once the rotation has committed (beside the new key's caching).
    [queue_it] = [c for c in callbacks if getattr(c, "func", None) == reencryption_queue]
    assert queue_it.args == (tenant_a,)
    with tenant_context(tenant_a):
        tenant_reencrypt.apply()  # what a worker then does with the queued message
    assert reencryption_progress(tenant_a) == {"state": "finished", "rows": 1}
    listing = client.get("/admin/pii/tenantkey/")
    assert b"finished: 1 row(s)" in listing.content
