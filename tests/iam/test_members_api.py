"""The members and invitations API: owners and admins manage people through the same
services as the Members page, with problem+json errors, and never reach another
organization's people."""

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from iam.models import ApiToken, Invitation, Membership, Role, User
from iam.services import invitation_create
from tenants.models import Tenant
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


def test_an_owner_lists_members_and_changes_a_role(
    owner_api: Client, tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    listed = owner_api.get("/api/v1/members/")
    assert listed.status_code == 200
    people = {m["email"]: m for m in listed.json()["results"]}
    assert set(people) == {owner_a.email, member_a.email}
    assert people[owner_a.email]["role"] == "owner"
    assert set(people[member_a.email]) == {
        "id",
        "email",
        "full_name",
        "role",
        "joined_at",
        "active",
        "deactivated_at",
        "managed_by_identity_provider",
    }
    assert people[member_a.email]["active"] is True

    pk = people[member_a.email]["id"]
    changed = owner_api.patch(
        f"/api/v1/members/{pk}/", {"role": "admin"}, content_type="application/json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["role"] == "admin"
    assert Membership.objects.get(pk=pk).role == Role.ADMIN

    bad = owner_api.patch(
        f"/api/v1/members/{pk}/", {"role": "emperor"}, content_type="application/json"
    )
    assert bad.status_code == 400
    assert bad["Content-Type"] == "application/problem+json"
    assert "role" in bad.json()["errors"]
    assert owner_api.put(f"/api/v1/members/{pk}/", {"role": "member"}).status_code == 405


def test_the_last_owner_can_neither_step_down_nor_be_removed(
    owner_api: Client, tenant_a: Tenant, owner_a: User
) -> None:
    pk = Membership.objects.get(user=owner_a, tenant=tenant_a).pk
    demoted = owner_api.patch(
        f"/api/v1/members/{pk}/", {"role": "member"}, content_type="application/json"
    )
    assert demoted.status_code == 409
    assert demoted.json()["code"] == "last-owner"
    removed = owner_api.delete(f"/api/v1/members/{pk}/")
    assert removed.status_code == 409
    assert Membership.objects.get(pk=pk).role == Role.OWNER


def test_removing_a_member_ends_their_access_and_revokes_their_tokens(
    owner_api: Client, tenant_a: Tenant, member_a: User
) -> None:
    member_api = token_client(member_a, tenant_a)
    assert member_api.get("/api/v1/contacts/").status_code == 200
    pk = Membership.objects.get(user=member_a, tenant=tenant_a).pk
    assert owner_api.delete(f"/api/v1/members/{pk}/").status_code == 204
    assert not Membership.objects.filter(pk=pk).exists()
    assert not ApiToken.objects.filter(user=member_a, tenant=tenant_a, revoked_at=None).exists()
    assert member_api.get("/api/v1/contacts/").status_code == 401


def test_members_get_403_and_admins_cannot_touch_owners(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    member_api = token_client(member_a, tenant_a)
    for response in (
        member_api.get("/api/v1/members/"),
        member_api.get("/api/v1/invitations/"),
        member_api.post(
            "/api/v1/invitations/", {"email": "x@x.test"}, content_type="application/json"
        ),
    ):
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
    assert not Invitation.objects.filter(tenant=tenant_a).exists()

    Membership.objects.filter(user=member_a, tenant=tenant_a).update(role=Role.ADMIN)
    owner_pk = Membership.objects.get(user=owner_a, tenant=tenant_a).pk
    demote = member_api.patch(
        f"/api/v1/members/{owner_pk}/", {"role": "member"}, content_type="application/json"
    )
    assert demote.status_code == 403
    assert demote.json()["code"] == "not-allowed"
    assert member_api.delete(f"/api/v1/members/{owner_pk}/").status_code == 403
    assert Membership.objects.get(pk=owner_pk).role == Role.OWNER


def test_an_admin_invites_by_email_and_withdraws_the_invitation(
    owner_api: Client, tenant_a: Tenant, member_a: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        made = owner_api.post(
            "/api/v1/invitations/",
            {"email": " New.Person@Example.test ", "role": "admin"},
            content_type="application/json",
        )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["email"], body["role"]) == ("new.person@example.test", "admin")
    assert "link" not in body and "digest" not in body  # the link goes to the inbox only
    assert mail.outbox[-1].to == ["new.person@example.test"]
    assert [i["id"] for i in owner_api.get("/api/v1/invitations/").json()["results"]] == [
        body["id"]
    ]

    again = owner_api.post(
        "/api/v1/invitations/", {"email": member_a.email}, content_type="application/json"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already-a-member"
    owner_role = owner_api.post(
        "/api/v1/invitations/",
        {"email": "boss@x.test", "role": "owner"},
        content_type="application/json",
    )
    assert owner_role.status_code == 400
    assert "role" in owner_role.json()["errors"]

    assert owner_api.delete(f"/api/v1/invitations/{body['id']}/").status_code == 204
    assert Invitation.objects.get(pk=body["id"]).revoked_at is not None
    assert owner_api.get("/api/v1/invitations/").json()["results"] == []
    assert owner_api.delete(f"/api/v1/invitations/{body['id']}/").status_code == 404


def test_another_organizations_people_are_out_of_reach(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User, member_a: User
) -> None:
    invitation, _ = invitation_create(tenant=tenant_a, by=owner_a, email="only@alpha.test")
    member_pk = Membership.objects.get(user=member_a, tenant=tenant_a).pk
    b_api = token_client(owner_b, tenant_b)
    listed = {m["email"] for m in b_api.get("/api/v1/members/").json()["results"]}
    assert listed == set(
        Membership.objects.filter(tenant=tenant_b).values_list("user__email", flat=True)
    )
    assert owner_b.email in listed and not {owner_a.email, member_a.email} & listed
    assert b_api.get("/api/v1/invitations/").json()["results"] == []
    assert b_api.get(f"/api/v1/members/{member_pk}/").status_code == 404
    assert (
        b_api.patch(
            f"/api/v1/members/{member_pk}/", {"role": "admin"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert b_api.delete(f"/api/v1/members/{member_pk}/").status_code == 404
    assert b_api.delete(f"/api/v1/invitations/{invitation.pk}/").status_code == 404
    assert Membership.objects.get(pk=member_pk).role == Role.MEMBER
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    # A's token at B's host is not accepted at all.
    a_token_at_b = token_client(owner_a, tenant_a, host=tenant_b)
    assert a_token_at_b.get("/api/v1/members/").status_code == 401


def test_invitations_are_limited_per_hour(owner_api: Client, tenant_a: Tenant) -> None:
    def invite(n: int) -> int:
        return owner_api.post(
            "/api/v1/invitations/", {"email": f"p{n}@x.test"}, content_type="application/json"
        ).status_code

    assert [invite(n) for n in range(50)] == [201] * 50
    limited = owner_api.post(
        "/api/v1/invitations/", {"email": "one-more@x.test"}, content_type="application/json"
    )
    assert limited.status_code == 429
    assert limited["Content-Type"] == "application/problem+json"
    assert not Invitation.objects.filter(tenant=tenant_a, email="one-more@x.test").exists()
    assert owner_api.get("/api/v1/invitations/").status_code == 200  # reads are not limited
