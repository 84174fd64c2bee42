"""The scoring API: rules for owners and admins, read-only scores on leads and contacts,
ordering by score, the explanation of a lead's score, and isolation between organizations."""

from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Lead, ScoringRule
from crm.services.scoring import leads_score_refresh
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


@pytest.fixture
def member_api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, body, content_type="application/json")


def test_an_owner_adds_a_rule_and_reads_it_in_plain_words(owner_api: Client) -> None:
    created = _post(
        owner_api,
        "/api/v1/scoring-rules/",
        {"condition": "title_contains", "value": "CTO", "points": 20},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["label"], body["points"], body["number"]) == ("Title contains “CTO”", 20, None)
    listed = owner_api.get("/api/v1/scoring-rules/").json()
    assert body["id"] in [rule["id"] for rule in listed]


def test_a_member_reads_the_rules_but_cannot_change_them(
    member_api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        rule = ScoringRule.objects.first()
        assert rule is not None
        count = ScoringRule.objects.count()
    assert member_api.get("/api/v1/scoring-rules/").status_code == 200
    refused = _post(member_api, "/api/v1/scoring-rules/", {"condition": "has_phone", "points": 5})
    assert refused.status_code == 403
    patch = member_api.patch(
        f"/api/v1/scoring-rules/{rule.pk}/", {"points": 99}, content_type="application/json"
    )
    assert patch.status_code == 403
    assert member_api.delete(f"/api/v1/scoring-rules/{rule.pk}/").status_code == 403
    with tenant_context(tenant_a):
        assert ScoringRule.objects.count() == count
        assert ScoringRule.objects.get(pk=rule.pk).points == rule.points


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"condition": "min_calls", "points": 10}, "number"),
        ({"condition": "title_contains", "points": 10}, "value"),
        ({"condition": "has_phone", "points": 101}, "points"),
        ({"condition": "source_is", "value": "rumour", "points": 5}, "value"),
        ({"condition": "tag_is", "value": "v\u0000ip", "points": 5}, "value"),
    ],
)
def test_a_bad_rule_gets_a_field_error_and_changes_nothing(
    owner_api: Client, tenant_a: Tenant, body: dict[str, Any], field: str
) -> None:
    with tenant_context(tenant_a):
        count = ScoringRule.objects.count()
    response = _post(owner_api, "/api/v1/scoring-rules/", body)
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in response.json()["errors"]
    with tenant_context(tenant_a):
        assert ScoringRule.objects.count() == count


def test_a_rule_of_another_organization_answers_404(
    tenant_a: Tenant, tenant_b: Tenant, owner_api: Client
) -> None:
    with tenant_context(tenant_b):
        rule = ScoringRule.objects.create(condition="has_phone", points=7)
    with tenant_context(tenant_a):  # ids are per schema: A has none with this one
        ScoringRule.objects.filter(pk=rule.pk).delete()
    url = f"/api/v1/scoring-rules/{rule.pk}/"
    assert owner_api.get(url).status_code == 404
    assert owner_api.patch(url, {"points": 50}, content_type="application/json").status_code == 404
    assert owner_api.delete(url).status_code == 404
    with tenant_context(tenant_b):
        assert ScoringRule.objects.get(pk=rule.pk).points == 7


def test_scores_are_read_only_on_leads(member_api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
    response = member_api.patch(
        f"/api/v1/leads/{lead.pk}/",
        {"score": 99, "score_reasons": [{"factor": "Me", "points": 99}]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    with tenant_context(tenant_a):
        stored = Lead.objects.get(pk=lead.pk)
    assert (stored.score, stored.score_reasons) == (0, [])


def test_leads_sort_by_score(member_api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        ScoringRule.objects.all().delete()
        ScoringRule.objects.create(condition="title_contains", value="VP", points=40)
        ScoringRule.objects.create(condition="has_phone", points=20)
        low = LeadFactory(title="Intern")
        mid = LeadFactory(title="Intern", phone="+1 555 0100")
        high = LeadFactory(title="VP Ops", phone="+1 555 0101")
        leads_score_refresh()
    response = member_api.get("/api/v1/leads/?ordering=-score")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [high.pk, mid.pk, low.pk]
    assert [row["score"] for row in rows] == [80, 40, 20]
    assert all(sum(r["points"] for r in row["score_reasons"]) == row["score"] for row in rows)


def test_a_leads_score_is_explained(member_api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        ScoringRule.objects.all().delete()
        ScoringRule.objects.create(condition="source_is", value="referral", points=15)
        lead = LeadFactory(source="referral")
        leads_score_refresh()
    response = member_api.get(f"/api/v1/leads/{lead.pk}/score/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["score"] == 35
    assert body["reasons"] == [
        {"factor": "Starting score", "points": 20, "kind": "base"},
        {"factor": "Source is Referral", "points": 15, "kind": "rule"},
    ]
    assert body["model"] is None
    assert body["scored_at"] is not None


def test_the_score_of_a_lead_of_another_organization_answers_404(
    member_api: Client, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        lead = LeadFactory()
    assert member_api.get(f"/api/v1/leads/{lead.pk}/score/").status_code == 404


def test_contacts_carry_their_score(member_api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
    body = member_api.get(f"/api/v1/contacts/{contact.pk}/").json()
    assert (body["score"], body["score_reasons"], body["scored_at"]) == (0, [], None)


def test_listing_rules_takes_a_fixed_number_of_queries(
    member_api: Client, tenant_a: Tenant, django_assert_max_num_queries: Any
) -> None:
    with tenant_context(tenant_a):
        for i in range(20):
            ScoringRule.objects.create(condition="tag_is", value=f"t{i}", points=1)
    with django_assert_max_num_queries(12):
        assert len(member_api.get("/api/v1/scoring-rules/").json()) >= 20


def test_the_schema_describes_the_score_and_keeps_the_conversion_s_own(
    member_api: Client,
) -> None:
    import json

    schema = json.loads(
        member_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content
    )
    paths = schema["paths"]
    score = paths["/api/v1/leads/{id}/score/"]["get"]
    assert score["summary"] == "Explain a lead's score"
    assert score["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/LeadScore"
    )
    convert = paths["/api/v1/leads/{id}/convert/"]["post"]
    assert convert["summary"] == "Convert a lead"
    assert "LeadConvertRequest" in json.dumps(convert["requestBody"])
    rules = paths["/api/v1/scoring-rules/"]
    assert {rules["get"]["summary"], rules["post"]["summary"]} == {
        "List scoring rules",
        "Create a scoring rule",
    }
    lead = schema["components"]["schemas"]["Lead"]
    assert {"score", "score_reasons", "scored_at"} <= set(lead["properties"])
    assert all(lead["properties"][f].get("readOnly") for f in ("score", "scored_at"))
