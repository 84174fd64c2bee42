"""Operator admin on the public host: organizations and their domains."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from .models import Domain, Tenant
from .services import tenant_hosts_changed, tenant_rename, tenant_restore, tenant_suspend
from .signals import operator_acted


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
    actions = ["suspend", "restore"]

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
