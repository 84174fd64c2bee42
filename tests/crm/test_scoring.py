"""Lead scoring: rules and their reasons, the limits, the preview, the model trained on an
organization's own history (and only there), and rescoring in the background."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm import tasks
from crm.models import Activity, Lead, ScoringModel, ScoringRule, Stage
from crm.selectors.scoring import (
    MIN_OUTCOMES,
    STARTING_POINTS,
    lead_facts,
    lead_facts_queryset,
    model_win_chance,
    score_compute,
    scoring_preview,
)
from crm.services.activities import activity_create, activity_update
from crm.services.leads import lead_update
from crm.services.scoring import (
    leads_score_refresh,
    scoring_model_train,
    scoring_nightly,
    scoring_rule_create,
)
from iam.models import User
from problems.exceptions import InvalidFields
from tenants.models import Tenant

from .factories import DealFactory, LeadFactory

pytestmark = pytest.mark.django_db
C = ScoringRule.Condition


@pytest.fixture
def in_a(tenant_a: Tenant) -> Iterator[Tenant]:
    with tenant_context(tenant_a):
        ScoringRule.objects.all().delete()  # each test states the rules it scores with
        yield tenant_a


def _rule(condition: str, points: int, value: str = "", number: int | None = None) -> ScoringRule:
    return ScoringRule.objects.create(
        condition=condition, value=value, number=number, points=points
    )


def _stored(lead: Lead) -> Lead:
    return Lead.objects.get(pk=lead.pk)


def _sum(reasons: list[dict[str, Any]]) -> int:
    return sum(r["points"] for r in reasons)


def _calls(lead: Lead, n: int) -> None:
    Activity.objects.bulk_create(
        Activity(kind=Activity.Kind.CALL, direction="outbound", lead=lead) for _ in range(n)
    )


def _history(*, won: int, lost: int, won_calls: int = 3, lost_source: str = "cold") -> None:
    """Leads converted into deals that were won or lost: the won ones had more calls and
    came by referral, mostly; enough overlap that the outcome is not a rule."""
    stages = Stage.objects.filter(pipeline__is_default=True)
    won_stage, lost_stage = stages.get(is_won=True), stages.get(is_lost=True)
    for i in range(won + lost):
        is_won = i < won
        lead = LeadFactory(
            source="referral" if is_won and i % 5 else lost_source,
            title="VP Sales" if i % 3 == 0 else "Analyst",
            converted_deal=DealFactory(stage=won_stage if is_won else lost_stage),
        )
        _calls(lead, (won_calls + i % 2) if is_won else i % 2 + (1 if i % 7 == 0 else 0) * 4)


def test_a_new_organization_starts_with_default_rules(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        conditions = set(ScoringRule.objects.values_list("condition", flat=True))
    assert {C.TITLE_CONTAINS, C.SOURCE_IS, C.NO_ACTIVITY_DAYS, C.OPENED_DEAL} <= conditions


def test_rules_that_hold_give_their_points_and_the_reasons_sum_to_the_score(in_a: Tenant) -> None:
    _rule(C.TITLE_CONTAINS, 15, value="vp")
    _rule(C.SOURCE_IS, 10, value="referral")
    _rule(C.MIN_CALLS, 8, number=2)
    _rule(C.SOURCE_IS, 30, value="event")  # does not hold
    lead = LeadFactory(title="VP of Sales", source="referral")
    _calls(lead, 3)

    assert leads_score_refresh(lead_ids=[lead.pk]) == 1

    stored = _stored(lead)
    assert stored.score == STARTING_POINTS + 15 + 10 + 8
    assert [r["factor"] for r in stored.score_reasons] == [
        "Starting score",
        "Title contains “vp”",
        "Source is Referral",
        "At least 2 calls",
    ]
    assert _sum(stored.score_reasons) == stored.score
    assert stored.scored_at is not None


def test_a_title_rule_matches_whole_words_only(in_a: Tenant) -> None:
    _rule(C.TITLE_CONTAINS, 15, value="VP")
    leads_score_refresh(lead_ids=[LeadFactory(title="MVP engineer").pk])
    assert Lead.objects.get().score == STARTING_POINTS


@pytest.mark.parametrize(
    ("points", "score", "limit"),
    [(100, 100, "Capped at 100"), (-100, 0, "Raised to the minimum of 0")],
)
def test_a_score_stays_within_0_and_100_and_the_limit_is_a_reason(
    in_a: Tenant, points: int, score: int, limit: str
) -> None:
    _rule(C.HAS_PHONE, points)
    _rule(C.HAS_COMPANY_NAME, points)
    lead = LeadFactory(phone="+1 555 0100", company_name="Initech")
    leads_score_refresh(lead_ids=[lead.pk])
    stored = _stored(lead)
    assert stored.score == score
    assert stored.score_reasons[-1]["factor"] == limit
    assert _sum(stored.score_reasons) == score


def test_inactivity_takes_points_away_once_the_days_have_passed(in_a: Tenant) -> None:
    _rule(C.NO_ACTIVITY_DAYS, -15, number=30)
    lead = LeadFactory()
    leads_score_refresh()
    assert _stored(lead).score == STARTING_POINTS
    # A month and a day later, with nothing logged: the nightly round lowers it.
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    scoring_nightly()
    stored = _stored(lead)
    assert stored.score == STARTING_POINTS - 15
    assert "No activity in 30 days" in [r["factor"] for r in stored.score_reasons]


def test_a_recent_activity_keeps_an_old_lead_from_decaying(in_a: Tenant, owner_a: User) -> None:
    _rule(C.NO_ACTIVITY_DAYS, -15, number=30)
    lead = LeadFactory()
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - dt.timedelta(days=90))
    activity_create(by=owner_a, kind="note", body="Still interested", lead=lead)
    leads_score_refresh()
    assert _stored(lead).score == STARTING_POINTS


def test_scored_at_moves_only_when_the_score_changes(in_a: Tenant) -> None:
    lead = LeadFactory()
    leads_score_refresh()
    first = _stored(lead).scored_at
    assert leads_score_refresh() == 0
    assert _stored(lead).scored_at == first


def test_the_preview_scores_under_unsaved_rules_and_writes_nothing(in_a: Tenant) -> None:
    lead = LeadFactory(title="Head of IT")
    leads_score_refresh()
    before = _stored(lead)
    edited = [ScoringRule(condition=C.TITLE_CONTAINS, value="head", points=40)]

    [row] = scoring_preview(rules=edited)

    assert (row.current, row.preview.score, row.change) == (STARTING_POINTS, 60, 40)
    after = _stored(lead)
    assert (after.score, after.score_reasons, after.scored_at) == (
        before.score,
        before.score_reasons,
        before.scored_at,
    )
    assert not ScoringRule.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"condition": "title_contains", "points": 10},  # no value
        {"condition": "min_calls", "points": 10},  # no number
        {"condition": "has_phone", "points": 101},
        {"condition": "source_is", "value": "rumour", "points": 5},
        {"condition": "moon_phase", "points": 5},
        {"condition": "tag_is", "value": "v\x00ip", "points": 5},
    ],
)
def test_a_bad_rule_is_refused_with_field_errors(
    in_a: Tenant, owner_a: User, data: dict[str, Any]
) -> None:
    with pytest.raises(InvalidFields):
        scoring_rule_create(by=owner_a, **data)
    assert not ScoringRule.objects.exists()


def test_no_model_is_trained_below_50_won_and_50_lost(in_a: Tenant) -> None:
    _history(won=MIN_OUTCOMES, lost=MIN_OUTCOMES - 1)
    assert scoring_model_train() is None
    assert not ScoringModel.objects.exists()


def test_a_model_is_trained_at_50_won_and_50_lost_and_its_reasons_sum_to_its_score(
    in_a: Tenant,
) -> None:
    _history(won=MIN_OUTCOMES, lost=MIN_OUTCOMES)
    model = scoring_model_train()
    assert model is not None
    assert (model.won_count, model.lost_count) == (50, 50)
    assert 0.5 <= model.holdout_accuracy <= 1.0
    assert set(model.coefficients) == {"features", "weights", "means", "intercept"}

    _rule(C.TITLE_CONTAINS, 5, value="VP")
    busy = LeadFactory(source="referral", title="VP Sales")
    _calls(busy, 4)
    quiet = LeadFactory(source="cold", title="Intern")
    leads_score_refresh(lead_ids=[busy.pk, quiet.pk])

    for lead in (_stored(busy), _stored(quiet)):
        assert _sum(lead.score_reasons) == lead.score
        assert {r["kind"] for r in lead.score_reasons} >= {"base", "model"}
    busy, quiet = _stored(busy), _stored(quiet)
    assert busy.score > quiet.score
    factors = {r["factor"]: r["points"] for r in busy.score_reasons}
    assert factors["4 calls logged"] > 0
    assert factors["Title contains “VP”"] == 5


def test_model_reasons_sum_to_the_score_for_any_lead(in_a: Tenant) -> None:
    _history(won=MIN_OUTCOMES, lost=MIN_OUTCOMES + 10)
    model = scoring_model_train()
    for calls, source, title in [(0, "", ""), (9, "referral", "CEO"), (1, "cold", "Intern")]:
        lead = LeadFactory(source=source, title=title, phone="")
        _calls(lead, calls)
        facts = lead_facts(lead_facts_queryset([lead.pk]).get())
        result = score_compute(facts, rules=[], model=model)
        assert _sum(result.reasons) == result.score
        assert 0 <= result.score <= 100
        # The model's own reasons add up to how far its chance of winning is from the
        # typical lead's, in percentage points.
        assert model is not None
        typical, chance = model_win_chance(model, facts)
        model_points = _sum([r for r in result.reasons if r["kind"] == "model"])
        assert model_points == round(100 * chance - 100 * typical)
        if result.reasons[-1]["kind"] != "limit":
            assert result.score == STARTING_POINTS + model_points


def test_a_model_trained_on_a_is_never_used_for_b(tenant_a: Tenant, tenant_b: Tenant) -> None:
    with tenant_context(tenant_a):
        ScoringRule.objects.all().delete()
        _history(won=MIN_OUTCOMES, lost=MIN_OUTCOMES)
        model_a = scoring_model_train()
        assert model_a is not None
    with tenant_context(tenant_b):
        ScoringRule.objects.all().delete()
        lead_b = LeadFactory(source="referral", title="VP Sales")
        _calls(lead_b, 4)
        # B has no history: no model there, and its lead is scored by rules alone.
        assert scoring_model_train() is None
        leads_score_refresh()
        assert _stored(lead_b).score_reasons == [
            {"factor": "Starting score", "points": STARTING_POINTS, "kind": "base"}
        ]
        # B's own history says the opposite of A's: calls go with lost deals there.
        _history(won=MIN_OUTCOMES, lost=MIN_OUTCOMES, won_calls=0, lost_source="referral")
        Activity.objects.filter(lead__converted_deal__stage__is_lost=True).delete()
        for lead in Lead.objects.filter(converted_deal__stage__is_lost=True):
            _calls(lead, 4)
        model_b = scoring_model_train()
        assert model_b is not None
        assert ScoringModel.objects.count() == 1
        leads_score_refresh(lead_ids=[lead_b.pk])
        calls_b = {r["factor"]: r["points"] for r in _stored(lead_b).score_reasons}
    with tenant_context(tenant_a):
        assert list(ScoringModel.objects.values_list("pk", flat=True)) == [model_a.pk]
        lead_a = LeadFactory(source="referral", title="VP Sales")
        _calls(lead_a, 4)
        leads_score_refresh(lead_ids=[lead_a.pk])
        calls_a = {r["factor"]: r["points"] for r in _stored(lead_a).score_reasons}
    assert calls_a["4 calls logged"] > 0 > calls_b["4 calls logged"]


def test_logging_activities_queues_one_rescoring_per_lead_on_commit(
    in_a: Tenant,
    owner_a: User,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _rule(C.MIN_CALLS, 30, number=2)
    lead = LeadFactory()
    queued: list[Any] = []
    monkeypatch.setattr(
        tasks.lead_score_refresh, "apply_async", lambda **kw: queued.append(kw["args"])
    )
    with django_capture_on_commit_callbacks() as callbacks:
        call = activity_create(by=owner_a, kind="call", direction="outbound", lead=lead)
        activity_create(by=owner_a, kind="call", direction="inbound", lead=lead)
    assert queued == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert queued == [[lead.pk]]  # two changes, one rescoring

    tasks.lead_score_refresh.apply(args=[lead.pk])  # what the worker then runs
    stored = _stored(lead)
    assert stored.score == STARTING_POINTS + 30
    assert "At least 2 calls" in [r["factor"] for r in stored.score_reasons]

    # Once it has run, the next change queues another.
    with django_capture_on_commit_callbacks(execute=True):
        activity_update(activity=call, by=owner_a, outcome="Booked a demo")
    assert queued == [[lead.pk], [lead.pk]]


def test_changing_a_lead_queues_its_rescoring(
    in_a: Tenant,
    owner_a: User,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _rule(C.TITLE_CONTAINS, 25, value="Director")
    lead = LeadFactory()
    queued: list[Any] = []
    monkeypatch.setattr(
        tasks.lead_score_refresh, "apply_async", lambda **kw: queued.append(kw["args"])
    )
    with django_capture_on_commit_callbacks(execute=True):
        lead_update(lead=lead, by=owner_a, title="Director of Ops")
    assert queued == [[lead.pk]]
    tasks.lead_score_refresh.apply(args=[lead.pk])
    assert _stored(lead).score == STARTING_POINTS + 25


def test_a_rescoring_task_queued_in_b_never_touches_a_lead_of_a(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        lead_a = LeadFactory()
    with tenant_context(tenant_b):
        assert tasks.lead_score_refresh.apply(args=[lead_a.pk]).get() == 0
        assert tasks.scoring_nightly.apply().get()["model"] is None
        schema_b = connection.schema_name  # type: ignore[attr-defined]
    assert schema_b == tenant_b.schema_name
    with tenant_context(tenant_a):
        assert _stored(lead_a).scored_at is None


def test_the_nightly_round_is_scheduled_in_every_organization() -> None:
    from django.conf import settings

    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["crm-scoring-nightly"]
    assert entry["task"] == "tenants.tasks.organizations_fan_out"
    assert entry["args"] == ["crm.tasks.scoring_nightly"]
    assert app.tasks["crm.tasks.scoring_nightly"].run is tasks.scoring_nightly.run


def test_a_contact_is_scored_by_the_rules_when_it_changes(
    in_a: Tenant,
    owner_a: User,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crm.models import Contact
    from crm.services import contact_update

    from .factories import ContactFactory

    _rule(C.TITLE_CONTAINS, 15, value="CFO")
    _rule(C.SOURCE_IS, 40, value="referral")  # a contact has no source: never holds
    contact = ContactFactory(title="Analyst")
    queued: list[Any] = []
    monkeypatch.setattr(
        tasks.contact_score_refresh, "apply_async", lambda **kw: queued.append(kw["args"])
    )
    with django_capture_on_commit_callbacks(execute=True):
        contact_update(contact=contact, by=owner_a, title="CFO")
    assert queued == [[contact.pk]]
    tasks.contact_score_refresh.apply(args=[contact.pk])
    stored = Contact.objects.get(pk=contact.pk)
    assert stored.score == STARTING_POINTS + 15
    assert _sum(stored.score_reasons) == stored.score


def test_rule_changes_queue_one_rescoring_of_the_organization(
    in_a: Tenant,
    owner_a: User,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crm.services.scoring import scoring_rule_delete, scoring_rule_update

    lead = LeadFactory(title="Chief of Staff")
    queued: list[Any] = []
    monkeypatch.setattr(tasks.scores_refresh_all, "apply_async", lambda **kw: queued.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        rule = scoring_rule_create(by=owner_a, condition="title_contains", value="Chief", points=9)
    with django_capture_on_commit_callbacks(execute=True):
        scoring_rule_update(rule=rule, by=owner_a, points=11)
    assert len(queued) == 1  # the second change rides on the rescoring already queued
    tasks.scores_refresh_all.apply()
    assert _stored(lead).score == STARTING_POINTS + 11
    with django_capture_on_commit_callbacks(execute=True):
        scoring_rule_delete(rule=rule, by=owner_a)
    assert len(queued) == 2


def test_a_pending_rescoring_in_a_does_not_hold_back_the_same_id_in_b(
    tenant_a: Tenant,
    tenant_b: Tenant,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crm.services.scoring import lead_score_queue

    queued: list[str] = []
    monkeypatch.setattr(
        tasks.lead_score_refresh,
        "apply_async",
        lambda **kw: queued.append(connection.schema_name),  # type: ignore[attr-defined]
    )
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
            lead_score_queue(lead_id=7)
    assert queued == [tenant_a.schema_name, tenant_b.schema_name]


def test_rescoring_takes_the_same_statements_for_5_leads_as_for_40(in_a: Tenant) -> None:
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    _rule(C.TAG_IS, 5, value="vip")
    _rule(C.MIN_CALLS, 5, number=1)
    counts = []
    for n in (5, 40):
        Lead.objects.all().delete()
        for _ in range(n):
            _calls(LeadFactory(), 1)
        with CaptureQueriesContext(db) as queries:
            assert leads_score_refresh() == n
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_rescoring_is_queued_in_its_organization_even_when_the_commit_comes_later(
    tenant_a: Tenant,
    owner_a: User,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command that fills an organization inside one transaction commits after it has left
    the tenant (the demo seed does): the rescoring must still be queued in that tenant,
    under that tenant's cache key, not refused in `public`."""
    from crm.services import contact_create

    seen: list[str] = []
    monkeypatch.setattr(
        tasks.contact_score_refresh,
        "apply_async",
        lambda **kw: seen.append(connection.schema_name),  # type: ignore[attr-defined]
    )
    with django_capture_on_commit_callbacks() as callbacks:
        with tenant_context(tenant_a):
            contact = contact_create(by=owner_a, first_name="Late", last_name="Commit")
    assert connection.schema_name == "public"  # type: ignore[attr-defined]
    for callback in callbacks:
        callback()
    assert seen == [tenant_a.schema_name]
    with tenant_context(tenant_a):
        tasks.contact_score_refresh.apply(args=[contact.pk])  # clears the pending mark


def test_a_plan_without_scoring_models_trains_none_and_drops_the_one_it_had(
    in_a: Tenant, owner_a: User
) -> None:
    from billing.models import Plan, Subscription

    _history(won=MIN_OUTCOMES, lost=MIN_OUTCOMES)
    assert scoring_nightly()["model"] is not None  # Growth (the trial) includes models
    Subscription.objects.filter(organization=in_a).update(plan=Plan.objects.get(code="starter"))

    assert scoring_nightly()["model"] is None

    assert not ScoringModel.objects.exists()
    lead = LeadFactory()
    leads_score_refresh(lead_ids=[lead.pk])
    assert {r["kind"] for r in _stored(lead).score_reasons} == {"base"}
    page = _admin_page(in_a, owner_a)
    assert 'data-testid="model-not-in-plan"' in page
    assert "/settings/billing/" in page


def _admin_page(tenant: Tenant, user: User) -> str:
    from django.test import Client

    from tests.conftest import host_of

    connection.set_schema_to_public()  # type: ignore[attr-defined]
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    response = client.get("/settings/scoring/")
    connection.set_tenant(tenant)  # type: ignore[attr-defined]
    assert response.status_code == 200
    return response.content.decode()
