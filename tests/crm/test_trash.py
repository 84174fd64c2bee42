"""The trash through its services and its periodic task: what deleting a record means, what
a restore brings back, and what a purge takes away."""

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm import selectors
from crm.exceptions import ContactEmailTaken, RecordNotInTrash
from crm.models import (
    Activity,
    Company,
    Contact,
    CustomField,
    Deal,
    DealContact,
    Lead,
    LineItem,
    Stage,
)
from crm.selectors import activities as activity_selectors
from crm.selectors.deals import deal_get
from crm.selectors.search import search
from crm.selectors.tags import tag_list
from crm.services import company_delete, contact_create, contact_delete, custom_field_update
from crm.services.deals import deal_delete, deal_update
from crm.services.leads import lead_delete
from crm.services.trash import TRASH_DAYS, record_purge, record_restore, trash_purge
from crm.tasks import trash_purge_expired
from iam import authz
from iam.models import User
from pii.services import tenant_key_rotate, values_reseal
from tenants.models import Tenant

from .factories import (
    ActivityFactory,
    CompanyFactory,
    ContactFactory,
    CustomFieldFactory,
    DealFactory,
    LeadFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_alpha(tenant_a: Tenant) -> Iterator[None]:
    with tenant_context(tenant_a):
        yield


def days_ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def test_deleting_a_contact_moves_it_to_the_trash_with_who_and_when(member_a: User) -> None:
    contact = ContactFactory(first_name="Zoë")
    contact_delete(contact=contact, by=member_a)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    trashed = Contact.trashed.get(pk=contact.pk)
    assert trashed.deleted_by_id == member_a.pk
    assert timezone.now() - trashed.deleted_at < dt.timedelta(minutes=1)


@pytest.mark.parametrize("kind", ["contact", "company", "lead", "deal"])
def test_each_kind_of_record_goes_to_the_trash_and_out_of_lists_and_counts(
    member_a: User, kind: str
) -> None:
    factory, delete, model = {
        "contact": (ContactFactory, lambda r: contact_delete(contact=r, by=member_a), Contact),
        "company": (CompanyFactory, lambda r: company_delete(company=r, by=member_a), Company),
        "lead": (LeadFactory, lambda r: lead_delete(lead=r, by=member_a), Lead),
        "deal": (DealFactory, lambda r: deal_delete(deal=r, by=member_a), Deal),
    }[kind]
    kept, gone = factory(), factory()
    delete(gone)
    assert list(model.objects.values_list("pk", flat=True)) == [kept.pk]
    assert set(model.with_trashed.values_list("pk", flat=True)) == {kept.pk, gone.pk}


def test_search_never_finds_a_trashed_record(member_a: User) -> None:
    kept = ContactFactory(first_name="Zoë", last_name="Müller")
    gone = ContactFactory(first_name="Zoë", last_name="Müllers")
    contact_delete(contact=gone, by=member_a)
    assert [hit.id for hit in search(text="zoe muller")["contacts"]] == [kept.pk]
    principal = authz.principal_for(user=member_a, tenant=connection.tenant)
    assert list(selectors.contact_list(principal=principal, search="zoe")) == [kept]


def test_the_activities_of_a_trashed_record_leave_the_lists_and_my_tasks(member_a: User) -> None:
    contact = ContactFactory()
    task = ActivityFactory(
        contact=contact, kind=Activity.Kind.TASK, assignee_id=member_a.pk, due_at=days_ago(1)
    )
    assert activity_selectors.my_tasks(user=member_a).overdue == [task]
    contact_delete(contact=contact, by=member_a)
    assert activity_selectors.my_tasks(user=member_a).count == 0
    assert not activity_selectors.activity_list().exists()


def test_a_tag_counts_only_records_outside_the_trash(member_a: User) -> None:
    tag = TagFactory(name="vip")
    kept, gone = ContactFactory(), ContactFactory()
    kept.tags.add(tag)
    gone.tags.add(tag)
    contact_delete(contact=gone, by=member_a)
    assert tag_list().get(pk=tag.pk).contacts_count == 1


def test_a_company_page_lists_only_contacts_outside_the_trash(member_a: User) -> None:
    company = CompanyFactory()
    kept, gone = ContactFactory(company=company), ContactFactory(company=company)
    contact_delete(contact=gone, by=member_a)
    assert list(company.contacts.all()) == [kept]


def test_restoring_brings_a_record_back_with_its_activities_tags_and_deals(
    member_a: User,
) -> None:
    contact = ContactFactory()
    note = ActivityFactory(contact=contact)
    contact.tags.add(TagFactory(name="vip"))
    deal = DealFactory()
    DealContact.objects.create(deal=deal, contact=contact, is_primary=True)
    contact_delete(contact=contact, by=member_a)
    record_restore(record=Contact.with_trashed.get(pk=contact.pk), by=member_a)
    restored = Contact.objects.get(pk=contact.pk)
    assert (restored.deleted_at, restored.deleted_by_id) == (None, None)
    assert list(restored.activities.all()) == [note]
    assert list(restored.tags.values_list("name", flat=True)) == ["vip"]
    assert list(deal.contacts.all()) == [restored]


def test_a_trashed_contact_gives_its_email_address_up_and_a_restore_then_says_so(
    member_a: User,
) -> None:
    first = contact_create(by=member_a, first_name="Ada", email="ada@example.com")
    contact_delete(contact=first, by=member_a)
    contact_create(by=member_a, first_name="Ada (new)", email="ADA@example.com")
    with pytest.raises(ContactEmailTaken) as raised:
        record_restore(record=Contact.with_trashed.get(pk=first.pk), by=member_a)
    assert raised.value.field == "email"
    assert Contact.trashed.filter(pk=first.pk).exists()


def test_restoring_a_record_not_in_the_trash_is_refused(member_a: User) -> None:
    with pytest.raises(RecordNotInTrash):
        record_restore(record=CompanyFactory(), by=member_a)


def test_purging_deletes_what_stayed_longer_than_thirty_days_with_what_hangs_on_it(
    member_a: User,
) -> None:
    company = CompanyFactory()
    old_contact, recent_contact = ContactFactory(company=company), ContactFactory()
    note = ActivityFactory(contact=old_contact)
    deal = DealFactory(company=company)
    DealContact.objects.create(deal=deal, contact=old_contact)
    line = LineItem.objects.create(deal=deal, name="Seats", unit_price=10)
    Contact.objects.filter(pk=old_contact.pk).update(deleted_at=days_ago(TRASH_DAYS + 1))
    Contact.objects.filter(pk=recent_contact.pk).update(deleted_at=days_ago(TRASH_DAYS - 1))
    Deal.objects.filter(pk=deal.pk).update(deleted_at=days_ago(TRASH_DAYS + 2))

    assert trash_purge() == {"deal": 1, "lead": 0, "contact": 1, "company": 0}

    assert not Contact.with_trashed.filter(pk=old_contact.pk).exists()
    assert not Activity.objects.filter(pk=note.pk).exists()
    assert not Deal.with_trashed.filter(pk=deal.pk).exists()
    assert not LineItem.objects.filter(pk=line.pk).exists()
    assert Contact.trashed.filter(pk=recent_contact.pk).exists()
    assert Company.objects.filter(pk=company.pk).exists()


def test_purging_a_company_keeps_its_contacts_without_it(member_a: User) -> None:
    company = CompanyFactory()
    contact = ContactFactory(company=company)
    Company.objects.filter(pk=company.pk).update(deleted_at=days_ago(TRASH_DAYS + 1))
    trash_purge()
    contact.refresh_from_db()
    assert contact.company_id is None


def test_purging_at_once_is_only_for_records_in_the_trash(member_a: User) -> None:
    lead = LeadFactory()
    with pytest.raises(RecordNotInTrash):
        record_purge(record=lead, by=member_a)
    lead_delete(lead=lead, by=member_a)
    record_purge(record=Lead.with_trashed.get(pk=lead.pk), by=member_a)
    assert not Lead.with_trashed.filter(pk=lead.pk).exists()


def test_the_purge_task_runs_in_its_organization_only(tenant_b: Tenant) -> None:
    expired = ContactFactory()
    Contact.objects.filter(pk=expired.pk).update(deleted_at=days_ago(TRASH_DAYS + 1))
    with tenant_context(tenant_b):
        other = ContactFactory()
        Contact.objects.filter(pk=other.pk).update(deleted_at=days_ago(TRASH_DAYS + 1))

    assert trash_purge_expired.apply().get()["contact"] == 1

    assert not Contact.with_trashed.filter(pk=expired.pk).exists()
    with tenant_context(tenant_b):
        assert Contact.trashed.filter(pk=other.pk).exists()


def test_a_trashed_contact_leaves_the_contacts_of_its_deals_until_restored(
    member_a: User,
) -> None:
    deal = DealFactory()
    kept, gone = ContactFactory(), ContactFactory()
    DealContact.objects.create(deal=deal, contact=kept, is_primary=True)
    DealContact.objects.create(deal=deal, contact=gone)
    contact_delete(contact=gone, by=member_a)
    shown = deal_get(deal.pk)
    assert shown is not None
    assert [link.contact_id for link in shown.deal_contacts.all()] == [kept.pk]
    record_restore(record=Contact.with_trashed.get(pk=gone.pk), by=member_a)
    shown = deal_get(deal.pk)
    assert shown is not None
    assert {link.contact_id for link in shown.deal_contacts.all()} == {kept.pk, gone.pk}


def test_a_deal_restored_after_its_stage_was_archived_goes_to_the_first_open_stage(
    member_a: User,
) -> None:
    deal = DealFactory()
    pipeline = deal.pipeline
    second = pipeline.stages.order_by("position")[1]
    Deal.objects.filter(pk=deal.pk).update(stage=second)
    deal_delete(deal=Deal.objects.get(pk=deal.pk), by=member_a)
    Stage.objects.filter(pk=second.pk).update(is_archived=True)

    record_restore(record=Deal.with_trashed.get(pk=deal.pk), by=member_a)

    restored = Deal.objects.get(pk=deal.pk)
    first = pipeline.stages.order_by("position").first()
    assert restored.stage_id == first.pk
    assert restored.stage_changes.order_by("-changed_at", "-id").first().to_stage_name == first.name


def test_changing_a_deals_contacts_keeps_the_link_of_a_trashed_one_for_its_restore(
    member_a: User,
) -> None:
    deal = DealFactory()
    gone, other, new = ContactFactory(), ContactFactory(), ContactFactory()
    DealContact.objects.create(deal=deal, contact=gone, is_primary=True)
    DealContact.objects.create(deal=deal, contact=other)
    contact_delete(contact=gone, by=member_a)

    deal_update(deal=deal, by=member_a, contacts=[new], primary_contact=new)
    record_restore(record=Contact.with_trashed.get(pk=gone.pk), by=member_a)

    links = dict(DealContact.objects.filter(deal=deal).values_list("contact_id", "is_primary"))
    assert links == {new.pk: True, gone.pk: False}


def test_a_key_rotation_reencrypts_trashed_contacts_too(tenant_a: Tenant, member_a: User) -> None:
    kept = contact_create(by=member_a, first_name="Kept", email="kept@example.com")
    gone = contact_create(by=member_a, first_name="Gone", email="gone@example.com")
    contact_delete(contact=gone, by=member_a)
    tenant_key_rotate(tenant_id=tenant_a.pk)

    # At most a few batches: a row the re-encryption can't reach would be picked forever.
    batches = list(itertools.islice(values_reseal(batch_size=1), 20))

    assert len(batches) < 20
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT split_part(email, '.', 2) FROM crm_contact")
        assert {row[0] for row in cur.fetchall()} == {"2"}
    restored = record_restore(record=Contact.with_trashed.get(pk=gone.pk), by=member_a)
    assert Contact.objects.get(pk=restored.pk).email == "gone@example.com"
    assert Contact.objects.get(pk=kept.pk).email == "kept@example.com"


def test_marking_a_custom_field_sensitive_seals_the_values_of_trashed_records_too(
    member_a: User,
) -> None:
    field = CustomFieldFactory(key="iban", label="IBAN", type=CustomField.Type.TEXT)
    gone = contact_create(by=member_a, first_name="Gone", custom={"iban": "DE89"})
    contact_delete(contact=gone, by=member_a)

    custom_field_update(field=field, by=member_a, sensitive=True)

    trashed = Contact.with_trashed.get(pk=gone.pk)
    assert (trashed.custom, trashed.custom_sealed) == ({}, {"iban": "DE89"})
