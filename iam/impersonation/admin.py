"""The operator admin's side (public site): "Act as a member" for operators holding the
`iam_impersonation.impersonate_member` permission, the link step of the handoff, and the
list of impersonations made."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from iam.models import User
from problems.exceptions import DomainError, InvalidFields
from problems.forms import add_field_errors
from tenants.models import Tenant

from .forms import ImpersonationStartForm
from .models import Impersonation
from .services import (
    TIME_LIMIT,
    impersonation_link,
    impersonation_start,
    impersonation_start_url,
    may_impersonate,
)


@admin.register(Impersonation)
class ImpersonationAdmin(admin.ModelAdmin):
    list_display = (
        "tenant",
        "operator",
        "member",
        "started_at",
        "expires_at",
        "ended_at",
        "end_reason",
    )
    list_filter = ("end_reason",)
    search_fields = ("tenant__slug", "operator__email", "member__email")
    list_select_related = ("tenant", "operator", "member")
    readonly_fields = [f.name for f in Impersonation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Started from an organization (its "Act as a member" action), never as a bare row.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Impersonation]:
        return super().get_queryset(request).order_by("-started_at")

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        own = [
            path(
                "start/<int:tenant_id>/",
                wrap(self.start_view),
                name="iam_impersonation_impersonation_start",
            ),
            path(
                "<int:pk>/link/",
                wrap(self.link_view),
                name="iam_impersonation_impersonation_link",
            ),
        ]
        return own + super().get_urls()

    def start_view(self, request: HttpRequest, tenant_id: int) -> HttpResponse:
        """Choose the member and say why; then the browser goes to the organization."""
        operator: User = request.user  # type: ignore[assignment]
        if not may_impersonate(operator):
            raise PermissionDenied("Acting as a member needs its own permission.")
        tenant = get_object_or_404(Tenant, pk=tenant_id)
        form = ImpersonationStartForm(request.POST or None, tenant=tenant)
        status = 200
        if request.method == "POST":
            status = 400
            if form.is_valid():
                try:
                    row = impersonation_start(
                        tenant=tenant,
                        operator=operator,
                        member_id=form.cleaned_data["member"],
                        reason=form.cleaned_data["reason"],
                    )
                except InvalidFields as exc:
                    add_field_errors(form, exc)
                except DomainError as exc:
                    form.add_error(None, exc.detail)
                    status = exc.status
                else:
                    return redirect(impersonation_start_url(impersonation=row))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Act as a member of {tenant.name}",
            "tenant": tenant,
            "form": form,
            "minutes": int(TIME_LIMIT.total_seconds() // 60),
            "opts": Tenant._meta,
        }
        return TemplateResponse(
            request, "iam_impersonation/admin/start.html", context, status=status
        )

    def link_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Step 3: the one-time link, for the operator who started it, bound to the nonce
        the organization's host left in this browser."""
        operator: User = request.user  # type: ignore[assignment]
        if not may_impersonate(operator):
            raise PermissionDenied("Acting as a member needs its own permission.")
        try:
            url = impersonation_link(
                impersonation_id=pk, operator=operator, state=request.GET.get("state", "")
            )
        except DomainError as exc:
            return render(request, "iam/handoff_invalid.html", {"error": exc.detail}, status=400)
        return redirect(url)
