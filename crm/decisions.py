"""How the CRM's pages and API views of leads, deals and activities ask the decision point
(`iam.authz`) about the record they work on.

Routes are guarded for members (`@requires`, `Authorized`); the record a page or endpoint
then works on is decided here, where its owner, teams and shares are known. A record the
member may not even view is a 404, exactly as a missing one, so its existence isn't told.
"""

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from crm.models import Deal, Lead, Stage
from iam import authz

_M = TypeVar("_M", bound=Model)


def principal_of(request: HttpRequest) -> authz.Principal | None:
    """The principal of a page's request (made once per request, then cached on it)."""
    return authz.principal_for_request(request)


def visible_get(queryset: QuerySet[_M], request: HttpRequest, record_type: str, pk: Any) -> _M:
    """The record `pk` of `queryset` if the member may view it; 404 otherwise, as if missing."""
    found = authz.visible(queryset, principal_of(request), record_type).filter(pk=pk).first()
    if found is None:
        raise Http404("No such record.")
    return found


def ids_allowed(
    model: type[Model],
    ids: Iterable[int],
    principal: authz.Principal | None,
    record_type: str,
    action: str,
) -> set[int]:
    """Which of `ids` (records a page already shows) `principal` may take `action` on, for
    the buttons of each row: one query, none when their roles reach every record."""
    wanted = set(ids)
    if not wanted:
        return set()
    records = model._default_manager.filter(pk__in=wanted)
    narrowed = authz.visible(records, principal, record_type, action)
    if narrowed is records:  # their roles reach every record
        return wanted
    return set(narrowed.values_list("pk", flat=True))


def record_require(request: HttpRequest, action: str, record: Model, **context: Any) -> None:
    """Refuse (403 with the reason) an action the member may not take on this record."""
    authz.require(principal_of(request), action, record=record, context=context or None)


def stage_kind(stage: Stage) -> str:
    """What a stage is to access policies: "won", "lost" or "open"."""
    return "won" if stage.is_won else "lost" if stage.is_lost else "open"


def deal_move_require(principal: authz.Principal | None, deal: Deal, stage: Stage) -> None:
    """A deal's move to another stage is the action "move", decided with the kind of stage
    it goes to, so a policy can keep large deals from Won unless a manager moves them."""
    authz.require(principal, "move", record=deal, context={"to_stage_kind": stage_kind(stage)})


def deal_change_require(
    principal: authz.Principal | None, deal: Deal, changes: dict[str, Any]
) -> None:
    """What an edit of a deal changes beyond its fields is decided too: a new stage is a
    move, a new owner an assignment."""
    stage = changes.get("stage")
    if isinstance(stage, Stage) and stage.pk != deal.stage_id:
        deal_move_require(principal, deal, stage)
    owner_change_require(principal, deal, changes)


def owner_change_require(
    principal: authz.Principal | None, record: Model, changes: dict[str, Any]
) -> None:
    """Giving a record to another owner is the action "assign"."""
    if "owner_id" in changes and changes["owner_id"] != getattr(record, "owner_id", None):
        authz.require(principal, "assign", record=record)


def lead_convert_require(
    principal: authz.Principal | None, lead: Lead, *, create_deal: bool = False
) -> None:
    """Converting a lead changes it and creates a contact, maybe a company and a deal: each
    is decided, so a member who may not create deals can't make one through a conversion."""
    authz.require(principal, "edit", record=lead)
    authz.require(principal, "create", record_type="contact")
    if lead.company_name:
        authz.require(principal, "create", record_type="company")
    if create_deal:
        authz.require(principal, "create", record_type="deal")
