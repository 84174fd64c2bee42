"""The leads API: CRUD, filters and ordering, conversion, problem+json, query counts and
isolation between organizations."""

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Contact, Deal, Lead, Pipeline, Tag
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import CompanyFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, body, content_type="application/json")


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_lead_crud_round_trip(api: Client, tenant_a: Tenant, member_a: User) -> None:
    created = _post(
        api,
        "/api/v1/leads/",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@engine.test",
            "company_name": "Analytical Engines",
            "source": "referral",
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["owner_id"], body["status"], body["converted_contact"]) == (
        member_a.pk,
        "new",
        None,
    )
    # Scored in the background once committed: nothing yet.
    assert (body["score"], body["score_reasons"], body["scored_at"]) == (0, [], None)
    pk = body["id"]
    assert api.get(f"/api/v1/leads/{pk}/").json()["email"] == "ada@engine.test"
    patched = api.patch(
        f"/api/v1/leads/{pk}/",
        {"status": "disqualified", "disqualified_reason": "No budget"},
        content_type="application/json",
    )
    assert patched.status_code == 200
    assert patched.json()["disqualified_reason"] == "No budget"
    replaced = api.put(
        f"/api/v1/leads/{pk}/",
        {"last_name": "King", "status": "working"},
        content_type="application/json",
    )
    assert replaced.status_code == 200
    assert (replaced.json()["last_name"], replaced.json()["disqualified_reason"]) == ("King", "")
    assert api.delete(f"/api/v1/leads/{pk}/").status_code == 204
    assert api.get(f"/api/v1/leads/{pk}/").status_code == 404
    with tenant_context(tenant_a):
        assert not Lead.objects.filter(pk=pk).exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"first_name": "Ada"}, {"last_name"}),
        ({"last_name": "X", "email": "nope", "status": "won"}, {"email", "status"}),
        ({"last_name": "X", "status": "disqualified"}, {"disqualified_reason"}),
        ({"last_name": "X", "owner_id": 999999}, {"owner_id"}),
        ({"last_name": "X\x00"}, {"last_name"}),
        ({"last_name": 12}, {"last_name"}),
        ({"last_name": "X", "owner_id": 2**63}, {"owner_id"}),
    ],
)
def test_bad_fields_get_problem_json_and_save_nothing(
    api: Client, tenant_a: Tenant, body: dict[str, Any], fields: set[str]
) -> None:
    response = _post(api, "/api/v1/leads/", body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == fields
    with tenant_context(tenant_a):
        assert not Lead.objects.exists()


def test_the_owner_can_be_given_to_another_member(
    api: Client, tenant_a: Tenant, owner_a: User
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
    response = api.patch(
        f"/api/v1/leads/{lead.pk}/", {"owner_id": owner_a.pk}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["owner_id"] == owner_a.pk


def test_list_filters(api: Client, tenant_a: Tenant, member_a: User, owner_a: User) -> None:
    with tenant_context(tenant_a):
        mine = LeadFactory(owner_id=member_a.pk, status="working", source="event")
        theirs = LeadFactory(owner_id=owner_a.pk, status="qualified", source="referral")
        tagged = LeadFactory(owner_id=owner_a.pk, last_name="Zweistein", company_name="Zeta AG")
        tagged.tags.add(Tag.objects.create(name="Hot"))
        old = LeadFactory(email="old@lead.test", phone="+44 20 7946 0000")
        Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    assert _ids(api.get("/api/v1/leads/", {"status": "working"})) == [mine.pk]
    assert _ids(api.get("/api/v1/leads/", {"source": "referral"})) == [theirs.pk]
    assert _ids(api.get("/api/v1/leads/", {"mine": "true"})) == [mine.pk]
    assert _ids(api.get("/api/v1/leads/", {"owner": owner_a.pk})) == [tagged.pk, theirs.pk]
    assert _ids(api.get("/api/v1/leads/", {"tag": "hot"})) == [tagged.pk]
    assert _ids(api.get("/api/v1/leads/", {"q": "zweist"})) == [tagged.pk]
    assert _ids(api.get("/api/v1/leads/", {"q": "zeta"})) == [tagged.pk]
    assert _ids(api.get("/api/v1/leads/", {"q": "OLD@lead.test"})) == [old.pk]
    assert _ids(api.get("/api/v1/leads/", {"q": "+442079460000"})) == [old.pk]
    long_ago = (timezone.now() - dt.timedelta(days=30)).date().isoformat()
    assert _ids(api.get("/api/v1/leads/", {"created_before": long_ago})) == [old.pk]
    assert old.pk not in _ids(api.get("/api/v1/leads/", {"created_after": long_ago}))


def test_list_ordering_by_name_and_status(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        b = LeadFactory(last_name="Babbage", status="working")
        a = LeadFactory(last_name="Ada", status="qualified")
        c = LeadFactory(last_name="Curie", status="new")
    assert _ids(api.get("/api/v1/leads/", {"ordering": "name"})) == [a.pk, b.pk, c.pk]
    assert _ids(api.get("/api/v1/leads/", {"ordering": "-name"})) == [c.pk, b.pk, a.pk]
    assert _ids(api.get("/api/v1/leads/", {"ordering": "status"})) == [c.pk, a.pk, b.pk]
    assert _ids(api.get("/api/v1/leads/")) == [c.pk, a.pk, b.pk]
    two = api.get("/api/v1/leads/", {"ordering": "name", "page_size": 2})
    assert _ids(two) == [a.pk, b.pk]
    assert _ids(api.get(two.json()["next"])) == [c.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "won"},
        {"owner": "me"},
        {"owner": str(2**64)},
        {"created_after": "yesterday"},
        {"ordering": "probability"},
        {"q": "a\x00b"},
        {"tag": "x" * 51},
    ],
)
def test_bad_filters_get_problem_json(api: Client, params: dict[str, str]) -> None:
    response = api.get("/api/v1/leads/", params)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(params)


def test_list_query_count_does_not_grow_with_leads(
    api: Client, tenant_a: Tenant, django_assert_max_num_queries: Any
) -> None:
    with tenant_context(tenant_a):
        hot = Tag.objects.create(name="Hot")
        for lead in LeadFactory.create_batch(30):
            lead.tags.add(hot)
    with django_assert_max_num_queries(12):
        response = api.get("/api/v1/leads/", {"page_size": 100})
    assert len(response.json()["results"]) == 30
    assert response.json()["results"][0]["tags"] == ["Hot"]


def test_convert_answers_what_the_lead_became(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(company_name="Hooli", email="gavin@hooli.test")
        pipeline = Pipeline.objects.get(is_default=True)
    response = _post(
        api,
        f"/api/v1/leads/{lead.pk}/convert/",
        {
            "create_deal": True,
            "deal_name": "Hooli XYZ",
            "pipeline": pipeline.pk,
            "amount": "2500.00",
            "currency": "EUR",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    with tenant_context(tenant_a):
        deal = Deal.objects.get(pk=body["deal"])
        assert deal.company_id == body["company"]
        assert Contact.objects.get(pk=body["contact"]).company_id == body["company"]
    assert (deal.name, str(deal.amount), deal.currency) == ("Hooli XYZ", "2500.00", "EUR")
    assert body["lead"]["converted_deal"] == deal.pk
    assert body["lead"]["status"] == "qualified"
    assert body["contact_created"] and body["company_created"]


def test_converting_twice_is_409(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
    first = _post(api, f"/api/v1/leads/{lead.pk}/convert/", {})
    assert first.status_code == 200
    again = _post(api, f"/api/v1/leads/{lead.pk}/convert/", {"create_deal": True})
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    assert again.json()["code"] == "lead-already-converted"
    assert again.json()["contact"] == first.json()["contact"]


def test_converting_a_disqualified_lead_needs_confirmation(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(status="disqualified", disqualified_reason="Competitor")
    refused = _post(api, f"/api/v1/leads/{lead.pk}/convert/", {})
    assert refused.status_code == 409
    assert refused.json()["code"] == "lead-disqualified"
    with tenant_context(tenant_a):
        assert not Contact.objects.exists()
    confirmed = _post(api, f"/api/v1/leads/{lead.pk}/convert/", {"confirm_disqualified": True})
    assert confirmed.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"create_deal": True, "amount": "-5"}, "amount"),
        ({"create_deal": True, "currency": "ABC"}, "currency"),
        ({"create_deal": True, "pipeline": 999999}, "pipeline"),
        ({"create_deal": "yes"}, "create_deal"),
        ({"deal_name": "x" * 201}, "deal_name"),
    ],
)
def test_convert_field_errors_change_nothing(
    api: Client, tenant_a: Tenant, body: dict[str, Any], field: str
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
    response = _post(api, f"/api/v1/leads/{lead.pk}/convert/", body)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).converted_at is None
        assert not Contact.objects.exists()


def test_convert_reuses_a_contact_found_by_email(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(email="same@person.test")
        company = CompanyFactory(name="Person Ltd", domain="person.test")
        lead = LeadFactory(email="Same@Person.test", company_name="")
    body = _post(api, f"/api/v1/leads/{lead.pk}/convert/", {}).json()
    assert (body["contact"], body["contact_created"]) == (contact.pk, False)
    assert (body["company"], body["company_created"]) == (company.pk, False)


def test_leads_of_a_are_invisible_from_b(tenant_a: Tenant, tenant_b: Tenant, owner_b: User) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(last_name="Alpha-Only-Lead")
        pipeline = Pipeline.objects.get(is_default=True)
    client = token_client(owner_b, tenant_b)
    listing = client.get("/api/v1/leads/", {"q": "Alpha-Only"})
    assert listing.status_code == 200
    assert listing.json()["results"] == []
    assert "Alpha-Only-Lead" not in client.get("/api/v1/leads/").content.decode()
    url = f"/api/v1/leads/{lead.pk + 100000}/"
    for path in (f"/api/v1/leads/{lead.pk}/", url):
        assert client.get(path).status_code == 404
        assert client.patch(path, {}, content_type="application/json").status_code == 404
        assert client.delete(path).status_code == 404
    converted = _post(client, f"/api/v1/leads/{lead.pk}/convert/", {"pipeline": pipeline.pk})
    assert converted.status_code == 404
    assert converted["Content-Type"] == "application/problem+json"
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).converted_at is None


def test_a_token_of_a_does_not_reach_the_leads_at_bs_host(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User
) -> None:
    client = token_client(member_a, tenant_a, host=tenant_b)
    assert client.get("/api/v1/leads/").status_code == 401
