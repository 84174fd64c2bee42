"""Settings pages of pipelines and their stages, for those with the CRM set-up right:
create, rename and archive pipelines; add, rename, reorder, flag and remove stages."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm.models import Pipeline, Stage
from crm.selectors.deals import pipeline_list
from crm.services.pipelines import (
    pipeline_create,
    pipeline_update,
    stage_archive,
    stage_create,
    stage_update,
)
from iam.authz.guards import requires
from problems.exceptions import DomainError
from problems.forms import add_field_errors


class PipelineForm(forms.Form):
    name = forms.CharField(max_length=100)


class StageForm(forms.Form):
    name = forms.CharField(max_length=100)
    probability = forms.IntegerField(min_value=0, max_value=100, initial=0, label="Win chance %")
    outcome = forms.ChoiceField(
        choices=[("", "Open"), ("won", "Won"), ("lost", "Lost")], required=False
    )

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "probability": data["probability"],
            "is_won": data["outcome"] == "won",
            "is_lost": data["outcome"] == "lost",
        }


def _page(
    request: HttpRequest, *, forms_by_stage: dict[int, StageForm] | None = None, status: int = 200
) -> HttpResponse:
    pipelines = list(pipeline_list(include_archived=True))
    counts = dict(Stage.objects.annotate(n=Count("deals")).values_list("pk", "n"))
    for pipeline in pipelines:
        for stage in pipeline.stages.all():
            stage.deal_count = counts.get(stage.pk, 0)  # type: ignore[attr-defined]
    return render(
        request,
        "crm/pipelines/list.html",
        {
            "pipelines": pipelines,
            "new_pipeline": PipelineForm(),
            "stage_form": StageForm(),
            "errors_by_stage": forms_by_stage or {},
        },
        status=status,
    )


@login_required
@requires("admin.custom_fields")
def pipeline_settings(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _fail(request: HttpRequest, exc: DomainError) -> HttpResponse:
    notes = [m for ms in exc.field_errors().values() for m in ms] or [exc.detail]
    for note in notes:
        messages.error(request, note)
    return redirect("crm:pipeline_settings")  # the page lists every pipeline and stage


@login_required
@requires("admin.custom_fields")
@require_POST
def pipeline_add(request: HttpRequest) -> HttpResponse:
    form = PipelineForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the pipeline a name (at most 100 characters).")
        return redirect("crm:pipeline_settings")
    pipeline = pipeline_create(by=request.user, name=form.cleaned_data["name"])
    messages.success(request, f"Pipeline “{pipeline.name}” created with the usual stages.")
    return redirect("crm:pipeline_settings")


@login_required
@requires("admin.custom_fields")
@require_POST
def pipeline_change(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename (`name`), archive (`archive=1`) or bring back (`archive=0`) a pipeline."""
    pipeline = get_object_or_404(Pipeline, pk=pk)
    archive = request.POST.get("archive")
    try:
        if archive in ("0", "1"):
            pipeline_update(pipeline=pipeline, by=request.user, is_archived=archive == "1")
            messages.success(
                request,
                f"Pipeline “{pipeline.name}” {'archived' if archive == '1' else 'restored'}.",
            )
        else:
            pipeline_update(pipeline=pipeline, by=request.user, name=request.POST.get("name", ""))
            messages.success(request, "Pipeline renamed.")
    except DomainError as exc:
        return _fail(request, exc)
    return redirect("crm:pipeline_settings")


@login_required
@requires("admin.custom_fields")
@require_POST
def stage_add(request: HttpRequest, pk: int) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline, pk=pk)
    form = StageForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{form.fields[field].label or field}: {error}")
        return redirect("crm:pipeline_settings")
    try:
        stage = stage_create(pipeline=pipeline, by=request.user, **form.changes())
    except DomainError as exc:
        return _fail(request, exc)
    messages.success(request, f"Stage “{stage.name}” added to {pipeline.name}.")
    return redirect("crm:pipeline_settings")


@login_required
@requires("admin.custom_fields")
@require_http_methods(["GET", "POST"])
def stage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=pk)
    outcome = "won" if stage.is_won else "lost" if stage.is_lost else ""
    form = StageForm(
        request.POST or None,
        initial={"name": stage.name, "probability": stage.probability, "outcome": outcome},
    )
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            stage_update(stage=stage, by=request.user, **form.changes())
        except DomainError as exc:
            if not add_field_errors(form, exc):
                form.add_error(None, exc.detail)
        else:
            messages.success(request, f"Stage “{stage.name}” saved.")
            return redirect("crm:pipeline_settings")
    others = Stage.objects.filter(pipeline=stage.pipeline, is_archived=False).exclude(pk=stage.pk)
    return render(
        request,
        "crm/pipelines/stage_form.html",
        {"stage": stage, "form": form, "others": others, "deal_count": stage.deals.count()},
        status=status,
    )


@login_required
@requires("admin.custom_fields")
@require_POST
def stage_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a stage one place up or down (`direction`)."""
    stage = get_object_or_404(Stage, pk=pk)
    ordered = list(Stage.objects.filter(pipeline_id=stage.pipeline_id).order_by("position", "id"))
    at = ordered.index(stage)
    target = at - 1 if request.POST.get("direction") == "up" else at + 1
    if 0 <= target < len(ordered):
        stage_update(stage=stage, by=request.user, position=target)
    return redirect("crm:pipeline_settings")


@login_required
@requires("admin.custom_fields")
@require_POST
def stage_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Archive a stage, moving its deals to the stage chosen (`move_deals_to`)."""
    stage = get_object_or_404(Stage, pk=pk)
    raw = request.POST.get("move_deals_to", "")
    target = Stage.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    try:
        stage_archive(stage=stage, by=request.user, move_deals_to=target)
    except DomainError as exc:
        for note in [m for ms in exc.field_errors().values() for m in ms] or [exc.detail]:
            messages.error(request, note)
        return redirect("crm:stage_edit", pk=stage.pk)
    messages.success(request, f"Stage “{stage.name}” removed.")
    return redirect("crm:pipeline_settings")
