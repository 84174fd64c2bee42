"""The tenant admin: owners and admins of an organization manage its records on its own host."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.contrib.admin.options import get_content_type_for_model
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse

from iam.permissions import is_tenant_admin

from . import selectors, services
from .forms import CompanyDomainMixin, CustomValuesModelForm, with_custom_fields
from .models import AdminLogEntry, Company, Contact, CustomField, Pipeline, Stage

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])

NOT_AN_ADMIN = "Only owners and admins of this organization can open its admin."


def _is_tenant_admin(request: HttpRequest) -> bool:
    return request.user.is_active and is_tenant_admin(getattr(request, "membership", None))


class TenantAdminSite(admin.AdminSite):
    """Served only on tenant hosts; shows only the current tenant's schema."""

    site_header = "Organization admin"
    site_title = "Organization admin"
    index_title = "Records"

    def has_permission(self, request: HttpRequest) -> bool:
        return _is_tenant_admin(request)

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        """Signed in but not an owner or admin: the product's 403 page, where Django's admin
        would send the person to a sign-in form of its own."""
        checked = super().admin_view(view, cacheable)

        @wraps(checked)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied(NOT_AN_ADMIN)
            return checked(request, *args, **kwargs)

        return cast(_View, inner)

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """People sign in on the product's own page; the admin has no sign-in form."""
        index = reverse("admin:index", current_app=self.name)
        if not request.user.is_authenticated:
            return redirect_to_login(index, settings.LOGIN_URL)
        if not self.has_permission(request):
            raise PermissionDenied(NOT_AN_ADMIN)
        return HttpResponseRedirect(index)

    def get_log_entries(self, request: HttpRequest) -> QuerySet[AdminLogEntry]:  # type: ignore[override]
        """Recent actions on the index page: from this organization's own log."""
        return AdminLogEntry.objects.select_related("content_type", "user")


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
    """Writes the admin's log to the organization's own schema (`AdminLogEntry`) and reads
    the history pages from there, never from the shared `django_admin_log`."""

    # Django's own versions write `LogEntry` rows to the shared table and return them.
    def log_addition(  # type: ignore[override]
        self, request: HttpRequest, obj: Any, message: Any
    ) -> list[AdminLogEntry]:
        return self._log(request, [obj], ADDITION, message)

    def log_change(  # type: ignore[override]
        self, request: HttpRequest, obj: Any, message: Any
    ) -> list[AdminLogEntry]:
        return self._log(request, [obj], CHANGE, message)

    def log_deletions(  # type: ignore[override]
        self, request: HttpRequest, queryset: Any
    ) -> list[AdminLogEntry]:
        return self._log(request, queryset, DELETION)

    def _log(
        self, request: HttpRequest, objects: Any, action_flag: int, message: Any = ""
    ) -> list[AdminLogEntry]:
        return AdminLogEntry.objects.log(
            user_id=request.user.pk,
            objects=objects,
            action_flag=action_flag,
            change_message=message,
        )

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Django's page, template and checks, given this organization's entries in place of
        # those of the shared log (the admin still counts its own query; that is never shown,
        # and the organization admin writes nothing there).
        entries = (
            AdminLogEntry.objects.filter(
                object_id=unquote(object_id),
                content_type=get_content_type_for_model(self.model),
            )
            .select_related("user")
            .order_by("action_time", "id")
        )
        paginator = self.get_paginator(request, entries, 100)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        return super().history_view(
            request,
            object_id,
            {
                "action_list": page,
                "page_range": paginator.get_elided_page_range(page.number),
                "pagination_required": paginator.count > 100,
                **(extra_context or {}),
            },
        )


tenant_admin_site = TenantAdminSite(name="tenant_admin")


class CustomValuesAdmin(TenantModelAdmin):
    """Shows a record's custom field values with it (sensitive ones decrypted) and saves them
    through the same rules as the forms and the API."""

    form: type[CustomValuesModelForm]

    def _custom_fields(self, request: HttpRequest) -> list[CustomField]:
        cache: dict[str, list[CustomField]] = request.__dict__.setdefault("_custom_fields", {})
        entity = self.form.entity
        if entity not in cache:
            cache[entity] = list(selectors.custom_field_list(entity=entity))
        return cache[entity]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        kwargs.setdefault("form", with_custom_fields(self.form, self._custom_fields(request)))
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The admin's change view runs in a transaction, as custom_values_assign needs.
        services.custom_values_assign(
            record=obj, values=form.cleaned_data.get("custom", {}), creating=not change
        )
        super().save_model(request, obj, form, change)


class ContactAdminForm(CustomValuesModelForm):
    entity = CustomField.Entity.CONTACT

    class Meta:
        model = Contact
        fields = "__all__"


class CompanyAdminForm(CompanyDomainMixin, CustomValuesModelForm):
    entity = CustomField.Entity.COMPANY

    class Meta:
        model = Company
        fields = "__all__"


@admin.register(Contact, site=tenant_admin_site)
class ContactAdmin(CustomValuesAdmin):
    form = ContactAdminForm
    list_display = ("first_name", "last_name", "email", "company", "created_at")
    search_fields = ("first_name", "last_name", "email")


@admin.register(Company, site=tenant_admin_site)
class CompanyAdmin(CustomValuesAdmin):
    form = CompanyAdminForm
    list_display = ("name", "domain", "created_at")
    search_fields = ("name", "domain")


class StageInline(TenantAdminPermissions, admin.TabularInline):
    model = Stage
    extra = 0


@admin.register(Pipeline, site=tenant_admin_site)
class PipelineAdmin(TenantModelAdmin):
    list_display = ("name", "is_default")
    inlines = [StageInline]
