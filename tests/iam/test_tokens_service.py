"""Service tokens: the organization's own tokens, made and revoked by those with the API
tokens admin right, acting as a service account that is never a member, never a seat and
never signs in, and that outlives whoever made it. Another organization can't see them."""

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from billing import entitlements
from iam.exceptions import NotAllowed
from iam.models import ApiToken, Membership, Role, User
from iam.selectors import member_list
from iam.services import membership_remove
from iam.tokens import (
    VIA_SERVICE_TOKEN,
    api_token_authenticate,
    service_token_create,
    service_token_revoke,
)
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import PASSWORD, host_of

pytestmark = pytest.mark.django_db


def _api(raw: str, tenant: Tenant) -> Client:
    return Client(HTTP_HOST=host_of(tenant), HTTP_AUTHORIZATION=f"Bearer {raw}")


def _web(user: User, tenant: Tenant) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def test_a_service_token_acts_as_its_own_account(tenant_a: Tenant, owner_a: User) -> None:
    token, raw = service_token_create(
        tenant=tenant_a, by=owner_a, name="Warehouse sync", scopes=["deal:read"]
    )
    account = token.service_account
    assert token.user_id is None and account is not None
    assert account.is_service_account and account.is_active
    assert account.email == f"service+{token.pk}@alpha.service.invalid"
    assert not account.has_usable_password()
    assert token.created_by == owner_a

    credentials = api_token_authenticate(raw=raw, tenant=tenant_a)
    assert credentials is not None
    assert credentials.user == account
    assert credentials.via == VIA_SERVICE_TOKEN
    assert credentials.scopes == frozenset({"deal:read"})


def test_the_service_account_is_never_a_member_nor_a_seat(tenant_a: Tenant, owner_a: User) -> None:
    seats = entitlements.count(tenant_a, "seats")
    members = member_list(tenant=tenant_a).count()
    token, _ = service_token_create(tenant=tenant_a, by=owner_a, name="ci", scopes=["*:read"])
    assert entitlements.count(tenant_a, "seats") == seats
    assert member_list(tenant=tenant_a).count() == members
    assert not Membership.objects.filter(user=token.service_account).exists()
    page = _web(owner_a, tenant_a).get("/settings/members/").content.decode()
    assert token.service_account.email not in page  # type: ignore[union-attr]


def test_the_service_account_never_signs_in(tenant_a: Tenant, owner_a: User) -> None:
    token, _ = service_token_create(tenant=tenant_a, by=owner_a, name="ci", scopes=["*:read"])
    account = token.service_account
    assert account is not None
    # Even given a password (which it never has), the sign-in refuses it.
    account.set_password(PASSWORD)
    account.save(update_fields=["password"])
    for host in (host_of(tenant_a), settings.BASE_DOMAIN):
        browser = Client(HTTP_HOST=host)
        browser.post("/accounts/login/", {"login": account.email, "password": PASSWORD})
        assert "_auth_user_id" not in browser.session, host


def test_only_those_with_the_api_tokens_right_manage_service_tokens(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    with pytest.raises(NotAllowed):
        service_token_create(tenant=tenant_a, by=member_a, name="ci", scopes=["*:read"])
    token, _ = service_token_create(tenant=tenant_a, by=owner_a, name="ci", scopes=["*:read"])
    with pytest.raises(NotAllowed):
        service_token_revoke(token=token, by=member_a)

    member = _web(member_a, tenant_a)
    assert b"Service tokens" not in member.get("/settings/api-tokens/").content
    assert member.post("/settings/service-tokens/", {"name": "x"}).status_code == 403
    assert member.post(f"/settings/service-tokens/{token.pk}/revoke/").status_code == 403
    assert ApiToken.objects.filter(service_account__isnull=False, name="x").count() == 0


def test_an_admin_makes_and_revokes_a_service_token_on_the_page(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    Membership.objects.filter(user=member_a, tenant=tenant_a).update(role=Role.ADMIN)
    admin = _web(member_a, tenant_a)
    page = admin.post(
        "/settings/service-tokens/",
        {
            "service-name": "ERP",
            "service-expires": "30",
            "service-scope_contact": "read",
            "service-scope_company": "write",
            "service-scope_lead": "none",
            "service-scope_deal": "none",
            "service-scope_activity": "none",
        },
        follow=True,
    )
    assert page.redirect_chain == [("/settings/api-tokens/", 302)]
    created = page.context["created"]
    assert created["service"] and created["name"] == "ERP"
    token = ApiToken.objects.get(tenant=tenant_a, name="ERP")
    assert token.is_service and token.scopes == ["company:write", "contact:read"]
    listed = page.content.decode()
    assert "The organization&#x27;s service tokens" in listed or "service tokens" in listed
    assert "Companies: read and write" in listed and "Contacts: read" in listed

    api = _api(created["raw"], tenant_a)
    assert api_token_authenticate(raw=created["raw"], tenant=tenant_a) is not None
    admin.post(f"/settings/service-tokens/{token.pk}/revoke/")
    assert api.get("/api/v1/contacts/").status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert not User.objects.get(pk=token.service_account_id or 0).is_active


def test_a_service_token_survives_its_creator_leaving(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    Membership.objects.filter(user=member_a, tenant=tenant_a).update(role=Role.ADMIN)
    token, raw = service_token_create(
        tenant=tenant_a, by=member_a, name="ci", scopes=["contact:read"]
    )
    membership_remove(membership=Membership.objects.get(user=member_a, tenant=tenant_a), by=owner_a)
    assert ApiToken.objects.filter(pk=token.pk, revoked_at=None).exists()
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None
    member_a.delete()  # even the person's account going takes nothing with it
    token.refresh_from_db()
    assert token.created_by is None
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None


def test_a_service_token_gets_no_right_its_creator_lacks(tenant_a: Tenant, member_a: User) -> None:
    """Admins hold every right but billing; "admin" gives a service token just those."""
    Membership.objects.filter(user=member_a, tenant=tenant_a).update(role=Role.ADMIN)
    token, _ = service_token_create(tenant=tenant_a, by=member_a, name="ci", scopes=["admin"])
    assert token.scopes == ["admin"]
    with pytest.raises(InvalidFields) as refused:
        service_token_create(tenant=tenant_a, by=member_a, name="ci", scopes=["deal:fly"])
    assert "scopes" in refused.value.errors


def test_a_service_tokens_rights_are_its_scopes(tenant_a: Tenant, owner_a: User) -> None:
    _, raw = service_token_create(tenant=tenant_a, by=owner_a, name="ci", scopes=["contact:write"])
    api = _api(raw, tenant_a)
    made = api.post("/api/v1/contacts/", {"first_name": "Ada"}, content_type="application/json")
    assert made.status_code == 201, made.content
    assert api.get("/api/v1/contacts/").status_code == 200
    refused = api.post("/api/v1/companies/", {"name": "Acme"}, content_type="application/json")
    assert refused.status_code == 403
    assert api.get("/api/v1/members/").status_code == 403


def test_another_organizations_admin_cant_see_or_revoke_our_service_tokens(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    token, raw = service_token_create(tenant=tenant_a, by=owner_a, name="A's", scopes=["*:read"])
    b_web = _web(owner_b, tenant_b)
    assert b"A&#x27;s" not in b_web.get("/settings/api-tokens/").content
    assert b_web.post(f"/settings/service-tokens/{token.pk}/revoke/").status_code == 404
    from tests.conftest import token_client

    b_api = token_client(owner_b, tenant_b)
    assert all(t["id"] != token.pk for t in b_api.get("/api/v1/service-tokens/").json()["results"])
    assert b_api.get(f"/api/v1/service-tokens/{token.pk}/").status_code == 404
    assert b_api.delete(f"/api/v1/service-tokens/{token.pk}/").status_code == 404
    # A's token is refused at B's host, and still works at A's.
    assert _api(raw, tenant_b).get("/api/v1/contacts/").status_code == 401
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None


def test_a_revoked_or_expired_service_token_is_refused(tenant_a: Tenant, owner_a: User) -> None:
    token, raw = service_token_create(tenant=tenant_a, by=owner_a, name="ci", scopes=["*:read"])
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is None
    ApiToken.objects.filter(pk=token.pk).update(expires_at=None)
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None
    service_token_revoke(token=token, by=owner_a)
    assert _api(raw, tenant_a).get("/api/v1/contacts/").status_code == 401


def test_operators_see_service_tokens_with_their_scopes_but_never_the_secret(
    tenant_a: Tenant, owner_a: User
) -> None:
    token, raw = service_token_create(
        tenant=tenant_a, by=owner_a, name="Ops visible", scopes=["lead:write"]
    )
    ops = User.objects.create_superuser(email="ops@mycrm.test", password=PASSWORD)
    operator = Client(HTTP_HOST=settings.BASE_DOMAIN)
    operator.force_login(ops)
    listed = operator.get("/admin/iam/apitoken/")
    assert listed.status_code == 200
    page = listed.content.decode()
    assert "Ops visible" in page and "lead:write" in page
    assert token.service_account.email in page  # type: ignore[union-attr]
    detail = operator.get(f"/admin/iam/apitoken/{token.pk}/change/").content.decode()
    assert raw not in page and raw not in detail
