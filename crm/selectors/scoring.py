"""Reads of lead scoring: what is known about a lead (or a contact), how the organization's
rules and its trained model score it, and each factor's points in plain words.

Nothing here writes: the preview of edited rules and the explanation of a lead's score are
computed from the same functions that `crm.services.scoring` uses to store scores.
"""

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from crm.models import Contact, Lead, ScoringModel, ScoringRule
from crm.services.leads import FREE_MAIL_DOMAINS, email_domain

# The score of a lead no rule says anything about, when the organization has no model yet.
STARTING_POINTS = 20
# A model is trained once the organization has this many won and this many lost leads.
MIN_OUTCOMES = 50
_SENIOR_TITLE = re.compile(
    r"\b(vp|svp|evp|vice president|chief|ceo|cto|cfo|coo|cmo|cio|director|head|president|"
    r"founder|owner|partner)\b",
    re.IGNORECASE,
)
# Counts above these tell the model nothing more (and keep one outlier from dominating).
_COUNT_CAP = 20


@dataclass(frozen=True)
class Facts:
    """What scoring knows about one person: a lead, or a contact (no source nor status)."""

    pk: int
    title: str = ""
    source: str = ""
    status: str = ""
    email_domain: str = ""
    has_phone: bool = False
    has_company: bool = False
    tags: frozenset[str] = frozenset()
    calls: int = 0
    meetings: int = 0
    emails: int = 0
    notes: int = 0
    last_touched_at: dt.datetime | None = None
    opened_deal: bool = False

    def days_inactive(self, now: dt.datetime) -> int:
        """Whole days since the last activity (or since the record was added)."""
        if self.last_touched_at is None:
            return 0
        return max(0, (now - self.last_touched_at).days)


@dataclass(frozen=True)
class Score:
    """A score and its reasons, whose points sum to it exactly."""

    score: int
    reasons: list[dict[str, Any]]


def _activity_counts(prefix: str = "activities") -> dict[str, Any]:
    def of(kind: str) -> Count:
        return Count(prefix, filter=Q(**{f"{prefix}__kind": kind}), distinct=True)

    return {
        "n_calls": of("call"),
        "n_meetings": of("meeting"),
        "n_emails": of("email"),
        "n_notes": of("note"),
        "last_activity_at": Max(f"{prefix}__created_at"),
    }


def lead_facts_queryset(lead_ids: Iterable[int] | None = None) -> QuerySet[Lead]:
    """Leads with what scoring needs, in one statement (plus one for their tags)."""
    qs = Lead.objects.all()
    if lead_ids is not None:
        qs = qs.filter(pk__in=list(lead_ids))
    return qs.annotate(**_activity_counts()).prefetch_related("tags").order_by("pk")


def contact_facts_queryset(contact_ids: Iterable[int] | None = None) -> QuerySet[Contact]:
    """Contacts with what scoring needs: their activities, tags and whether a deal names them."""
    qs = Contact.objects.all()
    if contact_ids is not None:
        qs = qs.filter(pk__in=list(contact_ids))
    return (
        qs.annotate(**_activity_counts(), n_deals=Count("deal_links", distinct=True))
        .prefetch_related("tags")
        .order_by("pk")
    )


def _last_touched(record: Any) -> dt.datetime:
    last = getattr(record, "last_activity_at", None)
    return max(last, record.created_at) if last is not None else record.created_at


def lead_facts(lead: Lead) -> Facts:
    """The facts of a lead read through `lead_facts_queryset`."""
    return Facts(
        pk=lead.pk,
        title=lead.title,
        source=lead.source,
        status=lead.status,
        email_domain=email_domain(lead.email),
        has_phone=bool(lead.phone),
        has_company=bool(lead.company_name.strip()),
        tags=frozenset(t.name.casefold() for t in lead.tags.all()),
        calls=getattr(lead, "n_calls", 0),
        meetings=getattr(lead, "n_meetings", 0),
        emails=getattr(lead, "n_emails", 0),
        notes=getattr(lead, "n_notes", 0),
        last_touched_at=_last_touched(lead),
        opened_deal=lead.converted_deal_id is not None,
    )


def contact_facts(contact: Contact) -> Facts:
    """The facts of a contact read through `contact_facts_queryset`."""
    return Facts(
        pk=contact.pk,
        title=contact.title,
        email_domain=email_domain(contact.email),
        has_phone=bool(contact.phone),
        has_company=contact.company_id is not None,
        tags=frozenset(t.name.casefold() for t in contact.tags.all()),
        calls=getattr(contact, "n_calls", 0),
        meetings=getattr(contact, "n_meetings", 0),
        emails=getattr(contact, "n_emails", 0),
        notes=getattr(contact, "n_notes", 0),
        last_touched_at=_last_touched(contact),
        opened_deal=getattr(contact, "n_deals", 0) > 0,
    )


# --- rules ----------------------------------------------------------------------------------

C = ScoringRule.Condition
# Conditions that compare with a text (`value`) and those that count (`number`).
VALUE_CONDITIONS = frozenset({C.TITLE_CONTAINS, C.SOURCE_IS, C.STATUS_IS, C.TAG_IS})
NUMBER_CONDITIONS = frozenset({C.NO_ACTIVITY_DAYS, C.MIN_CALLS, C.MIN_MEETINGS})


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def rule_label(rule: ScoringRule) -> str:
    """The rule's condition in plain words ("Title contains “VP”", "No activity in 30 days")."""
    n = rule.number or 0
    match rule.condition:
        case C.TITLE_CONTAINS:
            return f"Title contains “{rule.value}”"
        case C.SOURCE_IS:
            return f"Source is {dict(Lead.Source.choices).get(rule.value, rule.value)}"
        case C.STATUS_IS:
            return f"Status is {dict(Lead.Status.choices).get(rule.value, rule.value)}"
        case C.EMAIL_IS_FREE_MAIL:
            return "E-mail address at a free-mail domain"
        case C.EMAIL_IS_BUSINESS:
            return "E-mail address at a company domain"
        case C.HAS_PHONE:
            return "Has a phone number"
        case C.TAG_IS:
            return f"Tagged “{rule.value}”"
        case C.HAS_COMPANY_NAME:
            return "Names a company"
        case C.NO_ACTIVITY_DAYS:
            return f"No activity in {_plural(n, 'day')}"
        case C.MIN_CALLS:
            return f"At least {_plural(n, 'call')}"
        case C.MIN_MEETINGS:
            return f"At least {_plural(n, 'meeting')}"
        case C.OPENED_DEAL:
            return "Opened a deal"
    return str(rule.condition)


def rule_holds(rule: ScoringRule, facts: Facts, *, now: dt.datetime) -> bool:
    """Whether the rule's condition is true of the person."""
    value = rule.value.strip()
    n = rule.number or 0
    match rule.condition:
        case C.TITLE_CONTAINS:
            pattern = rf"(?<!\w){re.escape(value)}(?!\w)"
            return bool(value) and re.search(pattern, facts.title, re.IGNORECASE) is not None
        case C.SOURCE_IS:
            return bool(facts.source) and facts.source == value
        case C.STATUS_IS:
            return bool(facts.status) and facts.status == value
        case C.EMAIL_IS_FREE_MAIL:
            return facts.email_domain in FREE_MAIL_DOMAINS
        case C.EMAIL_IS_BUSINESS:
            return bool(facts.email_domain) and facts.email_domain not in FREE_MAIL_DOMAINS
        case C.HAS_PHONE:
            return facts.has_phone
        case C.TAG_IS:
            return value.casefold() in facts.tags
        case C.HAS_COMPANY_NAME:
            return facts.has_company
        case C.NO_ACTIVITY_DAYS:
            return facts.last_touched_at is not None and facts.days_inactive(now) >= n
        case C.MIN_CALLS:
            return facts.calls >= n
        case C.MIN_MEETINGS:
            return facts.meetings >= n
        case C.OPENED_DEAL:
            return facts.opened_deal
    return False


def scoring_rule_list() -> QuerySet[ScoringRule]:
    """The organization's rules, in the order people arranged them."""
    return ScoringRule.objects.order_by("position", "id")


# --- the model ------------------------------------------------------------------------------

MODEL_FEATURES: tuple[str, ...] = (
    "senior_title",
    *(f"source_{value}" for value in Lead.Source.values),
    "has_phone",
    "business_email",
    "has_company",
    "calls",
    "meetings",
    "emails",
    "notes",
)


def model_features(facts: Facts) -> list[float]:
    """The model's inputs for a person, in the order of MODEL_FEATURES."""
    values: dict[str, float] = {
        "senior_title": float(_SENIOR_TITLE.search(facts.title) is not None),
        "has_phone": float(facts.has_phone),
        "business_email": float(
            bool(facts.email_domain) and facts.email_domain not in FREE_MAIL_DOMAINS
        ),
        "has_company": float(facts.has_company),
        "calls": float(min(facts.calls, _COUNT_CAP)),
        "meetings": float(min(facts.meetings, _COUNT_CAP)),
        "emails": float(min(facts.emails, _COUNT_CAP)),
        "notes": float(min(facts.notes, _COUNT_CAP)),
    }
    for value in Lead.Source.values:
        values[f"source_{value}"] = float(facts.source == value)
    return [values[name] for name in MODEL_FEATURES]


def _factor_of(feature: str) -> str:
    return "source" if feature.startswith("source_") else feature


def _factor_words(factor: str, facts: Facts) -> str:
    """A model factor as a person reads it, from the lead's own values."""
    match factor:
        case "senior_title":
            if _SENIOR_TITLE.search(facts.title):
                return f"Title “{facts.title}” suggests a decision maker"
            return "Title does not suggest a decision maker"
        case "source":
            label = dict(Lead.Source.choices).get(facts.source)
            return f"Came from {label.lower()}" if label else "No source given"
        case "has_phone":
            return "Has a phone number" if facts.has_phone else "No phone number"
        case "business_email":
            if facts.email_domain and facts.email_domain not in FREE_MAIL_DOMAINS:
                return "E-mail address at a company domain"
            return "No company e-mail address"
        case "has_company":
            return "Names a company" if facts.has_company else "Names no company"
        case "calls":
            return f"{_plural(facts.calls, 'call')} logged"
        case "meetings":
            return f"{_plural(facts.meetings, 'meeting')} held"
        case "emails":
            return f"{_plural(facts.emails, 'e-mail')} logged"
        case "notes":
            return f"{_plural(facts.notes, 'note')} written"
    return factor


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _round_to(total: int, parts: list[float]) -> list[int]:
    """Round `parts` to whole points that sum to `total`: the remainder goes to the largest."""
    rounded = [round(p) for p in parts]
    if rounded:
        largest = max(range(len(parts)), key=lambda i: abs(parts[i]))
        rounded[largest] += total - sum(rounded)
    return rounded


def model_explain(model: ScoringModel, facts: Facts) -> list[dict[str, Any]]:
    """What the model adds to a person's score, factor by factor: how many percentage points
    their chance of winning differs from the typical lead of the organization's history.

    A factor's contribution is its weight × (value − mean) in log-odds, converted to points
    at the sigmoid's average slope between the typical lead and this one, so the
    contributions add up exactly to the difference of the two probabilities (×100); then
    rounded to whole points that still add up to that difference, rounded."""
    c = model.coefficients
    names: list[str] = c["features"]
    weights: list[float] = c["weights"]
    means: list[float] = c["means"]
    intercept: float = c["intercept"]
    by_name = dict(zip(MODEL_FEATURES, model_features(facts), strict=True))
    x = [by_name.get(name, 0.0) for name in names]
    deltas = [w * (xi - m) for w, xi, m in zip(weights, x, means, strict=True)]
    z_typical = intercept + sum(w * m for w, m in zip(weights, means, strict=True))
    typical = 100 * _sigmoid(z_typical)
    shift = sum(deltas)
    this = 100 * _sigmoid(z_typical + shift)
    if abs(shift) > 1e-9:
        slope = (this - typical) / shift
    else:
        slope = typical * (1 - typical / 100)
    factors: dict[str, float] = {}
    for name, delta in zip(names, deltas, strict=True):
        factor = _factor_of(name)
        factors[factor] = factors.get(factor, 0.0) + slope * delta
    points = _round_to(round(this - typical), list(factors.values()))
    return [
        {"factor": _factor_words(factor, facts), "points": p, "kind": "model"}
        for factor, p in zip(factors, points, strict=True)
        if p
    ]


def model_win_chance(model: ScoringModel, facts: Facts) -> tuple[float, float]:
    """The model's chance of winning (0-1) for the typical lead of the history and for this
    person."""
    c = model.coefficients
    by_name = dict(zip(MODEL_FEATURES, model_features(facts), strict=True))
    z_typical = c["intercept"] + sum(w * m for w, m in zip(c["weights"], c["means"], strict=True))
    z = c["intercept"] + sum(
        w * by_name.get(name, 0.0) for w, name in zip(c["weights"], c["features"], strict=True)
    )
    return _sigmoid(z_typical), _sigmoid(z)


def scoring_model_current() -> ScoringModel | None:
    """The organization's newest trained model, if it has one."""
    return ScoringModel.objects.order_by("-trained_at", "-id").first()


# --- the score ------------------------------------------------------------------------------


def score_compute(
    facts: Facts,
    *,
    rules: Sequence[ScoringRule],
    model: ScoringModel | None = None,
    now: dt.datetime | None = None,
) -> Score:
    """A person's score from 0 to 100 and its reasons, which sum to it exactly.

    It starts from STARTING_POINTS; with a trained model, each factor adds how many
    percentage points it moves the chance of winning away from the typical lead's; each rule
    that holds adds its points. A total past 0 or 100 is
    brought back by one more reason ("Capped at 100"), so the reasons still add up."""
    now = now or timezone.now()
    reasons: list[dict[str, Any]] = [
        {"factor": "Starting score", "points": STARTING_POINTS, "kind": "base"}
    ]
    if model is not None:
        reasons += model_explain(model, facts)
    for rule in rules:
        if rule.points and rule_holds(rule, facts, now=now):
            reasons.append({"factor": rule_label(rule), "points": rule.points, "kind": "rule"})
    total = sum(r["points"] for r in reasons)
    if total > 100:
        reasons.append({"factor": "Capped at 100", "points": 100 - total, "kind": "limit"})
    elif total < 0:
        reasons.append({"factor": "Raised to the minimum of 0", "points": -total, "kind": "limit"})
    return Score(score=min(100, max(0, total)), reasons=reasons)


@dataclass(frozen=True)
class PreviewRow:
    lead: Lead
    current: int
    preview: Score

    @property
    def change(self) -> int:
        return self.preview.score - self.current


def scoring_preview(*, rules: Sequence[ScoringRule], limit: int = 25) -> list[PreviewRow]:
    """How the organization's open leads (newest first) would score under `rules`, which
    may be unsaved; nothing is written."""
    model = scoring_model_current()
    now = timezone.now()
    leads = (
        lead_facts_queryset()
        .exclude(status=Lead.Status.DISQUALIFIED)
        .filter(converted_at__isnull=True)
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        PreviewRow(
            lead=lead,
            current=lead.score,
            preview=score_compute(lead_facts(lead), rules=rules, model=model, now=now),
        )
        for lead in leads
    ]
