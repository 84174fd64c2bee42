"""The lead scoring settings page (owners and admins), its live preview, and the score on
the lead's page and in the lead list."""

from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Lead, ScoringRule
from crm.services.scoring import leads_score_refresh
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


@pytest.fixture
def no_rules(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        ScoringRule.objects.all().delete()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/settings/scoring/"),
        ("post", "/settings/scoring/rules/"),
        ("get", "/settings/scoring/preview/?condition=has_phone&points=5"),
    ],
)
def test_a_member_gets_403_on_the_scoring_settings(
    client_a: Client, tenant_a: Tenant, method: str, path: str
) -> None:
    with tenant_context(tenant_a):
        count = ScoringRule.objects.count()
    response = getattr(client_a, method)(path, {"condition": "has_phone", "points": 5})
    assert response.status_code == 403
    with tenant_context(tenant_a):
        assert ScoringRule.objects.count() == count


def test_a_member_gets_403_when_editing_or_deleting_a_rule(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        rule = ScoringRule.objects.create(condition="has_phone", points=5)
    assert client_a.get(f"/settings/scoring/rules/{rule.pk}/").status_code == 403
    assert client_a.post(f"/settings/scoring/rules/{rule.pk}/delete/").status_code == 403
    with tenant_context(tenant_a):
        assert ScoringRule.objects.filter(pk=rule.pk).exists()


def test_members_do_not_see_the_scoring_settings_in_the_menu(client_a: Client) -> None:
    assert b"/settings/scoring/" not in client_a.get("/leads/").content


def test_an_owner_adds_a_rule_and_it_is_listed(owner_client: Client, no_rules: None) -> None:
    response = owner_client.post(
        "/settings/scoring/rules/", {"condition": "title_contains", "value": "CTO", "points": 20}
    )
    assert response.status_code == 302
    page = owner_client.get("/settings/scoring/")
    assert "Title contains “CTO”" in page.content.decode()
    assert b"/settings/scoring/" in page.content  # the menu links it for owners


def test_a_bad_rule_shows_a_field_error_and_saves_nothing(
    owner_client: Client, tenant_a: Tenant, no_rules: None
) -> None:
    response = owner_client.post(
        "/settings/scoring/rules/", {"condition": "min_calls", "number": "", "points": 10}
    )
    assert response.status_code == 400
    assert "Give a whole number from 1 to 3650." in response.content.decode()
    with tenant_context(tenant_a):
        assert not ScoringRule.objects.exists()


def test_an_owner_edits_and_deletes_a_rule(
    owner_client: Client, tenant_a: Tenant, no_rules: None
) -> None:
    with tenant_context(tenant_a):
        rule = ScoringRule.objects.create(condition="has_phone", points=5)
    form = owner_client.get(f"/settings/scoring/rules/{rule.pk}/")
    assert form.status_code == 200
    saved = owner_client.post(
        f"/settings/scoring/rules/{rule.pk}/", {"condition": "has_phone", "points": -7}
    )
    assert saved.status_code == 302
    with tenant_context(tenant_a):
        assert ScoringRule.objects.get(pk=rule.pk).points == -7
    assert owner_client.post(f"/settings/scoring/rules/{rule.pk}/delete/").status_code == 302
    with tenant_context(tenant_a):
        assert not ScoringRule.objects.exists()


def test_a_rule_of_another_organization_answers_404(
    owner_client: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        rule = ScoringRule.objects.create(condition="has_phone", points=5)
    with tenant_context(tenant_a):
        ScoringRule.objects.filter(pk=rule.pk).delete()
    assert owner_client.get(f"/settings/scoring/rules/{rule.pk}/").status_code == 404
    assert owner_client.post(f"/settings/scoring/rules/{rule.pk}/delete/").status_code == 404
    with tenant_context(tenant_b):
        assert ScoringRule.objects.filter(pk=rule.pk).exists()


def test_the_preview_shows_the_edited_rule_s_effect_and_saves_nothing(
    owner_client: Client, tenant_a: Tenant, no_rules: None
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(first_name="Vera", last_name="Vice", title="VP Finance")
        leads_score_refresh()
    response = owner_client.get(
        "/settings/scoring/preview/",
        {"condition": "title_contains", "value": "VP", "points": "30"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    text = " ".join(response.content.decode().split())
    assert "Vera Vice" in text
    assert '20 → <strong class="text-ink">50</strong>' in text
    with tenant_context(tenant_a):
        assert not ScoringRule.objects.exists()
        assert Lead.objects.get(pk=lead.pk).score == 20


def test_an_incomplete_rule_previews_nothing(owner_client: Client, no_rules: None) -> None:
    response = owner_client.get(
        "/settings/scoring/preview/", {"condition": "min_calls", "points": "5"}
    )
    assert response.status_code == 200
    assert b"preview-problem" in response.content


def test_the_settings_page_takes_a_fixed_number_of_queries(
    owner_client: Client, tenant_a: Tenant, django_assert_max_num_queries: Any
) -> None:
    with tenant_context(tenant_a):
        for _ in range(30):
            LeadFactory()
    with django_assert_max_num_queries(25):
        assert owner_client.get("/settings/scoring/").status_code == 200


def test_the_lead_page_shows_the_score_its_reasons_and_when_it_changed(
    client_a: Client, tenant_a: Tenant, no_rules: None
) -> None:
    with tenant_context(tenant_a):
        ScoringRule.objects.create(condition="source_is", value="referral", points=15)
        lead = LeadFactory(source="referral")
        leads_score_refresh()
    text = " ".join(client_a.get(f"/leads/{lead.pk}/").content.decode().split())
    assert 'data-testid="score">35' in text
    assert "Source is Referral" in text
    assert "+15" in text
    assert "Last changed" in text


def test_the_lead_list_sorts_by_score_best_first(
    client_a: Client, tenant_a: Tenant, no_rules: None
) -> None:
    with tenant_context(tenant_a):
        ScoringRule.objects.create(condition="has_phone", points=30)
        plain = LeadFactory(last_name="Plain")
        keen = LeadFactory(last_name="Keen", phone="+44 20 7946 0000")
        leads_score_refresh()
    page = client_a.get("/leads/")
    assert b"ordering=-score" in page.content  # the column's first click: best first
    text = client_a.get("/leads/", {"ordering": "-score"}).content.decode()
    assert text.index(keen.full_name) < text.index(plain.full_name)
    text = client_a.get("/leads/", {"ordering": "score"}).content.decode()
    assert text.index(plain.full_name) < text.index(keen.full_name)


def test_the_contact_page_shows_its_score(
    client_a: Client, tenant_a: Tenant, no_rules: None
) -> None:
    from crm.services.scoring import contacts_score_refresh

    from .factories import ContactFactory

    with tenant_context(tenant_a):
        ScoringRule.objects.create(condition="has_phone", points=10)
        contact = ContactFactory(phone="+1 555 0199")
        contacts_score_refresh()
    text = " ".join(client_a.get(f"/contacts/{contact.pk}/").content.decode().split())
    assert 'data-testid="score">30' in text
    assert "Has a phone number" in text
