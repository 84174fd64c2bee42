"""The tenant admin: owners and admins of an organization manage its records on its own host."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Company, Contact, Pipeline, Stage

_ADMIN_ROLES = ("owner", "admin")


def _is_tenant_admin(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return bool(
        request.user.is_active and membership is not None and membership.role in _ADMIN_ROLES
    )


class TenantAdminSite(admin.AdminSite):
    """Served only on tenant hosts; shows only the current tenant's schema."""

    site_header = "Organization admin"
    site_title = "Organization admin"
    index_title = "Records"

    def has_permission(self, request: HttpRequest) -> bool:
        return _is_tenant_admin(request)


class TenantAdminPermissions:
    """Organization owners and admins may do everything here; nobody else anything."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_tenant_admin(request)

    def has_view_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _is_tenant_admin(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _is_tenant_admin(request)

    def has_change_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _is_tenant_admin(request)

    def has_delete_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _is_tenant_admin(request)


class TenantModelAdmin(TenantAdminPermissions, admin.ModelAdmin):
    pass


tenant_admin_site = TenantAdminSite(name="tenant_admin")


@admin.register(Contact, site=tenant_admin_site)
class ContactAdmin(TenantModelAdmin):
    list_display = ("first_name", "last_name", "email", "company", "created_at")
    search_fields = ("first_name", "last_name", "email")


@admin.register(Company, site=tenant_admin_site)
class CompanyAdmin(TenantModelAdmin):
    list_display = ("name", "domain", "created_at")
    search_fields = ("name", "domain")


class StageInline(TenantAdminPermissions, admin.TabularInline):
    model = Stage
    extra = 0


@admin.register(Pipeline, site=tenant_admin_site)
class PipelineAdmin(TenantModelAdmin):
    list_display = ("name", "is_default")
    inlines = [StageInline]
