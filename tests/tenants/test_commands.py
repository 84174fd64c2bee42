"""Operator commands: create_tenant, list_tenants, delete_tenant."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import schema_exists

from iam.models import Membership
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_create_tenant_prints_the_url_and_makes_the_owner(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = StringIO()
    call_command(
        "create_tenant",
        slug="acme",
        name="Acme Inc",
        owner_email="ana@acme.test",
        owner_password="a-Long-passphrase-42",
        stdout=out,
    )
    assert out.getvalue().strip() == "http://acme.localhost:8000/"
    tenant = Tenant.objects.get(slug="acme")
    assert Membership.objects.get(tenant=tenant).user.email == "ana@acme.test"


def test_create_tenant_with_a_taken_slug_fails_cleanly() -> None:
    with pytest.raises(CommandError, match="already taken"):
        call_command(
            "create_tenant",
            slug="alpha",
            name="Again",
            owner_email="new@x.test",
            owner_password="a-Long-passphrase-42",
        )
    assert not Membership.objects.filter(user__email="new@x.test").exists()


def test_list_tenants_shows_every_organization() -> None:
    out = StringIO()
    call_command("list_tenants", stdout=out)
    text = out.getvalue()
    assert "alpha" in text and "beta" in text and "http://alpha.localhost:8000/" in text


def test_delete_tenant_asks_for_the_slug_again(monkeypatch: pytest.MonkeyPatch) -> None:
    call_command(
        "create_tenant",
        slug="doomed",
        name="Doomed",
        owner_email="d@x.test",
        owner_password="a-Long-passphrase-42",
        stdout=StringIO(),
    )
    monkeypatch.setattr("builtins.input", lambda _prompt: "wrong")
    with pytest.raises(CommandError, match="did not match"):
        call_command("delete_tenant", "doomed", stdout=StringIO())
    assert schema_exists("t_doomed")
    monkeypatch.setattr("builtins.input", lambda _prompt: "doomed")
    call_command("delete_tenant", "doomed", stdout=StringIO())
    assert not schema_exists("t_doomed")
    assert not Tenant.objects.filter(slug="doomed").exists()


def test_delete_tenant_yes_skips_the_question() -> None:
    call_command(
        "create_tenant",
        slug="gone",
        name="Gone",
        owner_email="g@x.test",
        owner_password="a-Long-passphrase-42",
        stdout=StringIO(),
    )
    call_command("delete_tenant", "gone", yes=True, stdout=StringIO())
    assert not schema_exists("t_gone")
