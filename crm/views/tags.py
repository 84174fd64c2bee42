"""The organization's tags, for those with the CRM set-up right: how much each is used,
rename, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import TagNameTaken
from crm.models import Tag
from crm.selectors.tags import tag_list
from crm.services.tags import tag_delete, tag_rename
from iam.authz.guards import requires
from problems.exceptions import InvalidFields


def _page(
    request: HttpRequest, *, errors: dict[int, str] | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "crm/tags/settings.html",
        {"tags": tag_list()[:500], "errors": errors or {}},
        status=status,
    )


@login_required
@requires("admin.custom_fields")
@require_GET
def tag_settings(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@requires("admin.custom_fields")
@require_POST
def tag_rename_view(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk)
    try:
        tag_rename(tag=tag, name=request.POST.get("name", ""), by=request.user)
    except (InvalidFields, TagNameTaken) as exc:
        notes = [note for group in exc.field_errors().values() for note in group]
        return _page(request, errors={pk: " ".join(notes) or exc.detail}, status=exc.status)
    messages.success(request, f"Tag renamed to {tag.name}.")
    return redirect("crm:tag_settings")


@login_required
@requires("admin.custom_fields")
@require_POST
def tag_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk)
    tag_delete(tag=tag, by=request.user)
    messages.success(request, f"Tag {tag.name} deleted; the records keep everything else.")
    return redirect("crm:tag_settings")
