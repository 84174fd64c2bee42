"""Deals and pipelines through their services: moves, history, won/lost, stage removal."""

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.exceptions import PipelineIsDefault, StageHasDeals, StageInAnotherPipeline
from crm.models import Deal, DealContact, DealStageChange, Pipeline, Stage
from crm.services import deals as deal_services
from crm.services import pipelines as pipeline_services
from iam.models import User
from problems.exceptions import InvalidFields
from tenants.models import Tenant

from .factories import ContactFactory, DealFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_alpha(tenant_a: Tenant) -> Iterator[None]:
    with tenant_context(tenant_a):
        yield


@pytest.fixture
def sales() -> Pipeline:
    return Pipeline.objects.get(is_default=True)


def stage(pipeline: Pipeline, name: str) -> Stage:
    return pipeline.stages.get(name=name)


def column(s: Stage) -> list[str]:
    return list(Deal.objects.filter(stage=s).order_by("position").values_list("name", flat=True))


def test_a_new_deal_starts_in_the_first_stage_of_the_default_pipeline_owned_by_its_maker(
    sales: Pipeline, member_a: User
) -> None:
    deal = deal_services.deal_create(by=member_a, name="Rollout", amount="1250.50", currency="eur")
    assert deal.stage == stage(sales, "Lead in")
    assert deal.owner_id == member_a.pk
    assert deal.currency == "EUR"
    assert deal.amount == Decimal("1250.50")
    first = deal.stage_changes.get()
    assert (first.from_stage, first.to_stage_name) == (None, "Lead in")


def test_a_deal_keeps_several_contacts_and_one_primary(member_a: User) -> None:
    ada, bob = ContactFactory(first_name="Ada"), ContactFactory(first_name="Bob")
    deal = deal_services.deal_create(
        by=member_a, name="Rollout", contacts=[ada, bob], primary_contact=bob
    )
    links = {link.contact_id: link.is_primary for link in DealContact.objects.filter(deal=deal)}
    assert links == {ada.pk: False, bob.pk: True}


def test_a_primary_contact_must_be_one_of_the_deals_contacts(member_a: User) -> None:
    ada, bob = ContactFactory(), ContactFactory()
    with pytest.raises(InvalidFields) as caught:
        deal_services.deal_create(by=member_a, name="X", contacts=[ada], primary_contact=bob)
    assert "primary_contact" in caught.value.errors
    assert not Deal.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "-1"),
        ("amount", "10.005"),
        ("amount", "lots"),
        ("currency", "EURO"),
        ("currency", "XYZ"),
        ("owner_id", 987654321),
        ("name", "  "),
    ],
)
def test_bad_deal_values_are_field_errors_and_change_nothing(
    member_a: User, field: str, value: object
) -> None:
    data = {"name": "Rollout", field: value}
    with pytest.raises(InvalidFields) as caught:
        deal_services.deal_create(by=member_a, **data)
    assert field in caught.value.errors
    assert not Deal.objects.exists()


def test_a_stage_of_another_pipeline_than_the_deals_is_a_field_error(
    sales: Pipeline, member_a: User
) -> None:
    other = pipeline_services.pipeline_create(by=member_a, name="Renewals")
    with pytest.raises(InvalidFields) as caught:
        deal_services.deal_create(by=member_a, name="X", pipeline=sales, stage=other.stages.first())
    assert "stage" in caught.value.errors


def test_moving_a_deal_records_who_when_from_to_and_the_time_spent(
    sales: Pipeline, member_a: User
) -> None:
    deal = DealFactory(stage=stage(sales, "Lead in"))
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=timezone.now() - dt.timedelta(hours=2))
    deal.refresh_from_db()
    deal_services.deal_move(deal=deal, stage=stage(sales, "Qualified"), position=0, by=member_a)

    change = DealStageChange.objects.get(deal=deal)
    assert (change.from_stage_name, change.to_stage_name) == ("Lead in", "Qualified")
    assert change.by_id == member_a.pk
    assert 7190 <= (change.seconds_in_from_stage or 0) <= 7260
    deal.refresh_from_db()
    assert deal.stage == stage(sales, "Qualified")
    assert timezone.now() - deal.stage_entered_at < dt.timedelta(seconds=30)


def test_a_won_or_lost_stage_closes_the_deal_and_leaving_it_reopens_it(
    sales: Pipeline, member_a: User
) -> None:
    deal = DealFactory(stage=stage(sales, "Negotiation"))
    deal_services.deal_move(deal=deal, stage=stage(sales, "Won"), position=None, by=member_a)
    deal.refresh_from_db()
    assert deal.closed_at is not None
    deal_services.deal_move(
        deal=deal, stage=stage(sales, "Lost"), position=None, by=member_a, lost_reason="Budget"
    )
    deal.refresh_from_db()
    assert deal.closed_at is not None
    assert deal.lost_reason == "Budget"
    deal_services.deal_move(deal=deal, stage=stage(sales, "Qualified"), position=None, by=member_a)
    deal.refresh_from_db()
    assert deal.closed_at is None
    assert deal.stage_changes.count() == 3


def test_moving_to_a_stage_of_another_pipeline_is_refused_and_changes_nothing(
    sales: Pipeline, member_a: User
) -> None:
    deal = DealFactory(stage=stage(sales, "Lead in"))
    other = pipeline_services.pipeline_create(by=member_a, name="Renewals")
    with pytest.raises(StageInAnotherPipeline):
        deal_services.deal_move(deal=deal, stage=other.stages.first(), position=0, by=member_a)
    deal.refresh_from_db()
    assert deal.stage == stage(sales, "Lead in")
    assert not DealStageChange.objects.filter(deal=deal).exists()


def test_a_move_puts_the_card_at_its_position_and_renumbers_the_column(
    sales: Pipeline, member_a: User
) -> None:
    target = stage(sales, "Qualified")
    for name in ("A", "B", "C"):
        deal_services.deal_create(by=member_a, name=name, stage=target)
    moving = DealFactory(name="New", stage=stage(sales, "Lead in"))
    deal_services.deal_move(deal=moving, stage=target, position=1, by=member_a)
    assert column(target) == ["A", "New", "B", "C"]
    assert list(
        Deal.objects.filter(stage=target).order_by("position").values_list("position", flat=True)
    ) == [0, 1, 2, 3]
    # Within the column, without a change of stage and without history.
    deal_services.deal_move(deal=moving, stage=target, position=3, by=member_a)
    assert column(target) == ["A", "B", "C", "New"]
    assert not DealStageChange.objects.filter(deal=moving, from_stage=target).exists()


def test_changing_the_stage_by_editing_the_deal_is_a_move_with_history(
    sales: Pipeline, member_a: User
) -> None:
    deal = DealFactory(stage=stage(sales, "Lead in"))
    deal_services.deal_update(deal=deal, by=member_a, stage=stage(sales, "Won"))
    deal.refresh_from_db()
    assert deal.closed_at is not None
    assert deal.stage_changes.get().to_stage_name == "Won"


def test_an_edit_naming_the_same_pipeline_without_a_stage_leaves_the_deal_in_its_stage(
    sales: Pipeline, member_a: User
) -> None:
    deal = DealFactory(stage=stage(sales, "Negotiation"))
    deal_services.deal_update(deal=deal, by=member_a, pipeline=sales, name="Renamed")
    deal.refresh_from_db()
    assert (deal.name, deal.stage.name) == ("Renamed", "Negotiation")
    assert not deal.stage_changes.exists()


def test_owners_add_rename_reorder_and_flag_stages(sales: Pipeline, owner_a: User) -> None:
    added = pipeline_services.stage_create(
        pipeline=sales, by=owner_a, name="Demo", probability=40, position=2
    )
    names = list(sales.stages.order_by("position").values_list("name", flat=True))
    assert names[:4] == ["Lead in", "Qualified", "Demo", "Proposal sent"]
    pipeline_services.stage_update(stage=added, by=owner_a, name="Demo given", position=0)
    added.refresh_from_db()
    assert (added.name, added.position) == ("Demo given", 0)
    with pytest.raises(InvalidFields):
        pipeline_services.stage_update(stage=stage(sales, "Won"), by=owner_a, is_lost=True)
    with pytest.raises(InvalidFields):
        pipeline_services.stage_update(stage=added, by=owner_a, probability=101)


def test_a_stage_with_deals_is_removed_only_by_moving_its_deals(
    sales: Pipeline, owner_a: User
) -> None:
    doomed, target = stage(sales, "Proposal sent"), stage(sales, "Negotiation")
    deal = DealFactory(stage=doomed)
    with pytest.raises(StageHasDeals):
        pipeline_services.stage_archive(stage=doomed, by=owner_a)
    doomed.refresh_from_db()
    assert not doomed.is_archived

    pipeline_services.stage_archive(stage=doomed, by=owner_a, move_deals_to=target)
    doomed.refresh_from_db()
    deal.refresh_from_db()
    assert doomed.is_archived
    assert deal.stage == target
    assert deal.stage_changes.get().from_stage_name == "Proposal sent"


def test_deals_can_only_move_to_a_stage_of_the_same_pipeline_when_a_stage_is_removed(
    sales: Pipeline, owner_a: User
) -> None:
    other = pipeline_services.pipeline_create(by=owner_a, name="Renewals")
    doomed = stage(sales, "Proposal sent")
    DealFactory(stage=doomed)
    with pytest.raises(InvalidFields) as caught:
        pipeline_services.stage_archive(
            stage=doomed, by=owner_a, move_deals_to=other.stages.first()
        )
    assert "move_deals_to" in caught.value.errors


def test_the_default_pipeline_cannot_be_archived_but_others_can(
    sales: Pipeline, owner_a: User
) -> None:
    with pytest.raises(PipelineIsDefault):
        pipeline_services.pipeline_update(pipeline=sales, by=owner_a, is_archived=True)
    other = pipeline_services.pipeline_create(by=owner_a, name="Renewals", stages=["Ask", "Got"])
    assert list(other.stages.values_list("name", flat=True)) == ["Ask", "Got"]
    pipeline_services.pipeline_update(pipeline=other, by=owner_a, name="Upsell", is_archived=True)
    other.refresh_from_db()
    assert (other.name, other.is_archived) == ("Upsell", True)
