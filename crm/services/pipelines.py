"""Writes of pipelines and their stages; owners and admins make them (the callers check)."""

from collections.abc import Sequence
from typing import Any

import structlog
from django.db import transaction
from django.db.models import F, Max

from crm.exceptions import PipelineIsDefault, StageHasDeals
from crm.models import Deal, Pipeline, Stage
from problems.exceptions import InvalidFields

log = structlog.get_logger(__name__)

# Positions are moved this far out of the way while a pipeline's stages are renumbered, so the
# unique (pipeline, position) constraint holds after every statement.
_POSITION_OFFSET = 10_000


def _name_clean(value: Any, field: str, errors: dict[str, list[str]]) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        errors[field] = ["Give a name."]
    elif len(name) > 100:
        errors[field] = ["Use at most 100 characters."]
    return name


def pipeline_create(*, by: Any, name: str, stages: Sequence[str] = ()) -> Pipeline:
    """A new pipeline with the given stage names in order (the default set when none), its
    last two being Won and Lost unless given."""
    from crm.services import DEFAULT_STAGES

    errors: dict[str, list[str]] = {}
    name = _name_clean(name, "name", errors)
    if errors:
        raise InvalidFields(errors)
    with transaction.atomic():
        pipeline = Pipeline.objects.create(name=name)
        if stages:
            rows = [(s, 10 * (i + 1), False, False) for i, s in enumerate(stages)]
            rows = [(n, min(p, 100), w, lost) for n, p, w, lost in rows]
        else:
            rows = list(DEFAULT_STAGES)
        Stage.objects.bulk_create(
            Stage(pipeline=pipeline, name=n, position=i, probability=p, is_won=w, is_lost=lost)
            for i, (n, p, w, lost) in enumerate(rows)
        )
    log.info("pipeline.created", pipeline=pipeline.pk, by=getattr(by, "pk", None))
    return pipeline


def pipeline_update(
    *, pipeline: Pipeline, by: Any, name: str | None = None, is_archived: bool | None = None
) -> Pipeline:
    """Rename or archive (or bring back) a pipeline. The default one can't be archived: new
    deals and leads go there."""
    errors: dict[str, list[str]] = {}
    fields = []
    if name is not None:
        pipeline.name = _name_clean(name, "name", errors)
        fields.append("name")
    if errors:
        raise InvalidFields(errors)
    if is_archived is not None:
        if is_archived and pipeline.is_default:
            raise PipelineIsDefault(field="is_archived")
        pipeline.is_archived = is_archived
        fields.append("is_archived")
    if fields:
        pipeline.save(update_fields=fields)
    log.info("pipeline.updated", pipeline=pipeline.pk, by=getattr(by, "pk", None), fields=fields)
    return pipeline


def _stage_fields_clean(data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if "name" in data:
        clean["name"] = _name_clean(data["name"], "name", errors)
    if "probability" in data:
        p = data["probability"]
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 100:
            errors["probability"] = ["Give a whole number from 0 to 100."]
        else:
            clean["probability"] = p
    for flag in ("is_won", "is_lost"):
        if flag in data:
            if not isinstance(data[flag], bool):
                errors[flag] = ["Give true or false."]
            else:
                clean[flag] = data[flag]
    return clean


def _stages_renumber(pipeline: Pipeline, ordered: list[Stage]) -> None:
    """Give `ordered` the positions 0, 1, 2… (archived stages, if listed, included)."""
    Stage.objects.filter(pipeline=pipeline).update(position=F("position") + _POSITION_OFFSET)
    for i, stage in enumerate(ordered):
        stage.position = i
    Stage.objects.bulk_update(ordered, ["position"])


def stage_create(
    *,
    pipeline: Pipeline,
    by: Any,
    name: str,
    probability: int = 0,
    is_won: bool = False,
    is_lost: bool = False,
    position: int | None = None,
) -> Stage:
    """A new stage of `pipeline`, last or at `position` (the stages after it move down)."""
    errors: dict[str, list[str]] = {}
    data = _stage_fields_clean(
        {"name": name, "probability": probability, "is_won": is_won, "is_lost": is_lost}, errors
    )
    if data.get("is_won") and data.get("is_lost"):
        errors["is_lost"] = ["A stage is won or lost, not both."]
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        errors["position"] = ["Give a whole number."]
    if errors:
        raise InvalidFields(errors)
    with transaction.atomic():
        Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        ordered = list(Stage.objects.filter(pipeline=pipeline).order_by("position", "id"))
        last = Stage.objects.filter(pipeline=pipeline).aggregate(m=Max("position"))["m"]
        stage = Stage.objects.create(
            pipeline=pipeline, position=(last if last is not None else -1) + 1, **data
        )
        if position is not None and position < len(ordered):
            ordered.insert(max(0, position), stage)
            _stages_renumber(pipeline, ordered)
    log.info("stage.created", stage=stage.pk, pipeline=pipeline.pk, by=getattr(by, "pk", None))
    return stage


def stage_update(*, stage: Stage, by: Any, **changes: Any) -> Stage:
    """Rename a stage, set its probability or won/lost flag, or move it to `position` in its
    pipeline (0 first). Deals keep their stage; whether they are closed follows on their
    next move."""
    errors: dict[str, list[str]] = {}
    data = _stage_fields_clean(changes, errors)
    won = data.get("is_won", stage.is_won)
    lost = data.get("is_lost", stage.is_lost)
    if won and lost:
        errors["is_lost" if "is_lost" in data else "is_won"] = ["A stage is won or lost, not both."]
    position = changes.get("position")
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        errors["position"] = ["Give a whole number."]
    if errors:
        raise InvalidFields(errors)
    with transaction.atomic():
        for key, value in data.items():
            setattr(stage, key, value)
        if data:
            stage.save(update_fields=list(data))
        if position is not None:
            Pipeline.objects.select_for_update().get(pk=stage.pipeline_id)
            ordered = [
                s
                for s in Stage.objects.filter(pipeline_id=stage.pipeline_id).order_by(
                    "position", "id"
                )
                if s.pk != stage.pk
            ]
            ordered.insert(max(0, min(position, len(ordered))), stage)
            _stages_renumber(stage.pipeline, ordered)
    log.info("stage.updated", stage=stage.pk, by=getattr(by, "pk", None), fields=list(changes))
    return stage


def stage_reorder(*, pipeline: Pipeline, by: Any, stage_ids: Sequence[int]) -> list[Stage]:
    """Put the pipeline's stages in the order of `stage_ids`, which lists each of them once."""
    with transaction.atomic():
        Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        stages = {s.pk: s for s in Stage.objects.filter(pipeline=pipeline)}
        if sorted(stage_ids) != sorted(stages):
            raise InvalidFields({"stages": ["List every stage of the pipeline once."]})
        ordered = [stages[pk] for pk in stage_ids]
        _stages_renumber(pipeline, ordered)
    log.info("stage.reordered", pipeline=pipeline.pk, by=getattr(by, "pk", None))
    return ordered


def stage_archive(*, stage: Stage, by: Any, move_deals_to: Stage | None = None) -> Stage:
    """Take a stage off its pipeline. Its deals must go somewhere: to `move_deals_to`, another
    open stage of the same pipeline, each move kept in the deal's history; without it, a stage
    with deals raises StageHasDeals and nothing changes."""
    from crm.services.deals import deal_move

    if move_deals_to is not None and (
        move_deals_to.pk == stage.pk
        or move_deals_to.pipeline_id != stage.pipeline_id
        or move_deals_to.is_archived
    ):
        raise InvalidFields({"move_deals_to": ["Choose another open stage of the same pipeline."]})
    with transaction.atomic():
        stage = Stage.objects.select_for_update().get(pk=stage.pk)
        deals = list(Deal.objects.filter(stage=stage).order_by("position", "id"))
        if deals and move_deals_to is None:
            raise StageHasDeals(
                f"{len(deals)} deal(s) are on “{stage.name}”: choose the stage they move to.",
                field="move_deals_to",
                deals=len(deals),
            )
        if move_deals_to is not None:
            for deal in deals:
                deal_move(deal=deal, stage=move_deals_to, position=None, by=by)
        if (
            not Stage.objects.filter(pipeline_id=stage.pipeline_id, is_archived=False)
            .exclude(pk=stage.pk)
            .exists()
        ):
            raise InvalidFields({"stage": ["A pipeline keeps at least one stage."]})
        stage.is_archived = True
        stage.save(update_fields=["is_archived"])
    log.info(
        "stage.archived",
        stage=stage.pk,
        moved=len(deals),
        to=getattr(move_deals_to, "pk", None),
        by=getattr(by, "pk", None),
    )
    return stage
