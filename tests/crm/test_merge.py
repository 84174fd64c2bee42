"""Merging duplicate contacts and companies through the services: the survivor keeps the
values chosen field by field, takes over what hung on the others, and the others go to the
trash; anything wrong and nothing changes."""

from collections.abc import Iterator

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from crm.exceptions import ContactEmailTaken, MergeInvalid
from crm.models import Activity, Company, Contact, CustomField, Deal, DealContact, Lead
from crm.selectors import contact_list
from crm.selectors.activities import timeline
from crm.services import contact_create
from crm.services.merge import company_merge, contact_merge
from crm.services.trash import record_restore
from iam import authz
from iam.models import User
from problems.exceptions import InvalidFields
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


def test_the_survivor_keeps_each_value_from_the_record_chosen_for_it(member_a: User) -> None:
    ada = contact_create(by=member_a, first_name="Ada", last_name="L.", email="ada@old.test")
    dup = contact_create(
        by=member_a,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@engine.test",
        phone="+44 20 7946 0000",
    )

    kept = contact_merge(
        survivor=ada,
        others=[dup],
        fields={"last_name": dup.pk, "email": dup.pk, "phone": dup.pk, "first_name": ada.pk},
        by=member_a,
    )

    kept = Contact.objects.get(pk=kept.pk)
    assert (kept.first_name, kept.last_name, kept.email, kept.phone) == (
        "Ada",
        "Lovelace",
        "ada@engine.test",
        "+44 20 7946 0000",
    )
    # Found by the address it took, through its rewritten blind index.
    principal = authz.principal_for(user=member_a, tenant=connection.tenant)
    assert list(contact_list(principal=principal, email="ada@engine.test")) == [kept]
    assert not Contact.objects.filter(pk=dup.pk).exists()
    assert Contact.trashed.get(pk=dup.pk).deleted_by_id == member_a.pk


def test_fields_not_named_keep_the_survivors_values(member_a: User) -> None:
    ada, dup = ContactFactory(title="CTO"), ContactFactory(title="Engineer")
    kept = contact_merge(survivor=ada, others=[dup], fields={}, by=member_a)
    assert Contact.objects.get(pk=kept.pk).title == "CTO"


def test_activities_deals_meetings_tags_and_conversions_move_to_the_survivor(
    member_a: User,
) -> None:
    ada, dup = ContactFactory(), ContactFactory()
    vip, old = TagFactory(name="vip"), TagFactory(name="old")
    ada.tags.add(vip)
    dup.tags.add(vip, old)
    note = ActivityFactory(contact=dup)
    meeting = ActivityFactory(contact=ContactFactory(), kind=Activity.Kind.MEETING)
    meeting.attendees.add(ada, dup)
    shared, own = DealFactory(), DealFactory()
    DealContact.objects.create(deal=shared, contact=ada)
    DealContact.objects.create(deal=shared, contact=dup, is_primary=True)
    DealContact.objects.create(deal=own, contact=dup)
    lead = LeadFactory(converted_contact=dup)

    contact_merge(survivor=ada, others=[dup], fields={}, by=member_a)

    assert Activity.objects.get(pk=note.pk).contact_id == ada.pk
    assert list(meeting.attendees.all()) == [ada]
    assert set(ada.tags.values_list("name", flat=True)) == {"vip", "old"}
    assert list(
        DealContact.objects.filter(deal=shared).values_list("contact_id", "is_primary")
    ) == [(ada.pk, True)]
    assert list(own.contacts.all()) == [ada]
    assert Lead.objects.get(pk=lead.pk).converted_contact_id == ada.pk


def test_custom_values_follow_the_choice_sensitive_ones_included(member_a: User) -> None:
    CustomFieldFactory(key="shoe", label="Shoe size", type=CustomField.Type.TEXT)
    CustomFieldFactory(key="iban", label="IBAN", type=CustomField.Type.TEXT, sensitive=True)
    ada = contact_create(by=member_a, first_name="Ada", custom={"shoe": "38"})
    dup = contact_create(by=member_a, first_name="Ada", custom={"shoe": "39", "iban": "DE89"})

    contact_merge(
        survivor=ada,
        others=[dup],
        fields={"custom.shoe": dup.pk, "custom.iban": dup.pk},
        by=member_a,
    )

    kept = Contact.objects.get(pk=ada.pk)
    assert kept.custom == {"shoe": "39"}
    assert kept.custom_sealed == {"iban": "DE89"}


def test_a_company_merge_moves_contacts_deals_and_activities(member_a: User) -> None:
    acme, dup = CompanyFactory(name="Acme"), CompanyFactory(name="ACME Inc.", domain="acme.test")
    person, trashed_person = ContactFactory(company=dup), ContactFactory(company=dup)
    Contact.objects.filter(pk=trashed_person.pk).update(deleted_at=person.created_at)
    deal = DealFactory(company=dup)
    call = ActivityFactory(contact=None, company=dup, kind=Activity.Kind.CALL)

    kept = company_merge(survivor=acme, others=[dup], fields={"domain": dup.pk}, by=member_a)

    assert (kept.name, Company.objects.get(pk=acme.pk).domain) == ("Acme", "acme.test")
    assert list(acme.contacts.all()) == [person]
    assert Contact.with_trashed.get(pk=trashed_person.pk).company_id == acme.pk
    assert Deal.objects.get(pk=deal.pk).company_id == acme.pk
    assert Activity.objects.get(pk=call.pk).company_id == acme.pk
    assert Company.trashed.filter(pk=dup.pk).exists()


def test_several_records_merge_into_one(member_a: User) -> None:
    ada, dup1, dup2 = ContactFactory(), ContactFactory(title="CEO"), ContactFactory()
    contact_merge(survivor=ada, others=[dup1, dup2], fields={"title": dup1.pk}, by=member_a)
    assert Contact.objects.get(pk=ada.pk).title == "CEO"
    assert set(Contact.trashed.values_list("pk", flat=True)) == {dup1.pk, dup2.pk}


def test_a_record_is_not_merged_with_itself(member_a: User) -> None:
    ada = ContactFactory()
    with pytest.raises(MergeInvalid) as raised:
        contact_merge(survivor=ada, others=[ada], fields={}, by=member_a)
    assert raised.value.field == "others"


def test_a_trashed_record_is_not_merged(member_a: User) -> None:
    ada, gone = ContactFactory(), ContactFactory()
    Contact.objects.filter(pk=gone.pk).update(deleted_at=ada.created_at)
    with pytest.raises(MergeInvalid):
        contact_merge(survivor=ada, others=[gone], fields={}, by=member_a)
    assert Contact.trashed.filter(pk=gone.pk).exists()


@pytest.mark.parametrize(
    "fields",
    [{"nickname": "survivor"}, {"title": "other-org"}, {"title": True}, {"custom.nope": "dup"}],
)
def test_bad_choices_are_field_errors_and_change_nothing(member_a: User, fields: dict) -> None:
    ada, dup = ContactFactory(title="CTO"), ContactFactory(title="CEO")
    names = {"survivor": ada.pk, "dup": dup.pk, "other-org": dup.pk + 1000}
    given = {key: names.get(value, value) for key, value in fields.items()}
    with pytest.raises(InvalidFields) as raised:
        contact_merge(survivor=ada, others=[dup], fields=given, by=member_a)
    assert list(raised.value.errors) == [f"fields.{next(iter(fields))}"]
    assert Contact.objects.filter(pk=dup.pk).exists()


def test_a_failure_half_way_leaves_everything_as_it_was(member_a: User) -> None:
    ada = contact_create(by=member_a, first_name="Ada", email="ada@example.com")
    dup = contact_create(by=member_a, first_name="Ada", email="ada2@example.com")
    third = contact_create(by=member_a, first_name="Other", email="ada3@example.com")
    note = ActivityFactory(contact=dup)
    # Taking dup's address while a third contact (not merged) holds it fails at the end.
    Contact.objects.filter(pk=third.pk).update(email_index=dup.email_index)
    with pytest.raises(ContactEmailTaken):
        contact_merge(survivor=ada, others=[dup], fields={"email": dup.pk}, by=member_a)
    assert Contact.objects.filter(pk=dup.pk).exists()
    assert Activity.objects.get(pk=note.pk).contact_id == dup.pk
    assert Contact.objects.get(pk=ada.pk).email == "ada@example.com"


def test_the_survivors_timeline_says_what_was_merged_into_it_until_that_is_restored(
    member_a: User,
) -> None:
    ada, dup = ContactFactory(), ContactFactory(first_name="Ada", last_name="Duplicate")
    contact_merge(survivor=ada, others=[dup], fields={}, by=member_a)

    (merged,) = [e for e in timeline(ada) if e.kind == "merged"]
    assert merged.text == "Merged with Ada Duplicate, now in the trash"
    assert merged.by_id == member_a.pk

    record_restore(record=Contact.with_trashed.get(pk=dup.pk), by=member_a)
    assert [e for e in timeline(ada) if e.kind == "merged"] == []
