"""The decision point: roles with scopes, teams, shares, token scopes and Cedar policies,
one record at a time (`check`) and in list queries (`visible`)."""

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.db import connection
from django_tenants.utils import tenant_context

from iam import authz
from iam.exceptions import AccessDenied
from iam.models import AccessPolicy, CustomRole, Membership, Role, Team, TeamMember, User
from iam.org.models import RecordShare
from tenants.models import Tenant
from tests.crm.factories import ContactFactory, DealFactory
from tests.factories import UserFactory

OWN_DEALS = """
forbid (principal, action == MyCRM::Action::"edit", resource is MyCRM::Deal)
when { resource.owner != principal }
unless { principal.roles.contains("admin") || principal.roles.contains("owner") };
"""
OFFICE_HOURS = """
forbid (principal, action == MyCRM::Action::"export", resource)
when { context.record_type == "contact" && (context.hour < 9 || context.hour >= 18) };
"""
BIG_WINS = """
forbid (principal, action == MyCRM::Action::"move", resource is MyCRM::Deal)
when { resource.amount > 100000 && context.to_stage_kind == "won" }
unless { principal.roles.contains("manager") };
"""


def _member(tenant: Tenant, role: str = Role.MEMBER, **roles: dict[str, str]) -> User:
    user = UserFactory()
    membership = Membership.objects.create(user=user, tenant=tenant, role=role)
    for name, permissions in roles.items():
        custom = CustomRole.objects.create(tenant=tenant, name=name, permissions=permissions)
        membership.custom_roles.add(custom)
    return user


@pytest.fixture
def in_a(tenant_a: Tenant) -> Iterator[Tenant]:
    with tenant_context(tenant_a):
        yield tenant_a


def test_roles_scope_own_records_and_the_reason_says_so(in_a: Tenant) -> None:
    rep = _member(in_a, Role.READ_ONLY, rep={"deal.view": "all", "deal.edit": "own"})
    mine, theirs = DealFactory(owner_id=rep.pk), DealFactory(owner_id=None)
    principal = authz.principal_for(user=rep, tenant=in_a)

    assert authz.check(principal, "edit", record=mine).allowed
    denied = authz.check(principal, "edit", record=theirs)
    assert not denied.allowed
    assert "only for their own records" in denied.reason
    assert authz.check(principal, "view", record=theirs).allowed
    assert not authz.check(principal, "delete", record=mine).allowed


def test_team_scope_reaches_teammates_records_and_nobody_elses(in_a: Tenant) -> None:
    boss = _member(in_a, Role.MANAGER)
    mate, stranger = _member(in_a), _member(in_a)
    team = Team.objects.create(tenant=in_a, name="North", manager=boss)
    TeamMember.objects.create(team=team, user=mate)
    principal = authz.principal_for(user=boss, tenant=in_a)

    assert principal.teammate_ids == {boss.pk, mate.pk}
    assert authz.check(principal, "edit", record=DealFactory(owner_id=mate.pk)).allowed
    assert not authz.check(principal, "edit", record=DealFactory(owner_id=stranger.pk)).allowed


def test_lists_apply_scope_teams_and_shares_in_one_query(
    in_a: Tenant, django_assert_num_queries: object
) -> None:
    from crm.models import Deal

    rep = _member(in_a, Role.BILLING, rep={"deal.view": "team"})
    mate = _member(in_a)
    team = Team.objects.create(tenant=in_a, name="South")
    TeamMember.objects.create(team=team, user=rep)
    TeamMember.objects.create(team=team, user=mate)
    mine, mates, shared, hidden = (
        DealFactory(owner_id=rep.pk),
        DealFactory(owner_id=mate.pk),
        DealFactory(owner_id=None),
        DealFactory(owner_id=None),
    )
    RecordShare.objects.create(record_type="deal", record_id=shared.pk, team_id=team.pk)
    principal = authz.principal_for(user=rep, tenant=in_a)

    with django_assert_num_queries(1):  # type: ignore[operator]
        ids = set(
            authz.visible(Deal.objects.filter(name__isnull=False), principal, "deal").values_list(
                "pk", flat=True
            )
        )
    assert ids == {mine.pk, mates.pk, shared.pk}
    assert hidden.pk not in ids


def test_a_share_opens_one_record_to_a_role_without_the_right(in_a: Tenant) -> None:
    reader = _member(in_a, Role.READ_ONLY)
    deal = DealFactory(owner_id=None)
    principal = authz.principal_for(user=reader, tenant=in_a)
    assert not authz.check(principal, "edit", record=deal).allowed

    RecordShare.objects.create(
        record_type="deal", record_id=deal.pk, user_id=reader.pk, level="edit"
    )

    decision = authz.check(principal, "edit", record=deal)
    assert decision.allowed and "shared with you" in decision.reason
    assert not authz.check(principal, "delete", record=deal).allowed


def test_a_policy_forbids_what_roles_allow_and_is_named(in_a: Tenant) -> None:
    member = _member(in_a)
    AccessPolicy.objects.create(tenant=in_a, name="Own deals only", source=OWN_DEALS)
    principal = authz.principal_for(user=member, tenant=in_a)

    theirs = DealFactory(owner_id=None)
    decision = authz.check(principal, "edit", record=theirs)
    assert not decision.allowed
    assert decision.policy_names == ("Own deals only",)
    assert "Own deals only" in decision.reason
    assert authz.check(principal, "edit", record=DealFactory(owner_id=member.pk)).allowed
    with pytest.raises(AccessDenied) as raised:
        authz.require(principal, "edit", record=theirs)
    assert raised.value.extra["policies"] == ["Own deals only"]


def test_a_disabled_policy_decides_nothing(in_a: Tenant) -> None:
    member = _member(in_a)
    AccessPolicy.objects.create(
        tenant=in_a, name="Own deals only", source=OWN_DEALS, is_enabled=False
    )
    principal = authz.principal_for(user=member, tenant=in_a)
    assert authz.check(principal, "edit", record=DealFactory(owner_id=None)).allowed


def test_office_hours_follow_the_organizations_clock(in_a: Tenant) -> None:
    admin = _member(in_a, Role.ADMIN)
    AccessPolicy.objects.create(tenant=in_a, name="Office hours", source=OFFICE_HOURS)
    principal = authz.principal_for(user=admin, tenant=in_a)
    in_a.time_zone = "Europe/Berlin"

    with time_machine.travel(dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)):  # 11:00 Berlin
        assert authz.check(principal, "export", record_type="contact").allowed
    with time_machine.travel(dt.datetime(2026, 12, 7, 17, 30, tzinfo=dt.UTC)):  # 18:30
        late = authz.check(principal, "export", record_type="contact")
        assert not late.allowed and late.policy_names == ("Office hours",)
        assert authz.check(principal, "export", record_type="deal").allowed


def test_a_big_win_needs_a_manager(in_a: Tenant) -> None:
    member, manager = _member(in_a), _member(in_a, Role.MANAGER)
    AccessPolicy.objects.create(tenant=in_a, name="Big wins", source=BIG_WINS)
    big = DealFactory(owner_id=manager.pk, amount=250_000)
    won = {"to_stage_kind": "won"}

    member_says = authz.check(
        authz.principal_for(user=member, tenant=in_a), "move", record=big, context=won
    )
    assert not member_says.allowed and member_says.policy_names == ("Big wins",)
    manager_p = authz.principal_for(user=manager, tenant=in_a)
    assert authz.check(manager_p, "move", record=big, context=won).allowed
    small = DealFactory(owner_id=None, amount=500)
    assert authz.check(
        authz.principal_for(user=member, tenant=in_a), "move", record=small, context=won
    ).allowed


def test_admin_rights_come_from_roles(in_a: Tenant) -> None:
    admin, billing, member = _member(in_a, Role.ADMIN), _member(in_a, Role.BILLING), _member(in_a)
    assert authz.check(
        authz.principal_for(user=admin, tenant=in_a), "manage", right="people"
    ).allowed
    assert not authz.check(
        authz.principal_for(user=admin, tenant=in_a), "manage", right="billing"
    ).allowed
    assert authz.check(
        authz.principal_for(user=billing, tenant=in_a), "manage", right="billing"
    ).allowed
    denied = authz.check(authz.principal_for(user=member, tenant=in_a), "manage", right="people")
    assert not denied.allowed and "Member" in denied.reason
    billing_p = authz.principal_for(user=billing, tenant=in_a)
    assert not authz.check(billing_p, "view", record=ContactFactory()).allowed


def test_token_scopes_narrow_the_owners_rights(in_a: Tenant) -> None:
    owner = _member(in_a, Role.OWNER)
    reader = authz.principal_for(
        user=owner, tenant=in_a, via="token", token_scopes=frozenset({"deal:read"})
    )
    deal = DealFactory(owner_id=owner.pk)
    assert authz.check(reader, "view", record=deal).allowed
    refused = authz.check(reader, "edit", record=deal)
    assert not refused.allowed and "token's scopes" in refused.reason
    assert not authz.check(reader, "view", record=ContactFactory()).allowed
    assert not authz.check(reader, "manage", right="people").allowed


def test_a_member_of_b_has_no_rights_at_a(in_a: Tenant, owner_b: User) -> None:
    principal = authz.principal_for(user=owner_b, tenant=in_a)
    assert not principal.is_member and principal.grants == {}
    assert not authz.check(principal, "view", record=DealFactory()).allowed
    from crm.models import Deal

    assert not authz.visible(Deal.objects.all(), principal, "deal").exists()


def test_a_deactivated_membership_grants_nothing(in_a: Tenant) -> None:
    admin = _member(in_a, Role.ADMIN)
    Membership.objects.filter(user=admin).update(
        deactivated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    assert not authz.principal_for(user=admin, tenant=in_a).is_member


def test_the_principal_is_one_statement(in_a: Tenant, django_assert_num_queries: object) -> None:
    user = _member(in_a, Role.MEMBER, a={"deal.view": "all"}, b={"contact.edit": "team"})
    with django_assert_num_queries(1):  # type: ignore[operator]
        principal = authz.principal_for(user=user, tenant=in_a)
    assert principal.custom_role_names == ("a", "b")
    assert connection.schema_name == in_a.schema_name  # type: ignore[attr-defined]


def test_a_service_token_has_exactly_its_scopes(in_a: Tenant) -> None:
    account = UserFactory()  # a service account: no membership, no role
    principal = authz.principal_for(
        user=account, tenant=in_a, via="service_token", token_scopes=frozenset({"deal:write"})
    )
    assert principal.is_member and principal.role is None
    assert authz.check(principal, "edit", record=DealFactory(owner_id=None)).allowed
    assert not authz.check(principal, "view", record=ContactFactory()).allowed
    assert not authz.check(principal, "manage", right="people").allowed
