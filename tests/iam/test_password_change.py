"""A signed-in person changes their password from the link on their address in the top bar,
on an organization's host and on the public site alike."""

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client

from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

NEW = "an-Even-longer-passphrase-77"


@pytest.mark.parametrize("where", ["tenant", "public"])
def test_the_address_in_the_top_bar_leads_to_changing_the_password(
    where: str, tenant_a: Tenant, member_a: User
) -> None:
    member_a.set_password("the-Old-passphrase-11")
    member_a.save()
    host = host_of(tenant_a) if where == "tenant" else settings.BASE_DOMAIN
    browser = Client(HTTP_HOST=host)
    browser.force_login(member_a)
    page = browser.get("/" if where == "tenant" else "/workspaces/")
    assert page.status_code == 200
    assert b'href="/accounts/password/change/"' in page.content

    form = browser.get("/accounts/password/change/")
    assert form.status_code == 200
    wrong = browser.post(
        "/accounts/password/change/",
        {"oldpassword": "not-it", "password1": NEW, "password2": NEW},
    )
    assert wrong.status_code == 200  # the form again, with its error
    member_a.refresh_from_db()
    assert member_a.check_password("the-Old-passphrase-11")

    changed = browser.post(
        "/accounts/password/change/",
        {"oldpassword": "the-Old-passphrase-11", "password1": NEW, "password2": NEW},
    )
    assert changed.status_code == 302
    member_a.refresh_from_db()
    assert member_a.check_password(NEW)
    assert browser.get("/accounts/password/change/").status_code == 200  # still signed in


@pytest.mark.parametrize("where", ["tenant", "public"])
def test_adding_or_switching_e_mail_addresses_is_not_offered(
    where: str, tenant_a: Tenant, member_a: User
) -> None:
    host = host_of(tenant_a) if where == "tenant" else settings.BASE_DOMAIN
    browser = Client(HTTP_HOST=host)
    browser.force_login(member_a)
    before = list(EmailAddress.objects.filter(user=member_a).values_list("email", flat=True))
    page = browser.get("/accounts/email/")
    assert page.status_code == 302 and page["Location"] == "/accounts/password/change/"
    added = browser.post("/accounts/email/", {"action_add": "", "email": "second@x.test"})
    assert added.status_code == 302
    assert list(EmailAddress.objects.filter(user=member_a).values_list("email", flat=True)) == (
        before
    )
    member_a.refresh_from_db()
    assert member_a.email == "member@alpha.test"
