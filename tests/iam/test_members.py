"""Inviting and managing people: owners and admins send a one-time link by e-mail; the
invited person joins with their existing account or makes one; links are single-use, expire,
can be withdrawn, and open only the organization that sent them. Admins change roles and
remove members, whose access and tokens end at once."""

import datetime as dt
import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone

from iam.exceptions import (
    AlreadyMember,
    InvitationForSomeoneElse,
    InvitationInvalid,
    LastOwner,
    NotAllowed,
)
from iam.models import Invitation, Membership, User
from iam.services import (
    api_token_create,
    invitation_accept,
    invitation_create,
    invitation_revoke,
    membership_remove,
    membership_role_change,
    user_create,
)
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of
from tests.support.connections import (
    assert_second_waits_for_first,
    committed_organization,
    run_on_own_connection,
)

pytestmark = pytest.mark.django_db

PASSWORD = "pl3nty-of-Entropy-here"
_LINK = re.compile(r"http://localhost:8000(/invitations/[^/\s]+/)")


@pytest.fixture
def owner_client(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


def _mailed_path(django_capture_on_commit_callbacks: Any, send: Any) -> str:
    """Run `send` and return the path of the link in the invitation it e-mails."""
    with django_capture_on_commit_callbacks(execute=True):
        send()
    found = _LINK.search(mail.outbox[-1].body)
    assert found, mail.outbox[-1].body
    return found.group(1)


def test_an_owner_invites_by_email_from_the_members_page(
    owner_client: Client, tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    assert owner_client.get("/settings/members/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/settings/members/", {"email": "New.Person@Example.test", "role": "admin"}
        )
    assert response.status_code == 302
    invitation = Invitation.objects.get(tenant=tenant_a)
    assert (invitation.email, invitation.role) == ("new.person@example.test", "admin")
    assert mail.outbox[0].to == ["new.person@example.test"]
    assert "Alpha Inc" in mail.outbox[0].subject
    assert _LINK.search(mail.outbox[0].body)  # on the public site's canonical host
    assert len(invitation.digest) == 64 and invitation.digest not in mail.outbox[0].body
    assert b"new.person@example.test" in owner_client.get("/settings/members/").content


def test_a_new_person_makes_an_account_and_lands_in_the_workspace(
    tenant_a: Tenant, owner_a: User, public_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    path = _mailed_path(
        django_capture_on_commit_callbacks,
        lambda: invitation_create(tenant=tenant_a, by=owner_a, email="nia@new.test"),
    )
    page = public_client.get(path)
    assert page.status_code == 200 and b"Create account and join" in page.content
    response = public_client.post(path, {"full_name": "Nia New", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("http://alpha.localhost:8000/auth/handoff/")
    nia = User.objects.get(email="nia@new.test")
    assert Membership.objects.get(user=nia, tenant=tenant_a).role == "member"
    assert EmailAddress.objects.get(user=nia).verified  # the link reached that inbox
    assert public_client.get(path).status_code == 400  # used up


def test_an_existing_user_signs_in_and_joins(
    tenant_a: Tenant, owner_a: User, owner_b: User, django_capture_on_commit_callbacks: Any
) -> None:
    path = _mailed_path(
        django_capture_on_commit_callbacks,
        lambda: invitation_create(tenant=tenant_a, by=owner_a, email=owner_b.email, role="admin"),
    )
    anonymous = Client(HTTP_HOST="localhost")
    assert b"Sign in to accept" in anonymous.get(path).content
    signed_in = Client(HTTP_HOST="localhost")
    signed_in.force_login(owner_b)
    assert signed_in.post(path).status_code == 302
    assert Membership.objects.get(user=owner_b, tenant=tenant_a).role == "admin"


def test_someone_else_cannot_use_the_link(
    tenant_a: Tenant, owner_a: User, member_a: User, owner_b: User
) -> None:
    _, link = invitation_create(tenant=tenant_a, by=owner_a, email="invited@x.test")
    raw = link.rstrip("/").rsplit("/", 1)[1]
    with pytest.raises(InvitationForSomeoneElse):
        invitation_accept(raw=raw, user=owner_b)
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner_b)
    page = client.get(f"/invitations/{raw}/")
    assert b"this invitation is for" in page.content
    assert client.post(f"/invitations/{raw}/").status_code == 403
    assert not Membership.objects.filter(user=owner_b, tenant=tenant_a).exists()


def test_expired_withdrawn_and_replaced_links_are_refused(tenant_a: Tenant, owner_a: User) -> None:
    _, first = invitation_create(tenant=tenant_a, by=owner_a, email="late@x.test")
    _, second = invitation_create(tenant=tenant_a, by=owner_a, email="late@x.test")
    late = user_create(email="late@x.test", password=PASSWORD)
    with pytest.raises(InvitationInvalid):  # replaced by the second
        invitation_accept(raw=first.rsplit("/", 2)[1], user=late)
    invitation = Invitation.objects.get(tenant=tenant_a, revoked_at=None)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(InvitationInvalid):
        invitation_accept(raw=second.rsplit("/", 2)[1], user=late)
    _, third = invitation_create(tenant=tenant_a, by=owner_a, email="late@x.test")
    invitation_revoke(
        invitation=Invitation.objects.get(tenant=tenant_a, revoked_at=None), by=owner_a
    )
    assert Client(HTTP_HOST="localhost").get(third.split("8000")[1]).status_code == 400
    assert not Membership.objects.filter(user=late).exists()


def test_members_cannot_invite_and_members_are_not_invited_twice(
    tenant_a: Tenant, member_a: User, owner_a: User, client_a: Client
) -> None:
    with pytest.raises(NotAllowed):
        invitation_create(tenant=tenant_a, by=member_a, email="x@x.test")
    assert client_a.get("/settings/members/").status_code == 403
    assert client_a.post("/settings/members/", {"email": "x@x.test"}).status_code == 403
    with pytest.raises(AlreadyMember):
        invitation_create(tenant=tenant_a, by=owner_a, email=member_a.email.upper())
    with pytest.raises(InvalidFields) as caught:
        invitation_create(tenant=tenant_a, by=owner_a, email="not-an-address", role="owner")
    assert set(caught.value.field_errors()) == {"email", "role"}
    assert not Invitation.objects.filter(tenant=tenant_a).exists()


def test_another_organizations_admin_can_neither_see_nor_withdraw_an_invitation(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    invitation, _ = invitation_create(tenant=tenant_a, by=owner_a, email="only@alpha.test")
    client_b = Client(HTTP_HOST=host_of(tenant_b))
    client_b.force_login(owner_b)
    assert b"only@alpha.test" not in client_b.get("/settings/members/").content
    response = client_b.post(f"/settings/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 404  # the same answer as for one that doesn't exist
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    with pytest.raises(NotAllowed):
        invitation_revoke(invitation=invitation, by=owner_b)


def test_an_owner_withdraws_an_invitation_from_the_page(
    owner_client: Client, tenant_a: Tenant, owner_a: User
) -> None:
    invitation, _ = invitation_create(tenant=tenant_a, by=owner_a, email="gone@x.test")
    response = owner_client.post(f"/settings/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    page = owner_client.get("/settings/members/")
    assert b"The invitation to gone@x.test was withdrawn." in page.content
    assert list(page.context["invitations"]) == []


def test_an_admin_changes_a_role_and_removes_a_member_whose_access_and_tokens_end(
    owner_client: Client, tenant_a: Tenant, member_a: User, client_a: Client
) -> None:
    membership = Membership.objects.get(user=member_a, tenant=tenant_a)
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="script")
    token_client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert token_client.get("/api/v1/contacts/").status_code == 200

    owner_client.post(f"/settings/members/{membership.pk}/role/", {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == "admin"
    assert client_a.get("/settings/members/").status_code == 200  # now an admin

    response = owner_client.post(f"/settings/members/{membership.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert client_a.get("/contacts/").status_code == 403  # the same session, no way in
    assert token_client.get("/api/v1/contacts/").status_code == 401  # the token is revoked


def _member_row(page: str, email: str) -> str:
    """The Members table's row of `email`, as HTML."""
    rows = re.findall(r"<tr\b.*?</tr>", page, re.DOTALL)
    (row,) = [r for r in rows if f">{email}</td>" in r]
    return row


def test_a_role_changes_only_when_saved_not_when_the_list_is_moved(
    owner_client: Client, tenant_a: Tenant, member_a: User
) -> None:
    row = _member_row(owner_client.get("/settings/members/").content.decode(), member_a.email)
    select = re.search(r"<select\b[^>]*>", row)
    assert select is not None and "onchange" not in select.group(0)
    assert re.search(r"<button type=\"submit\"[^>]*>Save</button>", row)
    assert "<noscript>" not in row
    membership = Membership.objects.get(user=member_a, tenant=tenant_a)
    owner_client.post(f"/settings/members/{membership.pk}/role/", {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == "admin"


def test_the_only_owner_is_offered_no_role_change_and_no_removal(
    owner_client: Client, tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    page = owner_client.get("/settings/members/").content.decode()
    own = _member_row(page, owner_a.email)
    assert "<select" not in own and "/remove/" not in own
    assert "The only owner" in own
    other = _member_row(page, member_a.email)
    assert "<select" in other and "/remove/" in other
    assert '<option value="owner"' in other  # an owner hands ownership over from here

    Membership.objects.filter(user=member_a, tenant=tenant_a).update(role="owner")
    page = owner_client.get("/settings/members/").content.decode()
    for email in (owner_a.email, member_a.email):  # two owners: either may step down
        row = _member_row(page, email)
        assert "<select" in row and "/remove/" in row and "The only owner" not in row


def test_an_admin_is_offered_nothing_on_an_owner_and_no_owner_role(
    tenant_a: Tenant, owner_a: User, member_a: User, client_a: Client
) -> None:
    Membership.objects.filter(user=member_a, tenant=tenant_a).update(role="admin")
    page = client_a.get("/settings/members/").content.decode()
    owner = _member_row(page, owner_a.email)
    assert "<select" not in owner and "/remove/" not in owner
    own = _member_row(page, member_a.email)  # an admin may step down or leave
    assert "<select" in own and '<option value="owner"' not in own
    assert ">Leave</button>" in own


def test_ownership_is_handed_over_but_an_organization_keeps_an_owner(
    owner_client: Client, tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    owner = Membership.objects.get(user=owner_a, tenant=tenant_a)
    with pytest.raises(LastOwner):
        membership_role_change(membership=owner, by=owner_a, role="admin")
    page = owner_client.post(f"/settings/members/{owner.pk}/remove/", follow=True)
    assert b"needs at least one owner" in page.content
    other = Membership.objects.get(user=member_a, tenant=tenant_a)
    owner_client.post(f"/settings/members/{other.pk}/role/", {"role": "owner"})
    other.refresh_from_db()
    assert other.role == "owner"
    membership_role_change(membership=owner, by=owner_a, role="admin")  # steps down
    owner.refresh_from_db()
    assert owner.role == "admin"
    with pytest.raises(NotAllowed):  # an admin now: owners are out of reach
        membership_remove(membership=other, by=owner_a)
    with pytest.raises(LastOwner):
        membership_remove(membership=other, by=member_a)


def test_admins_and_members_cannot_make_owners_or_touch_them(
    tenant_a: Tenant, owner_a: User, member_a: User, client_a: Client
) -> None:
    owner = Membership.objects.get(user=owner_a, tenant=tenant_a)
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    assert client_a.post(f"/settings/members/{owner.pk}/remove/").status_code == 403
    with pytest.raises(NotAllowed):
        membership_remove(membership=owner, by=member_a)
    membership_role_change(membership=mine, by=owner_a, role="admin")
    with pytest.raises(NotAllowed):  # only owners make owners
        membership_role_change(membership=mine, by=member_a, role="owner")
    with pytest.raises(NotAllowed):
        membership_role_change(membership=owner, by=member_a, role="member")
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_another_organizations_admin_cannot_touch_a_membership(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User, member_a: User
) -> None:
    membership = Membership.objects.get(user=member_a, tenant=tenant_a)
    client_b = Client(HTTP_HOST=host_of(tenant_b))
    client_b.force_login(owner_b)
    assert client_b.post(f"/settings/members/{membership.pk}/remove/").status_code == 404
    assert (
        client_b.post(f"/settings/members/{membership.pk}/role/", {"role": "admin"}).status_code
        == 404
    )
    with pytest.raises(NotAllowed):
        membership_remove(membership=membership, by=owner_b)
    assert Membership.objects.filter(pk=membership.pk, role="member").exists()


def test_two_owners_stepping_down_at_once_leave_one_owner() -> None:
    """The first owner steps down and holds the transaction open; the second, stepping down
    meanwhile, waits for the owners' lock and then finds itself the last owner. Both commit
    on connections of their own, in an organization made for the test."""
    made: dict[str, Any] = {}

    def second_owner(tenant: Tenant) -> None:
        made["other"] = user_create(email=f"other@{tenant.slug}.test", password=PASSWORD)
        Membership.objects.create(user=made["other"], tenant=tenant, role="owner")

    with committed_organization("owners", prepare=second_owner) as tenant:
        first_owner = Membership.objects.get(tenant=tenant, user__email__startswith="owner@")

        def first(hold: Any) -> None:
            with transaction.atomic():
                membership_role_change(membership=first_owner, by=first_owner.user, role="admin")
                hold()

        def second() -> None:
            theirs = Membership.objects.get(tenant=tenant, user=made["other"])
            try:
                membership_role_change(membership=theirs, by=made["other"], role="admin")
                made["second"] = "stepped down"
            except LastOwner:
                made["second"] = "last owner"

        def owners() -> None:
            made["owners"] = list(
                Membership.objects.filter(tenant=tenant, role="owner").values_list(
                    "user__email", flat=True
                )
            )

        try:
            assert_second_waits_for_first(first, second)
            run_on_own_connection(owners)
        finally:
            for user in User.objects.filter(email=f"other@{tenant.slug}.test"):
                run_on_own_connection(user.delete)
    assert made["second"] == "last owner"
    assert made["owners"] == [f"other@{tenant.slug}.test"]


def test_a_member_leaves_from_their_workspaces_but_the_last_owner_cannot(
    tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="script")
    member = Client(HTTP_HOST="localhost")
    member.force_login(member_a)
    page = member.post("/workspaces/alpha/leave/", follow=True)
    assert b"You left Alpha Inc." in page.content
    assert not Membership.objects.filter(user=member_a, tenant=tenant_a).exists()
    token_client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert token_client.get("/api/v1/contacts/").status_code == 401
    assert member.post("/workspaces/alpha/leave/").status_code == 404  # not a member now

    owner = Client(HTTP_HOST="localhost")
    owner.force_login(owner_a)
    refused = owner.post("/workspaces/alpha/leave/", follow=True)
    assert b"needs at least one owner" in refused.content
    assert Membership.objects.filter(user=owner_a, tenant=tenant_a, role="owner").exists()


def test_leaving_needs_a_signed_in_post(tenant_a: Tenant, member_a: User) -> None:
    assert Client(HTTP_HOST="localhost").post("/workspaces/alpha/leave/").status_code == 302
    member = Client(HTTP_HOST="localhost")
    member.force_login(member_a)
    assert member.get("/workspaces/alpha/leave/").status_code == 405
    assert Membership.objects.filter(user=member_a, tenant=tenant_a).exists()
