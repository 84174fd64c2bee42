"""Organization policies narrow lists in the query: what a list shows is exactly what the
decision point allows record by record, with the policies read along with the principal (no
extra statement), and a policy lists couldn't apply is refused when it is saved."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm.models import Contact, Deal, Stage
from crm.selectors.deals import DealFilters, deal_list
from iam import authz
from iam.authz.lists import policy_list_problems
from iam.models import AccessPolicy, Role, Team, User
from iam.services_access import policy_create
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.crm.access_support import api, browser, member, scoped, team_of
from tests.crm.factories import ContactFactory, DealFactory

pytestmark = pytest.mark.django_db

BIG_DEALS_FOR_MANAGERS = """
forbid (principal, action == MyCRM::Action::"view", resource is MyCRM::Deal)
when { resource.amount > 100000 } unless { principal.roles.contains("manager") };
"""


def _stage(kind: str) -> Stage:
    stages = Stage.objects.filter(pipeline__is_default=True)
    if kind == "won":
        return stages.get(is_won=True)
    if kind == "lost":
        return stages.get(is_lost=True)
    return stages.filter(is_won=False, is_lost=False).order_by("position").first()  # type: ignore[return-value]


def _policies(team: Team, outsider_team: Team) -> dict[str, str]:
    """Policies over every form lists translate: comparisons of amount (with cents at the
    edges), text and kind, `in` a team, `contains`, `has`, if-then-else, `unless`, context
    and roles bound before the list runs."""
    return {
        "big deals for managers": BIG_DEALS_FOR_MANAGERS,
        "won deals open to all": """
            permit (principal, action == MyCRM::Action::"view", resource is MyCRM::Deal)
            when { resource.stage_kind == "won" };""",
        "managers see their team's deals": """
            forbid (principal, action == MyCRM::Action::"view", resource is MyCRM::Deal)
            when { principal.roles.contains("manager") }
            unless { resource.owner == principal || resource.owner in principal.managed_teams };""",
        "not the outsiders' records": f"""
            forbid (principal, action, resource)
            when {{ resource has owner && resource.owner in MyCRM::Team::"{outsider_team.pk}" }};""",
        "euro and pound deals shown": """
            permit (principal, action == MyCRM::Action::"view", resource is MyCRM::Deal)
            when { ["EUR", "GBP"].contains(resource.currency) };""",
        "no edits at exactly 500": """
            forbid (principal, action == MyCRM::Action::"edit", resource is MyCRM::Deal)
            when { resource.amount == 500 };""",
        "small lost deals hidden": """
            forbid (principal, action == MyCRM::Action::"view", resource is MyCRM::Deal)
            when { if resource.stage_kind == "lost" then resource.amount < 1000 else false };""",
        "larger deals not by night": """
            forbid (principal, action, resource is MyCRM::Deal)
            when { (context.hour >= 0 || context.weekday > 7) && 2000 <= resource.amount };""",
        "team deals for the team": f"""
            permit (principal, action in [MyCRM::Action::"view", MyCRM::Action::"edit"],
                    resource is MyCRM::Deal)
            when {{ principal in MyCRM::Team::"{team.pk}" && resource.owner in MyCRM::Team::"{team.pk}" }};""",
    }


def test_every_list_shows_exactly_what_the_decision_point_allows_record_by_record(
    tenant_a: Tenant,
) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("deal", "own", "edit"))
        mate = member(tenant_a)
        boss = member(tenant_a, Role.MANAGER)
        outsider = member(tenant_a)
        everyone = member(tenant_a)
        team = team_of(tenant_a, rep, mate)
        Team.objects.filter(pk=team.pk).update(manager=boss)
        outsiders = team_of(tenant_a, outsider, name="Outsiders")
        deals = [
            DealFactory(owner_id=owner, amount=Decimal(amount), currency=currency, stage=stage)
            for owner, amount, currency, stage in [
                (rep.pk, "100", "USD", _stage("open")),
                (rep.pk, "250000", "USD", _stage("open")),
                (mate.pk, "100000.99", "USD", _stage("open")),
                (mate.pk, "100001", "EUR", _stage("won")),
                (boss.pk, "500", "USD", _stage("lost")),
                (boss.pk, "500.50", "GBP", _stage("open")),
                (outsider.pk, "999.99", "USD", _stage("lost")),
                (outsider.pk, "1999.99", "USD", _stage("won")),
                (None, "2000", "USD", _stage("open")),
                (None, "0", "EUR", _stage("lost")),
            ]
        ]
        for name, source in _policies(team, outsiders).items():
            AccessPolicy.objects.filter(tenant=tenant_a).delete()
            AccessPolicy.objects.create(tenant=tenant_a, name=name, source=source)
            for user in (rep, mate, boss, outsider, everyone):
                principal = authz.principal_for(user=user, tenant=tenant_a)
                for action in ("view", "edit"):
                    listed = set(
                        authz.visible(Deal.objects.all(), principal, "deal", action).values_list(
                            "pk", flat=True
                        )
                    )
                    decided = {
                        d.pk for d in deals if authz.check(principal, action, record=d).allowed
                    }
                    assert listed == decided, (name, user.email, action)


def test_a_policy_narrows_the_deal_list_page_board_and_api_and_the_record_is_hidden(
    tenant_a: Tenant,
) -> None:
    with tenant_context(tenant_a):
        rep, boss = member(tenant_a), member(tenant_a, Role.MANAGER)
        AccessPolicy.objects.create(
            tenant=tenant_a, name="Big deals for managers", source=BIG_DEALS_FOR_MANAGERS
        )
        small = DealFactory(name="Sculptor", owner_id=rep.pk, amount=Decimal(900))
        big = DealFactory(name="Pegasus", owner_id=rep.pk, amount=Decimal(150_000))

    page = browser(rep, tenant_a)
    listed = page.get("/deals/").content.decode()
    assert "Sculptor" in listed and "Pegasus" not in listed
    assert "Pegasus" not in page.get("/deals/board/").content.decode()
    assert page.get(f"/deals/{big.pk}/").status_code == 404
    names = {d["name"] for d in api(rep, tenant_a).get("/api/v1/deals/").json()["results"]}
    assert names == {small.name}

    assert "Pegasus" in browser(boss, tenant_a).get("/deals/").content.decode()


def test_policies_cost_no_extra_statement_on_a_filtered_list(
    tenant_a: Tenant, django_assert_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("deal", "team"))
        mate = member(tenant_a)
        team_of(tenant_a, rep, mate)
        AccessPolicy.objects.create(
            tenant=tenant_a, name="Big deals for managers", source=BIG_DEALS_FOR_MANAGERS
        )
        kept = DealFactory(owner_id=mate.pk, amount=Decimal(5))
        DealFactory(owner_id=mate.pk, amount=Decimal(500_000))
        with CaptureQueriesContext(connection) as made:
            principal = authz.principal_for(user=rep, tenant=tenant_a)
        assert len(made.captured_queries) == 1  # the principal, its policies included
        # The deals, then their contacts and their tags: as without policies.
        with django_assert_num_queries(3):  # type: ignore[operator]
            found = list(deal_list(filters=DealFilters(amount_min=Decimal(1)), principal=principal))
    assert [d.pk for d in found] == [kept.pk]


def test_a_policy_lists_cannot_apply_gets_a_field_error_and_is_not_saved(
    tenant_a: Tenant, owner_a: User
) -> None:
    source = """forbid (principal, action == MyCRM::Action::"view", resource is MyCRM::Deal)
    when { resource.owner.email like "*@rival.test" };"""
    assert policy_list_problems(source)
    with pytest.raises(InvalidFields) as caught:
        policy_create(tenant=tenant_a, by=owner_a, name="No rivals", source=source)
    assert "resource.owner.email" in caught.value.errors["source"][0]
    assert not AccessPolicy.objects.filter(tenant=tenant_a).exists()


def test_conditions_on_the_principal_and_context_alone_are_accepted_for_lists() -> None:
    from iam.policy_examples import POLICY_EXAMPLES

    for example in POLICY_EXAMPLES:
        assert policy_list_problems(example.source) == [], example.key


def test_a_stored_policy_lists_cannot_apply_hides_rows_rather_than_showing_them(
    tenant_a: Tenant,
) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a)
        ContactFactory(owner_id=rep.pk)
        # Written before this check existed, straight into the table.
        AccessPolicy.objects.create(
            tenant=tenant_a,
            name="Rivals",
            source="""forbid (principal, action == MyCRM::Action::"view", resource is MyCRM::Contact)
            when { resource.owner.email == "x@rival.test" };""",
        )
        AccessPolicy.objects.create(
            tenant=tenant_a,
            name="Everyone's contacts",
            source="""permit (principal, action, resource is MyCRM::Contact)
            when { resource.owner.email == "y@partner.test" };""",
        )
        principal = authz.principal_for(user=rep, tenant=tenant_a)
        assert not authz.visible(Contact.objects.all(), principal, "contact").exists()


def test_another_organizations_policy_does_not_narrow_our_lists(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    policy_create(tenant=tenant_b, by=owner_b, name="Big deals", source=BIG_DEALS_FOR_MANAGERS)
    with tenant_context(tenant_a):
        rep = member(tenant_a)
        big = DealFactory(owner_id=rep.pk, amount=Decimal(900_000))
        principal = authz.principal_for(user=rep, tenant=tenant_a)
        assert principal.policies == ()
        assert list(authz.visible(Deal.objects.all(), principal, "deal")) == [big]
