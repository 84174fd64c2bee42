"""API tokens expire: an expired token is refused like an unknown one, the page offers the
expiry choices and says when each token expires, and a token can't be made already expired."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from iam.models import ApiToken, Membership, User
from iam.tokens import api_token_authenticate, api_token_create, expiry_from_choice
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


def _api(raw: str, tenant: Tenant) -> Client:
    return Client(HTTP_HOST=host_of(tenant), HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_an_expired_token_is_refused_as_an_invalid_one(tenant_a: Tenant, member_a: User) -> None:
    now = timezone.now()
    _, raw = api_token_create(
        user=member_a, tenant=tenant_a, name="ci", expires_at=now + dt.timedelta(days=7)
    )
    assert _api(raw, tenant_a).get("/api/v1/contacts/").status_code == 200
    with time_machine.travel(now + dt.timedelta(days=7, seconds=1), tick=False):
        expired = _api(raw, tenant_a).get("/api/v1/contacts/")
        unknown = _api("mcrm_" + "x" * 43, tenant_a).get("/api/v1/contacts/")
    assert expired.status_code == unknown.status_code == 401
    assert expired.json()["detail"] == unknown.json()["detail"]
    assert expired["WWW-Authenticate"] == unknown["WWW-Authenticate"]


def test_a_token_works_until_its_last_moment(tenant_a: Tenant, member_a: User) -> None:
    now = timezone.now()
    _, raw = api_token_create(
        user=member_a, tenant=tenant_a, name="ci", expires_at=now + dt.timedelta(days=30)
    )
    with time_machine.travel(now + dt.timedelta(days=30, seconds=-1), tick=False):
        assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None
    with time_machine.travel(now + dt.timedelta(days=30), tick=False):
        assert api_token_authenticate(raw=raw, tenant=tenant_a) is None


def test_a_token_that_never_expires_still_works_years_later(
    tenant_a: Tenant, member_a: User
) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci", expires_at=None)
    with time_machine.travel(timezone.now() + dt.timedelta(days=3650), tick=False):
        assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None


@pytest.mark.parametrize(
    "expires_at",
    [dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2999, 1, 1)],  # noqa: DTZ001 - past; no time zone
)
def test_a_token_cant_be_made_expired_or_with_a_vague_expiry(
    tenant_a: Tenant, member_a: User, expires_at: dt.datetime
) -> None:
    with pytest.raises(InvalidFields) as refused:
        api_token_create(user=member_a, tenant=tenant_a, name="ci", expires_at=expires_at)
    assert "expires_at" in refused.value.errors
    assert not ApiToken.objects.filter(user=member_a, name="ci").exists()


def test_the_expiry_choices() -> None:
    now = timezone.now()
    assert expiry_from_choice("7", now=now) == now + dt.timedelta(days=7)
    assert expiry_from_choice("365", now=now) == now + dt.timedelta(days=365)
    assert expiry_from_choice("never", now=now) is None
    with pytest.raises(ValueError, match="12"):
        expiry_from_choice("12", now=now)


def test_the_page_makes_a_token_for_90_days_by_default_and_says_when_it_expires(
    client_a: Client, tenant_a: Tenant
) -> None:
    page = client_a.get("/settings/api-tokens/")
    assert page.context["form"]["expires"].value() == "90"
    for label in ("7 days", "30 days", "90 days", "1 year", "Never"):
        assert label in page.content.decode()

    client_a.post("/settings/api-tokens/", {"name": "default"})
    token = ApiToken.objects.get(tenant=tenant_a, name="default")
    assert token.expires_at is not None
    days = (token.expires_at - timezone.now()).total_seconds() / 86400
    assert 89.9 < days <= 90
    client_a.post("/settings/api-tokens/", {"name": "forever", "expires": "never"})
    assert ApiToken.objects.get(tenant=tenant_a, name="forever").expires_at is None

    listed = client_a.get("/settings/api-tokens/").content.decode()
    assert "Expires in 2\xa0months" in listed or "Expires in 2 months" in listed
    assert "Never expires" in listed
    token.expires_at = timezone.now() - dt.timedelta(days=2)
    token.save(update_fields=["expires_at"])
    later = client_a.get("/settings/api-tokens/").content.decode()
    assert "Expired 2\xa0days ago" in later or "Expired 2 days ago" in later


def test_an_unknown_expiry_choice_is_a_field_error(client_a: Client, tenant_a: Tenant) -> None:
    page = client_a.post("/settings/api-tokens/", {"name": "odd", "expires": "12"})
    assert page.status_code == 400
    assert page.context["form"].errors["expires"]
    assert not ApiToken.objects.filter(tenant=tenant_a, name="odd").exists()


def test_a_switched_off_members_token_authenticates_as_nothing(
    tenant_a: Tenant, member_a: User
) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci")
    membership = Membership.objects.filter(user=member_a, tenant=tenant_a)
    membership.update(deactivated_at=timezone.now())
    assert _api(raw, tenant_a).get("/api/v1/contacts/").status_code == 401
    membership.update(deactivated_at=None)  # switched on again: the token works again
    assert _api(raw, tenant_a).get("/api/v1/contacts/").status_code == 200
