"""Cache keys carry the schema: the same key in two tenants never shares a value."""

import pytest
from django.core.cache import cache
from django_tenants.utils import tenant_context

from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_same_cache_key_in_two_tenants_holds_two_values(tenant_a: Tenant, tenant_b: Tenant) -> None:
    with tenant_context(tenant_a):
        cache.set("dashboard", "alpha's", 30)
    with tenant_context(tenant_b):
        assert cache.get("dashboard") is None
        cache.set("dashboard", "beta's", 30)
    with tenant_context(tenant_a):
        assert cache.get("dashboard") == "alpha's"
        cache.delete("dashboard")
    with tenant_context(tenant_b):
        assert cache.get("dashboard") == "beta's"
        cache.delete("dashboard")
