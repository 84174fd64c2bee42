"""Self-serve sign-up over HTTP, confirmed by e-mail first: the form answers the same whether
or not the address has an account; the mailed link creates the organization and its owner
(or, for an address with an account, the organization of that account once signed in);
bad input gets field errors and creates nothing."""

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import check_password
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_exists

from iam.models import Membership, User
from public_site.models import PendingSignup
from public_site.tasks import signup_pending_expire
from tenants.models import Tenant
from tenants.services import provision_tenant
from tenants.signals import tenant_provisioned
from tests.conftest import PASSWORD
from tests.support.browser import Browser

pytestmark = pytest.mark.django_db

GOOD = {
    "organization_name": "Omega Widgets",
    "slug": "omega",
    "full_name": "Olga Owner",
    "email": "olga@omega.test",
    "password": "pl3nty-of-Entropy-here",
}
_LINK = re.compile(r"http://localhost:8000(/signup/finish/[^/\s]+/)")


def _ask(client: Client, capture: Any, data: dict[str, str]) -> Any:
    """POST the sign-up form and send the mail its transaction leaves for the commit."""
    with capture(execute=True):
        return client.post("/signup/", data)


def _link(message: Any) -> str:
    found = _LINK.search(message.body)
    assert found, message.body
    return found.group(1)


def _counts() -> tuple[int, int, int, int]:
    """What a sign-up may create; counted, as browser journeys commit rows of their own."""
    return (
        Tenant.objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        PendingSignup.objects.count(),
    )


def test_asking_creates_nothing_but_mails_a_link_on_the_public_host(
    public_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    before = _counts()[:3]
    response = _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Check your inbox" in page
    assert "We sent a link to <strong" in page and "olga@omega.test" in page
    assert "Omega Widgets" in page
    assert _counts()[:3] == before and not schema_exists("t_omega")
    (message,) = mail.outbox
    assert message.to == ["olga@omega.test"]
    assert "Finish creating Omega Widgets" in message.subject
    assert _link(message).startswith("/signup/finish/")  # on the public site, never a tenant


def test_the_request_keeps_only_a_digest_of_the_link_and_a_hash_of_the_password(
    public_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    token = _link(mail.outbox[0]).split("/")[-2]
    pending = PendingSignup.objects.get(email="olga@omega.test")
    assert token not in pending.digest and len(pending.digest) == 64
    assert GOOD["password"] not in pending.password
    assert check_password(GOOD["password"], pending.password)
    assert pending.expires_at - timezone.now() > dt.timedelta(hours=23)


def test_the_link_creates_the_organization_and_lands_the_confirmed_owner_on_its_dashboard(
    django_capture_on_commit_callbacks: Any,
) -> None:
    browser = Browser()
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("http://localhost/signup/", GOOD)
    link = _link(mail.outbox[0])
    page = browser.get(f"http://localhost{link}")
    assert page.status_code == 200
    assert b"Create organization" in page.content and b"omega.localhost" in page.content
    assert not Tenant.objects.filter(slug="omega").exists()  # opening the link makes nothing

    landed = browser.post(f"http://localhost{link}", {"slug": "omega"})
    assert landed.status_code == 200
    assert browser.url == "http://omega.localhost:8000/"
    assert landed.wsgi_request.user.email == "olga@omega.test"
    assert b"Omega Widgets" in landed.content
    tenant = Tenant.objects.get(slug="omega")
    assert schema_exists("t_omega")
    user = User.objects.get(email="olga@omega.test")
    assert user.check_password(GOOD["password"]) and user.full_name == "Olga Owner"
    assert Membership.objects.get(user=user, tenant=tenant).role == "owner"
    assert EmailAddress.objects.get(user=user).verified  # the link reached the inbox
    assert b'data-testid="email-unconfirmed"' not in landed.content
    assert len(mail.outbox) == 1  # no second mail to confirm the address
    pending = PendingSignup.objects.get(email="olga@omega.test")
    assert pending.tenant == tenant and pending.completed_at and pending.password == ""


def _masked(response: Any, address: str) -> bytes:
    """The page with the address and the per-response CSRF token masked."""
    text = response.content.decode().replace(address, "ADDRESS")
    return re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": "TOKEN"', text).encode()


def test_an_address_with_an_account_gets_the_same_answer_as_a_new_one(
    public_client: Client, owner_a: User, django_capture_on_commit_callbacks: Any
) -> None:
    new = _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    known = _ask(
        Client(HTTP_HOST="localhost"),
        django_capture_on_commit_callbacks,
        {**GOOD, "email": owner_a.email},
    )
    assert new.status_code == known.status_code == 200
    assert known.headers.keys() == new.headers.keys()
    assert _masked(new, GOOD["email"]) == _masked(known, owner_a.email)
    # The same work behind both: one request kept, one mail through the same path.
    assert [m.to for m in mail.outbox] == [[GOOD["email"]], [owner_a.email]]
    assert PendingSignup.objects.filter(email__in=[GOOD["email"], owner_a.email]).count() == 2


def test_an_address_with_an_account_is_told_so_by_mail_and_nothing_is_created(
    public_client: Client, owner_a: User, django_capture_on_commit_callbacks: Any
) -> None:
    before = _counts()[:3]
    _ask(public_client, django_capture_on_commit_callbacks, {**GOOD, "email": owner_a.email})
    (message,) = mail.outbox
    assert message.to == [owner_a.email]
    assert "already" in message.subject
    assert "An account with this address already exists" in message.body
    assert "http://localhost:8000/accounts/login/" in message.body
    assert "http://localhost:8000/accounts/password/reset/" in message.body
    assert "/signup/finish/" in message.body
    assert _counts()[:3] == before
    assert PendingSignup.objects.get(email=owner_a.email).password == ""  # never needed
    assert not owner_a.memberships.filter(tenant__slug="omega").exists()


def test_the_link_of_an_address_with_an_account_signs_in_first_then_creates_for_it(
    owner_a: User, django_capture_on_commit_callbacks: Any
) -> None:
    browser = Browser()
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("http://localhost/signup/", {**GOOD, "email": owner_a.email})
    link = _link(mail.outbox[0])
    browser.get(f"http://localhost{link}", until=lambda url: "/accounts/login/" in url)
    assert urlsplit(browser.url).path == "/accounts/login/"
    assert link in browser.url  # back to the link once signed in
    users = User.objects.count()

    confirm = browser.post(browser.url, {"login": owner_a.email, "password": PASSWORD})
    assert confirm.status_code == 200 and browser.url == f"http://localhost{link}"
    assert b"It will belong to your account" in confirm.content
    landed = browser.post(f"http://localhost{link}", {"slug": "omega"})
    assert browser.url == "http://omega.localhost:8000/"
    assert landed.wsgi_request.user == owner_a
    tenant = Tenant.objects.get(slug="omega")
    assert Membership.objects.get(user=owner_a, tenant=tenant).role == "owner"
    assert User.objects.count() == users
    assert EmailAddress.objects.get(user=owner_a, email=owner_a.email).verified


def test_the_link_of_an_address_with_an_account_refuses_another_signed_in_account(
    public_client: Client, owner_a: User, owner_b: User, django_capture_on_commit_callbacks: Any
) -> None:
    _ask(public_client, django_capture_on_commit_callbacks, {**GOOD, "email": owner_a.email})
    link = _link(mail.outbox[0])
    other = Client(HTTP_HOST="localhost")
    other.force_login(owner_b)
    assert other.get(link).status_code == 403
    assert other.post(link, {"slug": "omega"}).status_code == 403
    assert not Tenant.objects.filter(slug="omega").exists()


def test_a_used_link_gets_a_clear_page_and_makes_nothing_more(
    public_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    link = _link(mail.outbox[0])
    first = Client(HTTP_HOST="localhost")
    assert first.post(link, {"slug": "omega"}).status_code == 302
    counts = _counts()

    again = first.post(link, {"slug": "omega"})  # a double click: to the workspace again
    assert urlsplit(again["Location"]).hostname == "omega.localhost"
    stranger = Client(HTTP_HOST="localhost")
    used = stranger.get(link)
    assert used.status_code == 409 and b"This link was used already" in used.content
    assert stranger.post(link, {"slug": "omega-two"}).status_code == 409
    assert _counts() == counts
    assert not Tenant.objects.filter(slug="omega-two").exists()


@pytest.mark.parametrize("how", ["expired", "unknown"])
def test_an_expired_or_unknown_link_gets_a_clear_page_and_creates_nothing(
    public_client: Client, django_capture_on_commit_callbacks: Any, how: str
) -> None:
    _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    link = _link(mail.outbox[0])
    if how == "expired":
        PendingSignup.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    else:
        link = link.replace("/finish/", "/finish/x")
    before = _counts()
    page = public_client.get(link)
    assert page.status_code == 400 and b"This link can't be used" in page.content
    assert public_client.post(link, {"slug": "omega"}).status_code == 400
    assert _counts() == before


def test_a_subdomain_taken_in_between_asks_for_another_and_keeps_the_rest(
    public_client: Client, owner_b: User, django_capture_on_commit_callbacks: Any
) -> None:
    _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    link = _link(mail.outbox[0])
    provision_tenant(slug="omega", name="Someone Else", owner=owner_b)

    page = public_client.get(link)
    assert page.status_code == 200
    assert "was taken since you asked" in page.content.decode()
    assert b'name="slug"' in page.content and b'aria-invalid="true"' in page.content
    taken = public_client.post(link, {"slug": "omega"})
    assert taken.status_code == 409
    assert "already taken" in " ".join(taken.context["form"].errors["slug"])

    done = public_client.post(link, {"slug": "omega-widgets"})
    assert urlsplit(done["Location"]).hostname == "omega-widgets.localhost"
    tenant = Tenant.objects.get(slug="omega-widgets")
    assert tenant.name == "Omega Widgets"
    user = User.objects.get(email="olga@omega.test")
    assert Membership.objects.get(user=user, tenant=tenant).role == "owner"
    assert not Membership.objects.filter(user=user, tenant__slug="omega").exists()


@pytest.mark.parametrize("has_account", [False, True])
def test_a_link_cannot_join_an_existing_organization(
    public_client: Client,
    tenant_a: Tenant,
    owner_b: User,
    django_capture_on_commit_callbacks: Any,
    has_account: bool,
) -> None:
    """Whatever subdomain is posted, the link only ever provisions a new organization: an
    existing one's subdomain is refused, and nobody joins it."""
    email = owner_b.email if has_account else GOOD["email"]
    _ask(public_client, django_capture_on_commit_callbacks, {**GOOD, "email": email})
    link = _link(mail.outbox[0])
    if has_account:
        public_client.force_login(owner_b)
    members = list(tenant_a.memberships.values_list("user_id", flat=True))
    before = _counts()
    response = public_client.post(link, {"slug": "alpha"})
    assert response.status_code == 409
    assert "already taken" in " ".join(response.context["form"].errors["slug"])
    assert list(tenant_a.memberships.values_list("user_id", flat=True)) == members
    assert _counts() == before
    assert not PendingSignup.objects.get(email=email).completed_at


def test_a_rolled_back_provisioning_leaves_the_link_usable(
    public_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    link = _link(mail.outbox[0])

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("provisioning failed half-way")

    tenant_provisioned.connect(fail, dispatch_uid="test-fail")
    try:
        failed = Client(HTTP_HOST="localhost", raise_request_exception=False)
        assert failed.post(link, {"slug": "omega"}).status_code == 500
    finally:
        tenant_provisioned.disconnect(dispatch_uid="test-fail")
    assert not Tenant.objects.filter(slug="omega").exists() and not schema_exists("t_omega")
    assert not User.objects.filter(email="olga@omega.test").exists()
    assert PendingSignup.objects.get(email="olga@omega.test").completed_at is None

    retried = Client(HTTP_HOST="localhost").post(link, {"slug": "omega"})
    assert urlsplit(retried["Location"]).hostname == "omega.localhost"
    assert Tenant.objects.filter(slug="omega").exists()


def test_expired_requests_are_forgotten_by_the_periodic_task(
    public_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    _ask(public_client, django_capture_on_commit_callbacks, {**GOOD, "email": "two@omega.test"})
    PendingSignup.objects.filter(email="olga@omega.test").update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    PendingSignup.objects.exclude(email__endswith="@omega.test").update(
        expires_at=timezone.now() + dt.timedelta(hours=1)  # any a browser journey left
    )
    assert signup_pending_expire.apply().get() == 1
    left = PendingSignup.objects.filter(email__endswith="@omega.test")
    assert list(left.values_list("email", flat=True)) == ["two@omega.test"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"slug": "alpha"}, "slug", "already taken"),
        ({"slug": "www"}, "slug", "reserved"),
        ({"slug": "Bad_Slug!"}, "slug", "lowercase letters"),
        ({"slug": "ab"}, "slug", "3 to 40"),
        ({"password": "password"}, "password", "too common"),
        ({"password": "short"}, "password", "too short"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"organization_name": ""}, "organization_name", "required"),
    ],
)
def test_bad_input_gets_a_field_error_and_creates_nothing(
    public_client: Client, change: dict[str, str], field: str, message: str
) -> None:
    before = _counts()
    response = public_client.post("/signup/", {**GOOD, **change})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message.lower() in " ".join(errors[field]).lower()
    assert _counts() == before
    assert not mail.outbox


def test_several_bad_fields_are_reported_together_and_never_the_account(
    public_client: Client, owner_a: User
) -> None:
    response = public_client.post(
        "/signup/", {**GOOD, "slug": "www", "email": owner_a.email, "password": "x"}
    )
    assert set(response.context["form"].errors) == {"slug", "password"}
    assert "already exists" not in response.content.decode()


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
    assert not mail.outbox


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


def test_operators_see_waiting_sign_ups_but_never_the_link_or_password(
    public_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _ask(public_client, django_capture_on_commit_callbacks, GOOD)
    pending = PendingSignup.objects.get(email=GOOD["email"])
    operator = Client(HTTP_HOST="localhost")
    operator.force_login(
        User.objects.create_superuser(email="ops@mycrm.test", password="x-Long-passphrase-9")
    )
    listing = operator.get("/admin/public_site/pendingsignup/")
    assert listing.status_code == 200 and GOOD["email"].encode() in listing.content
    page = operator.get(f"/admin/public_site/pendingsignup/{pending.pk}/change/")
    assert page.status_code == 200 and b"Omega Widgets" in page.content
    assert pending.password.encode() not in page.content
    assert pending.digest.encode() not in page.content
    assert (
        operator.post(
            f"/admin/public_site/pendingsignup/{pending.pk}/change/", {"slug": "hijack"}
        ).status_code
        == 403
    )
    pending.refresh_from_db()
    assert pending.slug == "omega"
