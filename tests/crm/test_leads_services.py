"""Lead services: validation, status changes, owners, and conversion into a contact, a
company and a deal, all or nothing."""

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection
from django_tenants.utils import tenant_context

from crm.exceptions import LeadAlreadyConverted, LeadDisqualified
from crm.models import Company, Contact, Deal, DealStageChange, Lead, Pipeline, Stage
from crm.services.leads import lead_convert, lead_create, lead_owner_set, lead_update
from iam.models import User
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.factories import UserFactory

from .factories import CompanyFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_a(tenant_a: Tenant) -> Iterator[Tenant]:
    with tenant_context(tenant_a):
        yield tenant_a


def test_a_lead_is_owned_by_its_creator(in_a: Tenant, member_a: User) -> None:
    lead = lead_create(by=member_a, last_name="Lovelace", email="ada@engine.test")
    assert lead.owner_id == member_a.pk
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.NEW


def test_lead_fields_are_checked_together_and_nothing_is_saved(
    in_a: Tenant, member_a: User
) -> None:
    with pytest.raises(InvalidFields) as caught:
        lead_create(
            by=member_a,
            last_name=" ",
            email="not-an-address",
            phone="call me",
            source="rumour",
            first_name="A\x00da",
        )
    assert set(caught.value.errors) == {"last_name", "email", "phone", "source", "first_name"}
    assert not Lead.objects.exists()


def test_disqualifying_needs_a_reason(in_a: Tenant, member_a: User) -> None:
    lead = LeadFactory()
    with pytest.raises(InvalidFields) as caught:
        lead_update(lead=lead, by=member_a, status=Lead.Status.DISQUALIFIED)
    assert set(caught.value.errors) == {"disqualified_reason"}
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.NEW


def test_requalifying_clears_the_reason(in_a: Tenant, member_a: User) -> None:
    lead = LeadFactory(status=Lead.Status.DISQUALIFIED, disqualified_reason="No budget")
    lead_update(lead=lead, by=member_a, status=Lead.Status.WORKING)
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.status, stored.disqualified_reason) == (Lead.Status.WORKING, "")


def test_owner_must_be_a_member_of_the_organization(
    in_a: Tenant, member_a: User, owner_a: User, owner_b: User
) -> None:
    lead = LeadFactory(owner_id=member_a.pk)
    lead_owner_set(lead=lead, by=member_a, owner_id=owner_a.pk)
    assert Lead.objects.get(pk=lead.pk).owner_id == owner_a.pk
    stranger = UserFactory()
    for outsider in (owner_b.pk, stranger.pk):
        with pytest.raises(InvalidFields) as caught:
            lead_owner_set(lead=lead, by=member_a, owner_id=outsider)
        assert set(caught.value.errors) == {"owner_id"}
    assert Lead.objects.get(pk=lead.pk).owner_id == owner_a.pk


def test_convert_creates_contact_and_company_and_links_them(
    in_a: Tenant, member_a: User, owner_a: User
) -> None:
    lead = LeadFactory(
        first_name="Grace",
        last_name="Hopper",
        email="grace@cobol.test",
        phone="+1 555 0100",
        title="Rear admiral",
        company_name="Cobol Works",
        owner_id=owner_a.pk,
    )
    result = lead_convert(lead=lead, by=member_a)
    contact = Contact.objects.select_related("company").get(pk=result.contact.pk)
    assert (contact.full_name, contact.email, contact.phone, contact.title) == (
        "Grace Hopper",
        "grace@cobol.test",
        "+1 555 0100",
        "Rear admiral",
    )
    assert contact.owner_id == owner_a.pk
    assert contact.company is not None
    assert (contact.company.name, contact.company.domain) == ("Cobol Works", "cobol.test")
    stored = Lead.objects.get(pk=lead.pk)
    assert stored.converted_contact_id == contact.pk
    assert stored.converted_company_id == contact.company.pk
    assert stored.converted_deal_id is None
    assert stored.converted_at is not None
    assert stored.status == Lead.Status.QUALIFIED
    assert result.contact_created and result.company_created


def test_convert_matches_a_company_by_name_case_aside(in_a: Tenant, member_a: User) -> None:
    existing = CompanyFactory(name="Initech", domain="initech.test")
    lead = LeadFactory(company_name="INITECH", email="peter@elsewhere.test")
    result = lead_convert(lead=lead, by=member_a)
    assert result.company == existing
    assert not result.company_created
    assert Company.objects.count() == 1


def test_convert_matches_a_company_by_the_email_domain(in_a: Tenant, member_a: User) -> None:
    existing = CompanyFactory(name="Initech Corporation", domain="initech.test")
    lead = LeadFactory(company_name="Initech", email="Peter@Initech.test")
    result = lead_convert(lead=lead, by=member_a)
    assert result.company == existing
    assert Contact.objects.get(pk=result.contact.pk).company == existing


def test_convert_never_matches_a_free_mail_domain(in_a: Tenant, member_a: User) -> None:
    CompanyFactory(name="Someone's gmail company", domain="gmail.com")
    lead = LeadFactory(company_name="", email="peter@gmail.com")
    result = lead_convert(lead=lead, by=member_a)
    assert result.company is None
    assert Contact.objects.get(pk=result.contact.pk).company is None


def test_convert_reuses_the_contact_with_the_same_email(in_a: Tenant, member_a: User) -> None:
    existing = ContactFactory(first_name="Ada", email="ada@engine.test")
    lead = LeadFactory(first_name="Augusta", email=" ADA@engine.test ")
    result = lead_convert(lead=lead, by=member_a)
    assert result.contact == existing
    assert not result.contact_created
    assert Contact.objects.count() == 1
    assert Lead.objects.get(pk=lead.pk).converted_contact_id == existing.pk


def test_convert_with_a_deal_starts_it_in_the_first_open_stage(
    in_a: Tenant, member_a: User
) -> None:
    pipeline = Pipeline.objects.create(name="Partners")
    Stage.objects.create(pipeline=pipeline, name="Dormant", position=0, probability=0, is_lost=True)
    Stage.objects.create(pipeline=pipeline, name="Old", position=1, probability=5, is_archived=True)
    first_open = Stage.objects.create(pipeline=pipeline, name="Talking", position=2, probability=20)
    lead = LeadFactory(company_name="Hooli", email="gavin@hooli.test")
    result = lead_convert(
        lead=lead,
        by=member_a,
        create_deal=True,
        deal_name="Hooli platform",
        pipeline=pipeline,
        amount=Decimal("12500.50"),
        currency="eur",
    )
    assert result.deal is not None
    deal = Deal.objects.get(pk=result.deal.pk)
    assert (deal.name, deal.stage, deal.pipeline) == ("Hooli platform", first_open, pipeline)
    assert (deal.amount, deal.currency) == (Decimal("12500.50"), "EUR")
    assert deal.company == result.company
    assert list(deal.deal_contacts.values_list("contact", "is_primary")) == [
        (result.contact.pk, True)
    ]
    change = DealStageChange.objects.get(deal=deal)
    assert (change.from_stage, change.to_stage, change.to_stage_name) == (
        None,
        first_open,
        "Talking",
    )
    assert change.by_id == member_a.pk
    assert Lead.objects.get(pk=lead.pk).converted_deal_id == deal.pk


def test_convert_uses_the_default_pipeline_when_none_is_given(in_a: Tenant, member_a: User) -> None:
    lead = LeadFactory(company_name="Pied Piper")
    result = lead_convert(lead=lead, by=member_a, create_deal=True)
    assert result.deal is not None
    default = Pipeline.objects.get(is_default=True)
    assert result.deal.pipeline == default
    assert result.deal.stage == default.stages.order_by("position").first()
    assert result.deal.name == "Pied Piper"


def test_converting_twice_is_refused(in_a: Tenant, member_a: User) -> None:
    lead = LeadFactory()
    first = lead_convert(lead=lead, by=member_a)
    with pytest.raises(LeadAlreadyConverted) as caught:
        lead_convert(lead=Lead.objects.get(pk=lead.pk), by=member_a, create_deal=True)
    assert caught.value.status == 409
    assert caught.value.extra["contact"] == first.contact.pk
    assert Contact.objects.count() == 1
    assert not Deal.objects.exists()


def test_a_disqualified_lead_is_converted_only_when_confirmed(in_a: Tenant, member_a: User) -> None:
    lead = LeadFactory(status=Lead.Status.DISQUALIFIED, disqualified_reason="Student")
    with pytest.raises(LeadDisqualified) as caught:
        lead_convert(lead=lead, by=member_a)
    assert caught.value.status == 409
    assert not Contact.objects.exists()
    assert Lead.objects.get(pk=lead.pk).converted_at is None
    result = lead_convert(lead=lead, by=member_a, confirm_disqualified=True)
    assert Lead.objects.get(pk=lead.pk).converted_contact_id == result.contact.pk


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"amount": Decimal("-1")}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"deal_name": "x" * 201}, "deal_name"),
    ],
)
def test_a_bad_deal_converts_nothing(
    in_a: Tenant, member_a: User, options: dict[str, object], field: str
) -> None:
    lead = LeadFactory(company_name="Acme")
    with pytest.raises(InvalidFields) as caught:
        lead_convert(lead=lead, by=member_a, create_deal=True, **options)  # type: ignore[arg-type]
    assert set(caught.value.errors) == {field}
    assert not Contact.objects.exists()
    assert not Company.objects.exists()
    assert Lead.objects.get(pk=lead.pk).converted_at is None


def test_convert_is_all_or_nothing_when_the_last_write_fails(in_a: Tenant, member_a: User) -> None:
    """The stage history row is written after the contact, the company and the deal: when
    the database refuses it, none of them remains and the lead is not converted."""
    with connection.cursor() as cur:
        cur.execute(
            "CREATE FUNCTION refuse_stage_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
        )
        cur.execute(
            "CREATE TRIGGER refuse_stage_change BEFORE INSERT ON crm_dealstagechange "
            "FOR EACH ROW EXECUTE FUNCTION refuse_stage_change()"
        )
    lead = LeadFactory(company_name="Globex", email="hank@globex.test")
    with pytest.raises(DatabaseError):
        lead_convert(lead=lead, by=member_a, create_deal=True, amount=Decimal(10))
    assert not Contact.objects.exists()
    assert not Company.objects.exists()
    assert not Deal.objects.exists()
    stored = Lead.objects.get(pk=lead.pk)
    assert stored.converted_at is None
    assert stored.converted_contact_id is None


def test_a_reused_contact_without_a_company_joins_the_leads(in_a: Tenant, member_a: User) -> None:
    existing = ContactFactory(email="ada@engine.test", company=None)
    lead = LeadFactory(email="ada@engine.test", company_name="Engines Ltd")
    result = lead_convert(lead=lead, by=member_a)
    assert result.contact == existing
    assert Contact.objects.get(pk=existing.pk).company == result.company
    assert result.company is not None and result.company.name == "Engines Ltd"
