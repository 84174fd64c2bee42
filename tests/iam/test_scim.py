"""SCIM 2.0 at /scim/v2/: an organization's identity provider creates, updates, switches off
and removes members and keeps teams in step, with the organization's SCIM token only.
"""

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django_tenants.utils import tenant_context

from billing.models import Plan, Subscription
from iam.models import ApiToken, Membership, Role, Team, TeamMember, User
from iam.org.models import AuditEvent
from iam.scim.models import ScimProfile, ScimToken
from iam.scim.services import scim_token_create
from iam.services import api_token_create
from tenants.models import Tenant
from tenants.routing import forget_all_hosts
from tests.conftest import host_of, token_client

pytestmark = pytest.mark.django_db

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class Scim:
    """A SCIM client of one organization's token, calling `host`'s host name."""

    def __init__(self, tenant: Tenant, *, host: Tenant | None = None, raw: str = "") -> None:
        if not raw:
            _, raw = scim_token_create(tenant=tenant, by=None, name="IdP")
        self.raw = raw
        self.client = Client(HTTP_HOST=host_of(host or tenant), HTTP_AUTHORIZATION=f"Bearer {raw}")

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/scim/v2/{path}", params)

    def send(self, method: str, path: str, body: Any) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return getattr(self.client, method)(f"/scim/v2/{path}", data, content_type=SCIM)

    def post(self, path: str, body: Any) -> Any:
        return self.send("post", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.send("put", path, body)

    def patch(self, path: str, *operations: dict[str, Any]) -> Any:
        return self.send("patch", path, {"schemas": [PATCH], "Operations": list(operations)})

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/scim/v2/{path}")


@pytest.fixture
def scim_a(tenant_a: Tenant) -> Scim:
    return Scim(tenant_a)


def _error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == SCIM
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def _new_user(email: str = "ada@example.org", **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": True,
        **extra,
    }


def _membership(tenant: Tenant, user: User) -> Membership:
    return Membership.objects.get(tenant=tenant, user=user)


def _audited(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action, via="scim"))


# Authentication and isolation ---------------------------------------------------------------


def test_without_a_token_every_endpoint_answers_401_as_a_scim_error(tenant_a: Tenant) -> None:
    anonymous = Client(HTTP_HOST=host_of(tenant_a))
    for path in ("ServiceProviderConfig", "Users", "Groups", "Schemas"):
        response = anonymous.get(f"/scim/v2/{path}")
        _error(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_of_a_at_b_host_is_401(tenant_a: Tenant, tenant_b: Tenant) -> None:
    a_at_b = Scim(tenant_a, host=tenant_b)
    _error(a_at_b.get("Users"), 401)
    _error(a_at_b.post("Users", _new_user()), 401)
    assert not User.objects.filter(email="ada@example.org").exists()


def test_a_revoked_token_is_401(tenant_a: Tenant, scim_a: Scim) -> None:
    assert scim_a.get("Users").status_code == 200
    ScimToken.objects.filter(tenant=tenant_a).update(revoked_at="2026-01-01T00:00:00Z")
    _error(scim_a.get("Users"), 401)


def test_a_token_of_a_cannot_read_or_change_b_users_or_groups_by_id(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User, scim_a: Scim
) -> None:
    b_member = _membership(tenant_b, owner_b)
    b_team = Team.objects.create(tenant=tenant_b, name="B sales")
    for path in (f"Users/{b_member.pk}", f"Groups/{b_team.pk}"):
        _error(scim_a.get(path), 404)
        _error(scim_a.patch(path, {"op": "replace", "path": "externalId", "value": "x"}), 404)
        _error(scim_a.delete(path), 404)
    _error(scim_a.put(f"Users/{b_member.pk}", _new_user("owner@beta.test")), 404)
    listed = scim_a.get("Users").json()
    assert str(b_member.pk) not in {r["id"] for r in listed["Resources"]}
    b_member.refresh_from_db()
    assert b_member.external_id == "" and b_member.deactivated_at is None
    assert Team.objects.filter(pk=b_team.pk).exists()


def test_discovery_describes_users_and_groups(scim_a: Scim) -> None:
    config = scim_a.get("ServiceProviderConfig")
    assert config.status_code == 200 and config["Content-Type"] == SCIM
    assert config.json()["patch"] == {"supported": True}
    types = scim_a.get("ResourceTypes").json()
    assert {r["name"] for r in types["Resources"]} == {"User", "Group"}
    schema = scim_a.get(f"Schemas/{USER}").json()
    assert {a["name"] for a in schema["attributes"]} == {"userName", "name", "active", "emails"}
    _error(scim_a.get("Schemas/urn:nothing"), 404)
    _error(scim_a.get("Nothing/here"), 404)
    _error(scim_a.post("ServiceProviderConfig", {}), 405)


# Users ----------------------------------------------------------------------------------------


def test_creating_a_user_makes_a_passwordless_account_and_a_member(
    tenant_a: Tenant, scim_a: Scim
) -> None:
    response = scim_a.post("Users", _new_user(externalId="okta-1"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == body["meta"]["location"]
    assert body["userName"] == "ada@example.org" and body["active"] is True
    assert body["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    user = User.objects.get(email="ada@example.org")
    assert not user.has_usable_password()
    assert user.full_name == "Ada Lovelace"
    membership = _membership(tenant_a, user)
    assert str(membership.pk) == body["id"]
    assert (membership.role, membership.external_id) == (Role.MEMBER, "okta-1")
    (event,) = _audited(tenant_a, "member.provisioned")
    assert event.target_label == user.email
    assert event.actor_label.startswith("SCIM token mscim_") and event.actor_id is None


def test_creating_an_existing_user_attaches_a_membership_without_touching_the_account(
    tenant_a: Tenant, owner_b: User, scim_a: Scim
) -> None:
    name = owner_b.full_name
    response = scim_a.post("Users", _new_user("owner@beta.test"))
    assert response.status_code == 201, response.content
    assert _membership(tenant_a, owner_b).role == Role.MEMBER
    owner_b.refresh_from_db()
    assert owner_b.full_name == name  # beta's person too: not alpha's to rename
    assert User.objects.filter(email__iexact="owner@beta.test").count() == 1


def test_a_user_name_or_person_already_here_is_a_409(tenant_a: Tenant, scim_a: Scim) -> None:
    _error(scim_a.post("Users", _new_user("member@alpha.test")), 409, "uniqueness")
    assert scim_a.post("Users", _new_user()).status_code == 201
    _error(scim_a.post("Users", _new_user()), 409, "uniqueness")
    assert Membership.objects.filter(tenant=tenant_a).count() == 3


def test_past_the_plan_seats_creating_a_user_is_refused_and_nothing_written(
    tenant_a: Tenant, scim_a: Scim
) -> None:
    Subscription.objects.filter(organization_id=tenant_a.pk).update(
        plan=Plan.objects.get(code="free")  # its two seats: the owner and the member
    )
    body = _error(scim_a.post("Users", _new_user()), 403)
    assert "plan allows" in body["detail"]
    assert not User.objects.filter(email="ada@example.org").exists()


def test_users_are_found_by_user_name_and_external_id_and_paged(
    tenant_a: Tenant, scim_a: Scim
) -> None:
    for n in range(3):
        scim_a.post("Users", _new_user(f"p{n}@example.org", externalId=f"ext-{n}"))
    found = scim_a.get("Users", filter='userName eq "P1@example.org"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["externalId"] == "ext-1"
    by_external = scim_a.get("Users", filter='externalId eq "ext-2"').json()
    assert [r["userName"] for r in by_external["Resources"]] == ["p2@example.org"]
    # Members the provider never created are found by their e-mail as the userName.
    assert scim_a.get("Users", filter='userName eq "member@alpha.test"').json()["totalResults"] == 1
    page = scim_a.get("Users", startIndex=2, count=2).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert scim_a.get("Users", filter='userName eq "nobody@x.org"').json()["totalResults"] == 0
    _error(scim_a.get("Users", filter='title co "x"'), 400, "invalidFilter")
    _error(scim_a.get("Users", filter="userName eq"), 400, "invalidFilter")


def test_put_replaces_the_member(tenant_a: Tenant, scim_a: Scim) -> None:
    created = scim_a.post("Users", _new_user()).json()
    replacement = _new_user(externalId="e-9", name={"formatted": "Ada King"})
    response = scim_a.put(f"Users/{created['id']}", replacement)
    assert response.status_code == 200, response.content
    assert response.json()["name"] == {"formatted": "Ada King"}
    membership = Membership.objects.get(pk=created["id"])
    assert membership.external_id == "e-9"
    assert membership.user.full_name == "Ada King"


def test_deactivation_ends_the_session_and_the_tokens_at_once_and_reactivation_restores_access(
    tenant_a: Tenant, member_a: User, client_a: Client, scim_a: Scim
) -> None:
    api = token_client(member_a, tenant_a)
    assert client_a.get("/").status_code == 200
    assert api.get("/api/v1/contacts/").status_code == 200
    membership = _membership(tenant_a, member_a)

    response = scim_a.patch(
        f"Users/{membership.pk}", {"op": "replace", "path": "active", "value": False}
    )

    assert response.status_code == 200 and response.json()["active"] is False
    refused = client_a.get("/")
    assert refused.status_code == 403
    assert "Your access to" in refused.content.decode()  # told it was switched off
    refused_api = client_a.get("/api/v1/contacts/", HTTP_ACCEPT="application/json")
    assert "switched off" in refused_api.json()["detail"]
    assert api.get("/api/v1/contacts/").status_code == 401
    assert not ApiToken.objects.filter(user=member_a, tenant=tenant_a, revoked_at=None).exists()
    assert len(_audited(tenant_a, "member.deactivated")) == 1
    # Okta's form: no path, the attributes as the value.
    scim_a.patch(f"Users/{membership.pk}", {"op": "replace", "value": {"active": True}})
    assert client_a.get("/").status_code == 200
    assert api.get("/api/v1/contacts/").status_code == 401  # revoked tokens stay revoked


def test_a_switched_off_member_no_longer_sees_the_organization_among_their_workspaces(
    tenant_a: Tenant, member_a: User, public_client: Client, scim_a: Scim
) -> None:
    public_client.force_login(member_a)
    assert "Alpha Inc" in public_client.get("/workspaces/").content.decode()
    membership = _membership(tenant_a, member_a)
    scim_a.patch(f"Users/{membership.pk}", {"op": "replace", "path": "active", "value": False})
    assert "Alpha Inc" not in public_client.get("/workspaces/").content.decode()


def test_people_are_switched_off_even_while_the_organization_is_read_only(
    tenant_a: Tenant, member_a: User, client_a: Client, scim_a: Scim
) -> None:
    Subscription.objects.filter(organization_id=tenant_a.pk).update(
        dunning=Subscription.Dunning.READ_ONLY
    )
    forget_all_hosts()
    assert client_a.post("/companies/new/", {"name": "Initech"}).status_code == 402
    membership = _membership(tenant_a, member_a)

    response = scim_a.patch(
        f"Users/{membership.pk}", {"op": "replace", "path": "active", "value": False}
    )

    assert response.status_code == 200, response.content
    membership.refresh_from_db()
    assert membership.deactivated_at is not None


def test_the_only_owner_is_neither_switched_off_nor_removed(
    tenant_a: Tenant, owner_a: User, scim_a: Scim
) -> None:
    owner = _membership(tenant_a, owner_a)
    body = _error(
        scim_a.patch(f"Users/{owner.pk}", {"op": "replace", "path": "active", "value": False}),
        409,
    )
    assert "only owner" in body["detail"] and "scimType" not in body
    assert "only owner" in _error(scim_a.delete(f"Users/{owner.pk}"), 409)["detail"]
    owner.refresh_from_db()
    assert owner.deactivated_at is None


def test_delete_removes_the_membership_teams_and_tokens_never_the_user(
    tenant_a: Tenant, member_a: User, scim_a: Scim
) -> None:
    api_token_create(user=member_a, tenant=tenant_a, name="x")
    team = Team.objects.create(tenant=tenant_a, name="Sales")
    TeamMember.objects.create(team=team, user=member_a)
    membership = _membership(tenant_a, member_a)

    assert scim_a.delete(f"Users/{membership.pk}").status_code == 204

    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert User.objects.filter(pk=member_a.pk).exists()
    assert not ApiToken.objects.filter(user=member_a, tenant=tenant_a, revoked_at=None).exists()
    assert not TeamMember.objects.filter(team=team).exists()
    _error(scim_a.get(f"Users/{membership.pk}"), 404)
    assert len(_audited(tenant_a, "member.deprovisioned")) == 1


def test_an_e_mail_change_of_a_person_of_other_organizations_is_refused(
    tenant_a: Tenant, owner_b: User, scim_a: Scim
) -> None:
    created = scim_a.post("Users", _new_user("owner@beta.test")).json()
    response = scim_a.patch(
        f"Users/{created['id']}",
        {"op": "replace", "path": "emails", "value": [{"value": "x@evil.org", "primary": True}]},
    )
    _error(response, 400, "mutability")
    owner_b.refresh_from_db()
    assert owner_b.email == "owner@beta.test"


# Bad input: a 400 SCIM error and nothing changed -----------------------------------------------


def test_bad_json_is_invalid_syntax(tenant_a: Tenant, scim_a: Scim) -> None:
    _error(scim_a.post("Users", "{not json"), 400, "invalidSyntax")
    _error(scim_a.post("Users", "[1, 2]"), 400, "invalidSyntax")
    assert Membership.objects.filter(tenant=tenant_a).count() == 2


def test_a_wrong_schema_or_a_missing_user_name_is_refused(tenant_a: Tenant, scim_a: Scim) -> None:
    _error(scim_a.post("Users", {**_new_user(), "schemas": [GROUP]}), 400)
    _error(scim_a.post("Users", {"schemas": [USER], "name": {"givenName": "x"}}), 400)
    _error(scim_a.post("Users", _new_user("not-an-address", emails=[])), 400, "invalidValue")
    assert Membership.objects.filter(tenant=tenant_a).count() == 2


def test_a_patch_of_an_unknown_attribute_changes_nothing(
    tenant_a: Tenant, member_a: User, scim_a: Scim
) -> None:
    membership = _membership(tenant_a, member_a)
    response = scim_a.patch(
        f"Users/{membership.pk}",
        {"op": "replace", "path": "externalId", "value": "changed"},
        {"op": "replace", "path": "nickName", "value": "Bob"},
    )
    _error(response, 400, "invalidPath")
    membership.refresh_from_db()
    assert membership.external_id == ""
    _error(scim_a.patch(f"Users/{membership.pk}", {"op": "explode", "path": "active"}), 400)
    _error(scim_a.patch(f"Users/{membership.pk}", {"op": "remove", "path": "userName"}), 400)


# Groups ---------------------------------------------------------------------------------------


def test_groups_keep_teams_in_step(
    tenant_a: Tenant, owner_a: User, member_a: User, scim_a: Scim
) -> None:
    owner, member = _membership(tenant_a, owner_a), _membership(tenant_a, member_a)
    response = scim_a.post(
        "Groups",
        {
            "schemas": [GROUP],
            "displayName": "Sales",
            "externalId": "g-1",
            "members": [{"value": str(owner.pk), "display": "Owner"}],
        },
    )
    assert response.status_code == 201, response.content
    group_id = response.json()["id"]
    team = Team.objects.get(pk=group_id, tenant=tenant_a)
    assert (team.name, team.external_id) == ("Sales", "g-1")
    assert list(team.members.all()) == [owner_a]

    scim_a.patch(
        f"Groups/{group_id}", {"op": "add", "path": "members", "value": [{"value": str(member.pk)}]}
    )
    assert set(team.members.all()) == {owner_a, member_a}
    scim_a.patch(f"Groups/{group_id}", {"op": "remove", "path": f'members[value eq "{owner.pk}"]'})
    assert list(team.members.all()) == [member_a]
    scim_a.patch(
        f"Groups/{group_id}",
        {"op": "replace", "path": "members", "value": [{"value": str(owner.pk)}]},
    )
    assert list(team.members.all()) == [owner_a]
    renamed = scim_a.patch(
        f"Groups/{group_id}", {"op": "replace", "path": "displayName", "value": "Field sales"}
    )
    assert renamed.json()["displayName"] == "Field sales"
    found = scim_a.get("Groups", filter='displayName eq "field SALES"').json()
    assert [g["id"] for g in found["Resources"]] == [group_id]
    assert found["Resources"][0]["members"] == [
        {
            "value": str(owner.pk),
            "$ref": f"http://{host_of(tenant_a)}:8000/scim/v2/Users/{owner.pk}",
            "type": "User",
        }
    ]
    put = scim_a.put(f"Groups/{group_id}", {"schemas": [GROUP], "displayName": "Renamed"})
    assert put.status_code == 200 and "members" not in put.json()
    assert not team.members.exists()

    assert scim_a.delete(f"Groups/{group_id}").status_code == 204
    assert not Team.objects.filter(pk=group_id).exists()
    actions = {e.action for e in _audited(tenant_a, "team.provisioned")} | {
        e.action for e in _audited(tenant_a, "team.deprovisioned")
    }
    assert actions == {"team.provisioned", "team.deprovisioned"}


def test_a_group_naming_a_member_of_another_organization_is_refused(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User, scim_a: Scim
) -> None:
    b_member = _membership(tenant_b, owner_b)
    body = {"schemas": [GROUP], "displayName": "Mixed", "members": [{"value": str(b_member.pk)}]}
    _error(scim_a.post("Groups", body), 400, "invalidValue")
    assert not Team.objects.filter(name="Mixed").exists()
    _error(scim_a.post("Groups", {"schemas": [GROUP], "displayName": ""}), 400)


def test_a_taken_team_name_is_a_409(tenant_a: Tenant, scim_a: Scim) -> None:
    Team.objects.create(tenant=tenant_a, name="Sales")
    _error(scim_a.post("Groups", {"schemas": [GROUP], "displayName": "sales"}), 409, "uniqueness")


# Tokens -----------------------------------------------------------------------------------------


def test_owners_make_a_token_shown_once_and_revoke_it(tenant_a: Tenant, owner_a: User) -> None:
    browser = Client(HTTP_HOST=host_of(tenant_a))
    browser.force_login(owner_a)
    created = browser.post("/settings/scim/", {"name": "Okta"}, follow=True)
    assert created.status_code == 200
    raw = created.context["created_token"]
    assert raw and raw in created.content.decode()
    assert raw not in browser.get("/settings/scim/").content.decode()
    token = ScimToken.objects.get(tenant=tenant_a)
    assert token.digest != raw and token.created_by == owner_a
    assert Scim(tenant_a, raw=raw).get("Users").status_code == 200

    browser.post(f"/settings/scim/{token.pk}/revoke/")
    _error(Scim(tenant_a, raw=raw).get("Users"), 401)


def test_a_member_cannot_reach_the_scim_settings(tenant_a: Tenant, client_a: Client) -> None:
    assert client_a.get("/settings/scim/").status_code == 403
    assert client_a.post("/settings/scim/", {"name": "x"}).status_code == 403
    assert not ScimToken.objects.filter(tenant=tenant_a).exists()


def test_b_cannot_revoke_a_token_of_a(tenant_a: Tenant, tenant_b: Tenant, owner_b: User) -> None:
    token, _ = scim_token_create(tenant=tenant_a, by=None, name="A's")
    browser = Client(HTTP_HOST=host_of(tenant_b))
    browser.force_login(owner_b)
    assert browser.post(f"/settings/scim/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_create_scim_token_prints_only_the_token(
    tenant_a: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("create_scim_token", "--tenant", tenant_a.slug)
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("mscim_") and "\n" not in raw
    assert Scim(tenant_a, raw=raw).get("Users").status_code == 200


def test_a_profile_keeps_what_the_provider_sent(tenant_a: Tenant, scim_a: Scim) -> None:
    created = scim_a.post("Users", _new_user("grace@example.org")).json()
    profile = ScimProfile.objects.get(membership_id=created["id"])
    assert (profile.user_name, profile.given_name) == ("grace@example.org", "Ada")
