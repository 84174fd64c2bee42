"""The contact and company lists of the API filter by owner and by `mine`, as the pages do."""

import pytest
from django_tenants.utils import tenant_context

from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "factory", "field"),
    [
        ("/api/v1/contacts/", ContactFactory, "first_name"),
        ("/api/v1/companies/", CompanyFactory, "name"),
    ],
)
def test_a_list_keeps_one_owners_records_or_mine(
    tenant_a: Tenant, member_a: User, owner_a: User, path: str, factory: object, field: str
) -> None:
    with tenant_context(tenant_a):
        factory(**{field: "Minerva", "owner_id": member_a.pk})  # type: ignore[operator]
        factory(**{field: "Otto", "owner_id": owner_a.pk})  # type: ignore[operator]
    api = token_client(member_a, tenant_a)

    def names(query: str) -> list[str]:
        response = api.get(f"{path}?{query}")
        assert response.status_code == 200, response.content
        return sorted(row[field] for row in response.json()["results"])

    assert names("") == ["Minerva", "Otto"]
    assert names("mine=true") == ["Minerva"]
    assert names(f"owner={owner_a.pk}") == ["Otto"]
    bad = api.get(f"{path}?owner=someone")
    assert bad.status_code == 400
    assert "owner" in bad.json()["errors"]
