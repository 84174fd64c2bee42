"""Writes of lead scoring: the organization's rules, the stored scores of its leads and
contacts, and the model trained on its own won and lost history.

Scores are stored on the records (`score`, `score_reasons`, `scored_at`) by
`leads_score_refresh` and `contacts_score_refresh`, which the background tasks of
`crm.tasks` call when a lead or its activities change, and every night.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

import structlog
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.entitlements import feature_enabled
from crm.models import Contact, Lead, ScoringModel, ScoringRule
from crm.selectors.scoring import (
    MIN_OUTCOMES,
    MODEL_FEATURES,
    NUMBER_CONDITIONS,
    VALUE_CONDITIONS,
    contact_facts,
    contact_facts_queryset,
    lead_facts,
    lead_facts_queryset,
    model_features,
    score_compute,
    scoring_model_current,
    scoring_rule_list,
)
from problems.exceptions import InvalidFields

log = structlog.get_logger(__name__)

# The plan feature that lets an organization's own history train a scoring model.
MODEL_PLAN_FEATURE = "lead_scoring_models"

BATCH = 500
# How long a queued rescoring of a record stands for every later change (coalescing).
PENDING_SECONDS = 60
# Models kept per organization (the newest is used; older ones show how it changed).
MODELS_KEPT = 5
# Enough for any scheme a sales team keeps in its head, and a bound on every rescoring.
RULES_MAX = 100


def _by_id(by: Any) -> int | None:
    return getattr(by, "pk", None)


# --- rules ----------------------------------------------------------------------------------


def scoring_rule_clean(rule: ScoringRule, data: dict[str, Any]) -> None:
    """Validate `data` for the rule and set it; InvalidFields with every problem at once,
    the rule unchanged."""
    errors: dict[str, list[str]] = {}
    condition = data.get("condition", rule.condition)
    value = data.get("value", rule.value)
    number = data.get("number", rule.number)
    points = data.get("points", rule.points)
    if condition not in ScoringRule.Condition.values:
        errors["condition"] = [f"Choose one of: {', '.join(ScoringRule.Condition.values)}."]
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors["value"] = ["Must be a string."]
        value = ""
    elif "\x00" in value:
        errors["value"] = ["Null characters are not allowed."]
    value = value.strip()
    if len(value) > 100:
        errors["value"] = ["Ensure this field has no more than 100 characters."]
    if condition in VALUE_CONDITIONS and not value and "value" not in errors:
        errors["value"] = ["Say what the condition compares with."]
    if condition == ScoringRule.Condition.SOURCE_IS and value and value not in Lead.Source.values:
        errors["value"] = [f"Choose one of: {', '.join(Lead.Source.values)}."]
    if condition == ScoringRule.Condition.STATUS_IS and value and value not in Lead.Status.values:
        errors["value"] = [f"Choose one of: {', '.join(Lead.Status.values)}."]
    if condition not in VALUE_CONDITIONS:
        value = ""
    if condition in NUMBER_CONDITIONS:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 3650:
            errors["number"] = ["Give a whole number from 1 to 3650."]
    else:
        number = None
    if isinstance(points, bool) or not isinstance(points, int) or not -100 <= points <= 100:
        errors["points"] = ["Give whole points from -100 to 100."]
    if errors:
        raise InvalidFields(errors)
    rule.condition, rule.value, rule.number, rule.points = condition, value, number, points


def scoring_rule_create(*, by: Any, **data: Any) -> ScoringRule:
    """A new rule, last in the list; every lead is rescored once it is committed."""
    rule = ScoringRule()
    scoring_rule_clean(rule, data)
    if ScoringRule.objects.count() >= RULES_MAX:
        raise InvalidFields({"condition": [f"An organization has at most {RULES_MAX} rules."]})
    with transaction.atomic():
        last = ScoringRule.objects.order_by("-position").values_list("position", flat=True)
        rule.position = (last.first() or 0) + 1
        rule.save(force_insert=True)
        scores_refresh_queue_all()
    log.info("scoring_rule.created", rule=rule.pk, by=_by_id(by), condition=rule.condition)
    return rule


def scoring_rule_update(*, rule: ScoringRule, by: Any, **data: Any) -> ScoringRule:
    scoring_rule_clean(rule, data)
    with transaction.atomic():
        rule.save()
        scores_refresh_queue_all()
    log.info("scoring_rule.updated", rule=rule.pk, by=_by_id(by), condition=rule.condition)
    return rule


def scoring_rule_delete(*, rule: ScoringRule, by: Any) -> None:
    pk = rule.pk
    with transaction.atomic():
        rule.delete()
        scores_refresh_queue_all()
    log.info("scoring_rule.deleted", rule=pk, by=_by_id(by))


# --- stored scores --------------------------------------------------------------------------


def _store(model_cls: Any, records: list[Any], fresh: dict[int, Any], now: dt.datetime) -> int:
    changed = []
    for record in records:
        result = fresh[record.pk]
        if (
            record.scored_at is not None
            and record.score == result.score
            and record.score_reasons == result.reasons
        ):
            continue
        previous = record.score
        record.score, record.score_reasons, record.scored_at = result.score, result.reasons, now
        changed.append(record)
        if model_cls is Lead:
            log.info("lead.scored", lead=record.pk, score=record.score, previous=previous)
        else:
            log.info("contact.scored", contact=record.pk, score=record.score, previous=previous)
    if changed:
        # Only the score's own columns: an edit made meanwhile is not overwritten.
        model_cls.objects.bulk_update(changed, ["score", "score_reasons", "scored_at"])
    return len(changed)


def leads_score_refresh(*, lead_ids: Iterable[int] | None = None) -> int:
    """Score the given leads (all of them without ids) under the organization's rules and
    model; store the ones whose score or reasons changed, with the time. Returns how many
    changed."""
    rules = list(scoring_rule_list())
    model = scoring_model_current()
    now = timezone.now()
    ids = list(lead_ids) if lead_ids is not None else None
    qs = lead_facts_queryset(ids)
    changed = 0
    last_pk = 0
    while True:
        batch = list(qs.filter(pk__gt=last_pk)[:BATCH])
        if not batch:
            break
        last_pk = batch[-1].pk
        fresh = {
            lead.pk: score_compute(lead_facts(lead), rules=rules, model=model, now=now)
            for lead in batch
        }
        changed += _store(Lead, batch, fresh, now)
    return changed


def contacts_score_refresh(*, contact_ids: Iterable[int] | None = None) -> int:
    """Score contacts under the organization's rules (the model learns from leads, so it
    scores leads only); store the changed ones. Returns how many changed."""
    rules = list(scoring_rule_list())
    now = timezone.now()
    ids = list(contact_ids) if contact_ids is not None else None
    qs = contact_facts_queryset(ids)
    changed = 0
    last_pk = 0
    while True:
        batch = list(qs.filter(pk__gt=last_pk)[:BATCH])
        if not batch:
            break
        last_pk = batch[-1].pk
        fresh = {
            c.pk: score_compute(contact_facts(c), rules=rules, model=None, now=now) for c in batch
        }
        changed += _store(Contact, batch, fresh, now)
    return changed


# --- queueing -------------------------------------------------------------------------------


def _queue_once(kind: str, pk: int) -> None:
    """Queue one rescoring of a record; while one is queued, later changes ride along."""
    from crm import tasks  # the tasks module imports this one

    key = f"scoring:pending:{kind}:{pk}"
    if not cache.add(key, 1, timeout=PENDING_SECONDS):
        return
    try:
        if kind == "all":
            tasks.scores_refresh_all.apply_async(retry=False)
        elif kind == "lead":
            tasks.lead_score_refresh.apply_async(args=[pk], retry=False)
        else:
            tasks.contact_score_refresh.apply_async(args=[pk], retry=False)
    except Exception:
        cache.delete(key)  # the next change queues it again
        raise


def score_pending_clear(*, kind: str, pk: int) -> None:
    """A rescoring starts: changes from now on queue another."""
    cache.delete(f"scoring:pending:{kind}:{pk}")


def _queue_on_commit(kind: str, pk: int) -> None:
    """Queue the rescoring once the transaction commits, in this organization: the commit
    may come after the code that changed the record has left its tenant (a command that
    filled several organizations in one transaction, say)."""
    tenant = connection.tenant  # type: ignore[attr-defined]

    def queue() -> None:
        with tenant_context(tenant):
            _queue_once(kind, pk)

    transaction.on_commit(queue, robust=True)


def lead_score_queue(*, lead_id: int) -> None:
    """Rescore a lead in the background once the current transaction commits."""
    _queue_on_commit("lead", lead_id)


def contact_score_queue(*, contact_id: int) -> None:
    """Rescore a contact in the background once the current transaction commits."""
    _queue_on_commit("contact", contact_id)


def scores_refresh_queue_all() -> None:
    """Rescore every lead and contact in the background once the transaction commits; one
    queued rescoring stands for every rule change made until it starts."""
    _queue_on_commit("all", 0)


# --- the model ------------------------------------------------------------------------------


def scoring_outcomes() -> tuple[list[list[float]], list[int]]:
    """The organization's history: the features of each lead converted into a deal that was
    won (1) or lost (0)."""
    qs = lead_facts_queryset().filter(
        Q(converted_deal__stage__is_won=True) | Q(converted_deal__stage__is_lost=True)
    )
    features, outcomes = [], []
    for lead in qs.select_related("converted_deal__stage"):
        features.append(model_features(lead_facts(lead)))
        outcomes.append(1 if lead.converted_deal.stage.is_won else 0)  # type: ignore[union-attr]
    return features, outcomes


def scoring_model_train() -> ScoringModel | None:
    """Train a logistic regression on the organization's own won and lost leads and keep it
    as the organization's model, once it has MIN_OUTCOMES of each; below that, none (and an
    older model is dropped: rules alone score). Coefficients are kept as JSON."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    features, outcomes = scoring_outcomes()
    won, lost = sum(outcomes), len(outcomes) - sum(outcomes)
    schema = connection.schema_name  # type: ignore[attr-defined]
    if won < MIN_OUTCOMES or lost < MIN_OUTCOMES:
        dropped, _ = ScoringModel.objects.all().delete()
        log.info("scoring.model_not_trained", tenant=schema, won=won, lost=lost, dropped=dropped)
        return None
    x = np.asarray(features, dtype=float)
    y = np.asarray(outcomes, dtype=int)

    def fit(x_fit: Any, y_fit: Any) -> tuple[Any, Any]:
        scaler = StandardScaler().fit(x_fit)
        classifier = LogisticRegression(max_iter=1000).fit(scaler.transform(x_fit), y_fit)
        return scaler, classifier

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=0
    )
    scaler, classifier = fit(x_train, y_train)
    accuracy = float(classifier.score(scaler.transform(x_test), y_test))
    scaler, classifier = fit(x, y)  # the model in use learns from all of the history
    # Back from standardized inputs to the features' own units: w·(x−μ)/σ.
    weights = classifier.coef_[0] / scaler.scale_
    intercept = float(classifier.intercept_[0] - float(np.dot(weights, scaler.mean_)))
    with transaction.atomic():
        model = ScoringModel.objects.create(
            coefficients={
                "features": list(MODEL_FEATURES),
                "weights": [float(w) for w in weights],
                "means": [float(m) for m in scaler.mean_],
                "intercept": intercept,
            },
            won_count=won,
            lost_count=lost,
            holdout_accuracy=accuracy,
        )
        stale = ScoringModel.objects.order_by("-trained_at", "-id").values_list("pk", flat=True)
        ScoringModel.objects.filter(pk__in=list(stale[MODELS_KEPT:])).delete()
    log.info(
        "scoring.model_trained",
        tenant=schema,
        model=model.pk,
        won=won,
        lost=lost,
        holdout_accuracy=round(accuracy, 3),
    )
    return model


def scoring_nightly() -> dict[str, Any]:
    """The nightly round of one organization: retrain its model, then rescore every lead
    and contact (the model changed, and inactivity has grown by a day).

    A model learned from the history is a feature of the plan (`lead_scoring_models`):
    without it no model is trained, and one trained before a downgrade is dropped, so the
    rules alone score from this round on.
    """
    tenant = connection.tenant  # type: ignore[attr-defined]
    if feature_enabled(tenant=tenant, feature=MODEL_PLAN_FEATURE):
        model = scoring_model_train()
    else:
        model = None
        dropped, _ = ScoringModel.objects.all().delete()
        log.info("scoring.model_not_in_plan", tenant=tenant.schema_name, dropped=dropped)
    leads = leads_score_refresh()
    contacts = contacts_score_refresh()
    return {"model": getattr(model, "pk", None), "leads": leads, "contacts": contacts}
