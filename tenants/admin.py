"""Operator admin on the public host: organizations and their domains."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from .models import Domain, Tenant
from .services import tenant_hosts_changed, tenant_rename, tenant_restore, tenant_suspend
from .signals import operator_acted

IMPERSONATE_PERMISSION = "iam_impersonation.impersonate_member"
IMPERSONATE_URL = "admin:iam_impersonation_impersonation_start"


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


def _acted(request: HttpRequest, tenant: Tenant, action: str, changes: dict[str, Any]) -> None:
    """Tell the organization's audit log what an operator did to it."""
    operator_acted.send(
        sender=Tenant, tenant=tenant, operator=request.user, action=action, changes=changes
    )


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "status", "schema_name", "created_at")
    list_filter = ("status",)
    search_fields = ("slug", "name")
    # The time zone is the organization's own choice (its Organization settings).
    readonly_fields = ("schema_name", "slug", "time_zone", "created_at")
    inlines = [DomainInline]
    actions = ["suspend", "restore", "act_as_member"]
    # Adds "Act as a member" to an organization's page for operators who may.
    change_form_template = "admin/tenants/tenant/change_form.html"

    def has_impersonate_permission(self, request: HttpRequest) -> bool:
        # The dedicated permission of operator impersonation (iam.impersonation), by name:
        # tenants may not import iam.
        return bool(request.user.has_perm(IMPERSONATE_PERMISSION))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        if self.has_impersonate_permission(request) and object_id.isdigit():
            extra["act_as_member_url"] = reverse(IMPERSONATE_URL, args=[int(object_id)])
        return super().change_view(request, object_id, form_url, extra)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # New organizations go through provisioning (sign-up or `create_tenant`), never a bare row.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        # Deletion drops a schema; it is done with `delete_tenant`, which asks for confirmation.
        return False

    def save_model(self, request: HttpRequest, obj: Tenant, form: ModelForm, change: bool) -> None:
        # Through the services, so that every process's host cache hears of the change.
        if "name" in form.changed_data:
            before = form.initial.get("name")
            tenant_rename(tenant=obj, name=obj.name)
            _acted(request, obj, "renamed", {"name": [before, obj.name]})
        if "status" in form.changed_data:
            if obj.is_suspended:
                tenant_suspend(tenant=obj)
                _acted(request, obj, "suspended", {"status": ["active", obj.status]})
            else:
                tenant_restore(tenant=obj)
                _acted(
                    request, obj, "restored", {"status": [form.initial.get("status"), obj.status]}
                )

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        tenant = form.instance
        hosts = set(tenant.domains.values_list("domain", flat=True))
        super().save_related(request, form, formsets, change)
        tenant_hosts_changed(tenant=tenant, hosts=hosts)
        now = set(tenant.domains.values_list("domain", flat=True))
        if now != hosts:
            _acted(request, tenant, "hosts_changed", {"hosts": [sorted(hosts), sorted(now)]})

    @admin.action(description="Suspend selected organizations")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            tenant_suspend(tenant=tenant)
            _acted(request, tenant, "suspended", {"status": ["active", tenant.status]})
        messages.success(request, f"Suspended {queryset.count()} organization(s).")

    @admin.action(description="Restore selected organizations")
    def restore(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            tenant_restore(tenant=tenant)
            _acted(request, tenant, "restored", {"status": ["suspended", tenant.status]})
        messages.success(request, f"Restored {queryset.count()} organization(s).")

    @admin.action(
        description="Act as a member of the selected organization", permissions=["impersonate"]
    )
    def act_as_member(
        self, request: HttpRequest, queryset: QuerySet[Tenant]
    ) -> HttpResponse | None:
        """Choose a member and say why (iam.impersonation); one organization at a time."""
        if queryset.count() != 1:
            messages.error(request, "Select exactly one organization to act as one of its members.")
            return None
        tenant = queryset.get()
        return redirect(reverse(IMPERSONATE_URL, args=[tenant.pk]))
