"""Operator impersonation: an operator with the dedicated permission acts as a member of an
organization, with a reason, within a time limit, unable to touch the member's credentials,
tokens, billing, people or security settings, and the organization's audit log has the
start, every change (through "operator", naming the operator) and the end."""

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from iam.impersonation.models import Impersonation
from iam.impersonation.services import (
    impersonation_start,
    impersonations_expire,
    operator_access_set,
)
from iam.impersonation.tasks import impersonations_expire_due
from iam.models import ApiToken, Membership, Role, SecuritySettings, User
from iam.org.models import AuditEvent
from iam.services_access import policy_create
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import PASSWORD
from tests.support.browser import Browser

pytestmark = pytest.mark.django_db

PUBLIC = f"http://{settings.BASE_DOMAIN}"
REASON = "Ticket #4711: deals missing from the member board"


def _staff(email: str, *, may_impersonate: bool) -> User:
    user = User.objects.create_user(email=email, password="x-Long-passphrase-9")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    # Operators look after organizations; some of them may also act as their members.
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_tenant", "change_tenant"])
    )
    if may_impersonate:
        user.user_permissions.add(Permission.objects.get(codename="impersonate_member"))
    return User.objects.get(pk=user.pk)  # no permission cache


@pytest.fixture
def operator(db: None) -> User:
    return _staff("ops@mycrm.test", may_impersonate=True)


def _start_path(tenant: Tenant) -> str:
    return f"{PUBLIC}/admin/iam_impersonation/impersonation/start/{tenant.pk}/"


def _operator_browser(operator: User) -> Browser:
    browser = Browser()
    browser.client(settings.BASE_DOMAIN).force_login(operator)
    return browser


def _act_as(browser: Browser, tenant: Tenant, member: User, reason: str = REASON) -> Any:
    return browser.post(_start_path(tenant), {"member": str(member.pk), "reason": reason})


def _events(tenant: Tenant, action_start: str = "") -> list[AuditEvent]:
    with tenant_context(tenant):
        rows = AuditEvent.objects.order_by("seq")
        if action_start:
            rows = rows.filter(action__startswith=action_start)
        return list(rows)


def _acting(operator: User, tenant: Tenant, member: User) -> Browser:
    browser = _operator_browser(operator)
    page = _act_as(browser, tenant, member)
    assert page.status_code == 200, page.content[:500]
    assert urlsplit(browser.url).hostname == host_of(tenant)
    return browser


# Starting ---------------------------------------------------------------------------------


def test_operator_acts_as_a_member_and_sees_the_banner(
    operator: User, tenant_a: Tenant, member_a: User
) -> None:
    browser = _acting(operator, tenant_a, member_a)
    page = browser.get(f"http://{host_of(tenant_a)}/contacts/")
    assert page.wsgi_request.user == member_a
    banner = page.content.decode()
    assert 'data-testid="impersonation-banner"' in banner
    assert "member@alpha.test" in banner and "ops@mycrm.test" in banner
    started = _events(tenant_a, "operator.impersonation_started")
    assert len(started) == 1
    row = started[0]
    assert row.via == "operator" and row.actor_id == operator.pk
    assert row.changes["reason"] == [None, REASON]
    assert row.changes["member"] == [None, member_a.email]


def test_an_operator_without_the_permission_is_refused(tenant_a: Tenant, member_a: User) -> None:
    staff = _staff("helpdesk@mycrm.test", may_impersonate=False)
    browser = _operator_browser(staff)
    assert browser.get(_start_path(tenant_a)).status_code == 403
    assert _act_as(browser, tenant_a, member_a).status_code == 403
    with pytest.raises(Exception, match="may not act as members"):
        impersonation_start(tenant=tenant_a, operator=staff, member_id=member_a.pk, reason="x")
    assert not Impersonation.objects.exists()
    assert not _events(tenant_a, "operator.impersonation")


def test_the_tenant_list_offers_the_action_only_with_the_permission(
    operator: User, tenant_a: Tenant
) -> None:
    allowed = Client(HTTP_HOST=settings.BASE_DOMAIN)
    allowed.force_login(operator)
    page = allowed.get(f"/admin/tenants/tenant/{tenant_a.pk}/change/").content.decode()
    assert f"/admin/iam_impersonation/impersonation/start/{tenant_a.pk}/" in page
    chosen = allowed.post(
        "/admin/tenants/tenant/", {"action": "act_as_member", "_selected_action": [tenant_a.pk]}
    )
    assert chosen["Location"] == f"/admin/iam_impersonation/impersonation/start/{tenant_a.pk}/"

    staff = _staff("helpdesk@mycrm.test", may_impersonate=False)
    refused = Client(HTTP_HOST=settings.BASE_DOMAIN)
    refused.force_login(User.objects.get(pk=staff.pk))
    page = refused.get(f"/admin/tenants/tenant/{tenant_a.pk}/change/").content.decode()
    assert "Act as a member" not in page
    assert "act_as_member" not in refused.get("/admin/tenants/tenant/").content.decode()


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required(
    operator: User, tenant_a: Tenant, member_a: User, reason: str
) -> None:
    browser = _operator_browser(operator)
    page = _act_as(browser, tenant_a, member_a, reason=reason)
    assert page.status_code == 400
    assert "This field is required." in page.content.decode() or "Say why" in page.content.decode()
    assert not Impersonation.objects.exists()
    assert not _events(tenant_a, "operator.impersonation")


def test_someone_who_is_not_a_member_there_cannot_be_chosen(
    operator: User, tenant_a: Tenant, owner_b: User
) -> None:
    page = _act_as(_operator_browser(operator), tenant_a, owner_b)
    assert page.status_code == 400
    assert not Impersonation.objects.exists()


def test_owners_who_switched_operator_access_off_refuse_it(
    operator: User, tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    operator_access_set(tenant=tenant_a, by=owner_a, allowed=False)
    browser = _operator_browser(operator)
    page = _act_as(browser, tenant_a, member_a)
    assert page.status_code == 403
    assert "switched off operator access" in page.content.decode()
    assert not Impersonation.objects.exists()
    refused = _events(tenant_a, "operator.impersonation_refused")
    assert len(refused) == 1 and refused[0].changes["reason"] == [None, REASON]
    assert not browser.cookie(host_of(tenant_a), settings.SESSION_COOKIE_NAME)


def test_only_owners_switch_operator_access(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    admin = User.objects.create_user(email="admin@alpha.test", password="x-Long-passphrase-9")
    Membership.objects.create(user=admin, tenant=tenant_a, role=Role.ADMIN)
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(admin)
    client.post("/settings/security/operator-access/", {})
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)
    page = owner.get("/settings/security/").content.decode()
    assert 'id="id_operator_access_allowed" checked' in page  # still on
    owner.post("/settings/security/operator-access/", {})
    page = owner.get("/settings/security/").content.decode()
    assert 'id="id_operator_access_allowed">' in page  # now off
    rows = _events(tenant_a, "security_settings.updated")
    assert [r.changes for r in rows] == [{"operator_access_allowed": [True, False]}]
    assert rows[0].actor_id == owner_a.pk


def test_an_organization_requiring_sso_still_lets_an_operator_act_as_a_member(
    operator: User, tenant_a: Tenant, member_a: User
) -> None:
    """Its "SSO required" wall keeps members' own password sign-ins out, not an operator's
    entry, which has its own rules; a member's password sign-in is still refused."""
    SecuritySettings.objects.update_or_create(tenant=tenant_a, defaults={"sso_required": True})
    browser = _acting(operator, tenant_a, member_a)
    assert browser.client(host_of(tenant_a)).get("/contacts/").wsgi_request.user == member_a
    own = Browser()
    own.post(
        f"http://{host_of(tenant_a)}/accounts/login/",
        {"login": member_a.email, "password": PASSWORD},
    )
    assert not own.client(host_of(tenant_a)).get("/contacts/").wsgi_request.user.is_authenticated


# While acting -----------------------------------------------------------------------------


def _contact_created(browser: Browser, tenant: Tenant) -> int:
    client = browser.client(host_of(tenant))
    response = client.post("/contacts/new/", {"first_name": "Grace", "last_name": "Hopper"})
    assert response.status_code == 302, response.content[:500]
    found = re.search(r"/contacts/(\d+)/", response["Location"])
    assert found, response["Location"]
    return int(found.group(1))


def test_changes_while_acting_are_logged_through_operator_naming_the_operator(
    operator: User, tenant_a: Tenant, member_a: User
) -> None:
    browser = _acting(operator, tenant_a, member_a)
    pk = _contact_created(browser, tenant_a)
    edited = browser.client(host_of(tenant_a)).post(
        f"/contacts/{pk}/edit/", {"first_name": "Grace", "last_name": "Brewster"}
    )
    assert edited.status_code == 302
    rows = [r for r in _events(tenant_a) if r.action.startswith("contact.")]
    assert [r.action for r in rows] == ["contact.created", "contact.updated"]
    for row in rows:
        assert row.via == "operator"
        assert row.actor_id == member_a.pk
        assert row.actor_label == "ops@mycrm.test as member@alpha.test"
    assert rows[1].target_id == str(pk)


def test_signing_out_ends_it(operator: User, tenant_a: Tenant, member_a: User) -> None:
    browser = _acting(operator, tenant_a, member_a)
    browser.post(f"http://{host_of(tenant_a)}/accounts/logout/", {})
    assert Impersonation.objects.get().end_reason == Impersonation.EndReason.SIGNED_OUT
    assert len(_events(tenant_a, "operator.impersonation_ended")) == 1


def test_end_signs_out_and_is_logged(operator: User, tenant_a: Tenant, member_a: User) -> None:
    browser = _acting(operator, tenant_a, member_a)
    ended = browser.post(f"http://{host_of(tenant_a)}/auth/handoff/operator/end/", {})
    assert urlsplit(browser.url).hostname == settings.BASE_DOMAIN  # back in the operator admin
    assert ended.status_code == 200
    again = browser.client(host_of(tenant_a)).get("/contacts/")
    assert again.status_code == 302 and "/accounts/login/" in again["Location"]
    row = Impersonation.objects.get()
    assert row.ended_at is not None and row.end_reason == Impersonation.EndReason.ENDED
    actions = [r.action for r in _events(tenant_a)]
    assert actions.index("operator.impersonation_started") < actions.index(
        "operator.impersonation_ended"
    )
    end = _events(tenant_a, "operator.impersonation_ended")[0]
    assert end.actor_id == operator.pk and end.via == "operator"
    assert end.changes["ended"] == [None, "ended by the operator"]


def test_the_time_limit_ends_it(operator: User, tenant_a: Tenant, member_a: User) -> None:
    browser = _acting(operator, tenant_a, member_a)
    Impersonation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    page = browser.client(host_of(tenant_a)).get("/contacts/")
    assert page.status_code == 200
    assert "time limit" in page.content.decode()
    assert not page.wsgi_request.user.is_authenticated
    assert Impersonation.objects.get().end_reason == Impersonation.EndReason.EXPIRED
    assert len(_events(tenant_a, "operator.impersonation_ended")) == 1
    api = browser.client(host_of(tenant_a)).get("/api/v1/contacts/")
    assert api.status_code in (401, 403)


def test_the_sweep_ends_and_logs_impersonations_nobody_ended(
    operator: User, tenant_a: Tenant, member_a: User
) -> None:
    impersonation_start(tenant=tenant_a, operator=operator, member_id=member_a.pk, reason=REASON)
    assert impersonations_expire() == 0  # still within its limit
    Impersonation.objects.update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert impersonations_expire_due.apply().get() == 1  # the beat entry's task
    assert impersonations_expire() == 0
    ended = _events(tenant_a, "operator.impersonation_ended")
    assert len(ended) == 1 and ended[0].changes["ended"] == [None, "time limit reached"]


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/settings/api-tokens/", {"name": "mine", "expiry": "30"}),
        ("post", "/api/v1/api-tokens/", {"name": "mine"}),
        ("get", "/accounts/password/change/", {}),
        ("post", "/accounts/password/change/", {"oldpassword": "x", "password1": "y"}),
        ("get", "/accounts/2fa/", {}),
        ("post", "/accounts/login/", {"login": "owner@alpha.test", "password": PASSWORD}),
        ("post", "/account/security/sessions/end-all/", {}),
        ("post", "/settings/billing/cancel/", {}),
        ("post", "/settings/security/", {"session_idle_minutes": "30"}),
        ("post", "/settings/security/operator-access/", {}),
        ("get", "/auth/handoff/issue/?state=" + "a" * 64, {}),
    ],
)
def test_sensitive_actions_are_refused_while_acting(
    operator: User, tenant_a: Tenant, member_a: User, method: str, path: str, data: dict[str, str]
) -> None:
    browser = _acting(operator, tenant_a, member_a)
    client = browser.client(host_of(tenant_a))
    tokens = ApiToken.objects.count()
    response = getattr(client, method)(path, data)
    assert response.status_code == 403
    assert ApiToken.objects.count() == tokens
    assert client.get("/contacts/").wsgi_request.user == member_a  # still acting


def test_a_role_change_is_refused_while_acting_as_an_owner(
    operator: User, tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    browser = _acting(operator, tenant_a, owner_a)
    client = browser.client(host_of(tenant_a))
    membership = Membership.objects.get(tenant=tenant_a, user=member_a)
    response = client.post(f"/settings/members/{member_a.pk}/role/", {"role": "admin"})
    assert response.status_code == 403
    assert "change members and their roles" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER
    api = client.patch(
        f"/api/v1/members/{member_a.pk}/", {"role": "owner"}, content_type="application/json"
    )
    assert api.status_code == 403 and api["Content-Type"] == "application/problem+json"


def test_organization_policies_see_the_operator_channel(
    operator: User, tenant_a: Tenant, owner_a: User
) -> None:
    """The decision point's principal says "operator", so an organization's own policy can
    keep operators from what its members may do."""
    policy_create(
        tenant=tenant_a,
        by=owner_a,
        name="Operators delete no contacts",
        source=(
            'forbid (principal, action == MyCRM::Action::"delete", resource is MyCRM::Contact)'
            ' when { context.via == "operator" };'
        ),
    )
    browser = _acting(operator, tenant_a, owner_a)
    pk = _contact_created(browser, tenant_a)
    refused = browser.client(host_of(tenant_a)).post(f"/contacts/{pk}/delete/")
    assert refused.status_code == 403
    assert "Operators delete no contacts" in refused.content.decode()
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)
    assert owner.post(f"/contacts/{pk}/delete/").status_code == 302  # the owner may


def test_owners_switching_operator_access_off_end_an_open_impersonation(
    operator: User, tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    browser = _acting(operator, tenant_a, member_a)
    operator_access_set(tenant=tenant_a, by=owner_a, allowed=False)
    page = browser.client(host_of(tenant_a)).get("/contacts/")
    assert "has ended" in page.content.decode()
    assert not page.wsgi_request.user.is_authenticated
    row = Impersonation.objects.get()
    assert row.end_reason == Impersonation.EndReason.REFUSED
    ended = _events(tenant_a, "operator.impersonation_ended")
    assert ended[0].changes["ended"] == [None, "operator access switched off"]


# Isolation --------------------------------------------------------------------------------


def test_a_session_acting_at_a_is_refused_at_b(
    operator: User, tenant_a: Tenant, tenant_b: Tenant, member_a: User
) -> None:
    """A session cookie that reaches another host (a parent-domain cookie) opens nothing
    there, even for someone who is a member of both, and ends the impersonation."""
    Membership.objects.create(user=member_a, tenant=tenant_b, role=Role.MEMBER)
    browser = _acting(operator, tenant_a, member_a)
    cookie = browser.cookie(host_of(tenant_a), settings.SESSION_COOKIE_NAME)
    assert cookie
    at_b = Client(HTTP_HOST=host_of(tenant_b))
    at_b.cookies[settings.SESSION_COOKIE_NAME] = cookie
    response = at_b.get("/contacts/")
    assert response.status_code == 403
    assert not response.wsgi_request.user.is_authenticated
    on_public = Client(HTTP_HOST=settings.BASE_DOMAIN)
    on_public.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert not on_public.get("/workspaces/").wsgi_request.user.is_authenticated
    assert Impersonation.objects.get().ended_at is not None
    assert not _events(tenant_b, "operator.")


def test_a_link_for_a_is_useless_at_b(
    operator: User, tenant_a: Tenant, tenant_b: Tenant, member_a: User
) -> None:
    Membership.objects.create(user=member_a, tenant=tenant_b, role=Role.MEMBER)
    row = impersonation_start(
        tenant=tenant_a, operator=operator, member_id=member_a.pk, reason=REASON
    )
    browser = _operator_browser(operator)
    # Stop at the link: take its token to b's host, in the same browser.
    browser.get(
        f"http://{host_of(tenant_a)}/auth/handoff/operator/start/?impersonation={row.pk}",
        until=lambda url: "token=" in url,
    )
    link = urlsplit(browser.url)
    refused = browser.get(f"http://{host_of(tenant_b)}/auth/handoff/operator/?{link.query}")
    assert refused.status_code == 400
    assert not refused.wsgi_request.user.is_authenticated
    row.refresh_from_db()
    assert row.entered_at is None


def test_a_link_is_for_the_operator_who_started_it_and_works_once(
    operator: User, tenant_a: Tenant, member_a: User
) -> None:
    row = impersonation_start(
        tenant=tenant_a, operator=operator, member_id=member_a.pk, reason=REASON
    )
    other = _operator_browser(_staff("other-ops@mycrm.test", may_impersonate=True))
    start = f"http://{host_of(tenant_a)}/auth/handoff/operator/start/?impersonation={row.pk}"
    assert other.get(start).status_code == 400
    mine = _operator_browser(operator)
    mine.get(start, until=lambda url: "token=" in url)
    link = mine.url
    assert mine.get(link).wsgi_request.user == member_a
    mine.client(host_of(tenant_a)).logout()
    assert mine.get(link).status_code == 400
    stranger = Browser()  # without the nonce this browser was given
    assert stranger.get(link).status_code == 400


def test_owners_see_the_latest_operator_visits_in_security_settings(
    operator: User, tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    member_b = Membership.objects.filter(tenant=tenant_b, role=Role.MEMBER).get().user
    impersonation_start(tenant=tenant_b, operator=operator, member_id=member_b.pk, reason=REASON)
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)
    assert 'data-testid="operator-visits"' not in owner.get("/settings/security/").content.decode()
    other = Client(HTTP_HOST=host_of(tenant_b))
    other.force_login(owner_b)
    page = other.get("/settings/security/").content.decode()
    assert 'data-testid="operator-visits"' in page
    assert REASON in page and "ops@mycrm.test" in page and member_b.email in page


def test_an_owner_of_a_cannot_switch_operator_access_of_b(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(owner_a)
    assert client.post("/settings/security/operator-access/", {}).status_code == 403
    assert not SecuritySettings.objects.filter(tenant=tenant_b).exists()
    assert not _events(tenant_b, "security_settings.")


def test_the_operator_admin_lists_impersonations(
    operator: User, tenant_a: Tenant, member_a: User
) -> None:
    impersonation_start(tenant=tenant_a, operator=operator, member_id=member_a.pk, reason=REASON)
    superuser = User.objects.create_superuser(email="root@mycrm.test", password="x-Long-pass-9")
    client = Client(HTTP_HOST=settings.BASE_DOMAIN)
    client.force_login(superuser)
    page = client.get("/admin/iam_impersonation/impersonation/")
    assert page.status_code == 200
    assert (
        "ops@mycrm.test" in page.content.decode() and "member@alpha.test" in page.content.decode()
    )


def test_owners_see_the_rows_with_operator_and_reason_on_the_audit_page(
    operator: User, tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    browser = _acting(operator, tenant_a, member_a)
    _contact_created(browser, tenant_a)
    browser.post(f"http://{host_of(tenant_a)}/auth/handoff/operator/end/", {})
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)
    page = owner.get("/settings/audit/").content.decode()
    for text in (
        "operator.impersonation_started",
        "operator.impersonation_ended",
        REASON,
        "ops@mycrm.test as member@alpha.test",
        "ops@mycrm.test",
    ):
        assert text in page, text
