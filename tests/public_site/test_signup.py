"""Self-serve sign-up over HTTP: success lands the owner in the new workspace; bad input
gets field errors and creates nothing."""

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django_tenants.utils import schema_exists

from iam.models import Membership, User
from tenants.models import Tenant
from tests.support.browser import Browser

pytestmark = pytest.mark.django_db

GOOD = {
    "organization_name": "Omega Widgets",
    "slug": "omega",
    "full_name": "Olga Owner",
    "email": "olga@omega.test",
    "password": "pl3nty-of-Entropy-here",
}


def test_sign_up_creates_the_organization_and_lands_the_owner_on_its_dashboard(
    public_client: Client,
) -> None:
    response = public_client.post("/signup/", GOOD)
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.hostname == "omega.localhost"
    assert target.path == "/auth/handoff/start/"

    tenant = Tenant.objects.get(slug="omega")
    assert tenant.name == "Omega Widgets"
    assert schema_exists("t_omega")
    user = User.objects.get(email="olga@omega.test")
    assert Membership.objects.get(user=user, tenant=tenant).role == "owner"


def test_a_new_owner_lands_signed_in_on_the_new_workspace(db: None) -> None:
    browser = Browser()
    landed = browser.post("http://localhost/signup/", GOOD)
    assert landed.status_code == 200
    assert browser.url == "http://omega.localhost:8000/"
    assert landed.wsgi_request.user.email == "olga@omega.test"
    assert b"Omega Widgets" in landed.content
    assert browser.client("omega.localhost").get("/contacts/").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"slug": "alpha"}, "slug", "already taken"),
        ({"slug": "www"}, "slug", "reserved"),
        ({"slug": "Bad_Slug!"}, "slug", "lowercase letters"),
        ({"slug": "ab"}, "slug", "3 to 40"),
        ({"password": "password"}, "password", "too common"),
        ({"password": "short"}, "password", "too short"),
        ({"email": "owner@alpha.test"}, "email", "already exists"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"organization_name": ""}, "organization_name", "required"),
    ],
)
def test_bad_input_gets_a_field_error_and_creates_nothing(
    public_client: Client, change: dict[str, str], field: str, message: str
) -> None:
    before = (Tenant.objects.count(), User.objects.count(), Membership.objects.count())
    response = public_client.post("/signup/", {**GOOD, **change})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message.lower() in " ".join(errors[field]).lower()
    assert (Tenant.objects.count(), User.objects.count(), Membership.objects.count()) == before
    assert not schema_exists("t_omega")


def test_several_bad_fields_are_reported_together(public_client: Client) -> None:
    response = public_client.post(
        "/signup/", {**GOOD, "slug": "www", "email": "owner@alpha.test", "password": "x"}
    )
    assert set(response.context["form"].errors) >= {"slug", "email", "password"}


@pytest.mark.parametrize(
    ("slug", "expected"),
    [("fresh-name", "available"), ("alpha", "taken"), ("api", "reserved"), ("a", "3 to 40")],
)
def test_live_slug_check_tells_availability(
    public_client: Client, slug: str, expected: str
) -> None:
    response = public_client.get("/signup/check-slug/", {"slug": slug}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert expected in response.content.decode().lower()


def test_signed_in_user_lists_and_opens_their_workspaces(public_client: Client) -> None:
    user = User.objects.get(email="owner@alpha.test")
    public_client.force_login(user)
    page = public_client.get("/workspaces/")
    assert b"Alpha Inc" in page.content
    assert b"Beta GmbH" not in page.content
    opened = public_client.get("/workspaces/alpha/open/")
    assert urlsplit(opened["Location"]).hostname == "alpha.localhost"
    assert public_client.get("/workspaces/beta/open/").status_code == 404


def test_sign_up_is_rate_limited_per_network(public_client: Client, settings: Any) -> None:
    settings.ACCOUNT_RATE_LIMITS = {"signup": "3/m/ip"}
    for _ in range(3):
        assert public_client.post("/signup/", {**GOOD, "slug": "www"}).status_code == 400
    limited = public_client.post("/signup/", GOOD)
    assert limited.status_code == 429
    assert b"Too many sign-up attempts" in limited.content
    assert not Tenant.objects.filter(slug="omega").exists()


def test_live_slug_check_is_rate_limited_per_client_address(public_client: Client) -> None:
    """60 checks a minute per address; the 61st gets a 429 with a message htmx shows."""
    for _ in range(60):
        ok = public_client.get("/signup/check-slug/", {"slug": "free-one"}, HTTP_HX_REQUEST="true")
        assert ok.status_code == 200
    limited = public_client.get("/signup/check-slug/", {"slug": "free-one"}, HTTP_HX_REQUEST="true")
    assert limited.status_code == 429
    assert "Too many checks" in limited.content.decode()
    other = Client(HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.9")
    assert other.get("/signup/check-slug/", {"slug": "free-one"}).status_code == 200
