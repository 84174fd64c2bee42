"""The tenant admin: those with the CRM set-up right (owners and admins, or a custom role
with it) manage the organization's records on its own host. Every page goes through the
decision point, and so does every record shown, changed or deleted here."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.contrib.admin.options import get_content_type_for_model
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.contrib.auth.views import redirect_to_login
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import URLPattern, URLResolver, reverse

from iam import authz
from iam.authz import catalog
from iam.authz.guards import enforce
from iam.exceptions import AccessDenied

from . import selectors, services
from .exceptions import ProductInUse
from .forms import CompanyDomainMixin, CustomValuesModelForm, with_custom_fields
from .models import (
    Activity,
    AdminLogEntry,
    Company,
    Contact,
    CustomField,
    Deal,
    Lead,
    Pipeline,
    Product,
    Stage,
    Tag,
)
from .services.activities import activity_delete
from .services.products import product_delete
from .services.tags import tag_delete
from .services.trash import record_trash

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])

# The right the admin is for, and the guard its routes carry (tests/iam/test_route_guards.py).
ADMIN_RIGHT = "custom_fields"
GUARD = f"admin.{ADMIN_RIGHT}"


def _is_tenant_admin(request: HttpRequest) -> bool:
    if not request.user.is_active:
        return False
    principal = authz.principal_for_request(request)
    return authz.check(principal, "manage", right=ADMIN_RIGHT).allowed


def _record_type(obj: Any) -> str | None:
    key = type(obj).__name__.lower()
    return key if key in catalog.RECORD_TYPE_KEYS else None


def _record_allowed(request: HttpRequest, action: str, obj: Model | None) -> bool:
    """Whether the decision point allows `action` on `obj`, when it is a record of the
    catalog (other rows, such as tags, are the set-up right's alone)."""
    if obj is None or _record_type(obj) is None:
        return True
    return authz.check(authz.principal_for_request(request), action, record=obj).allowed


def _guarded(patterns: list[Any]) -> list[Any]:
    """Mark each of the site's routes with the guard every one of them goes through: the
    admin's own pages run through `admin_view` when they are called, which checks the
    right; the sign-in page only sends people on (to the product's sign-in, or the index)."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            _guarded(entry.url_patterns)
        elif isinstance(entry, URLPattern) and not getattr(entry.callback, "authz_guard", None):
            if getattr(entry.callback, "__func__", None) is not None:  # a bound method
                entry.callback = _open_redirect(entry.callback)
            else:
                entry.callback.authz_guard = GUARD  # type: ignore[attr-defined]
    return patterns


def _open_redirect(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def redirect_only(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return view(request, *args, **kwargs)

    redirect_only.authz_guard = "open: sends to the product's sign-in or the admin's index"  # type: ignore[attr-defined]
    return redirect_only


class TenantAdminSite(admin.AdminSite):
    """Served only on tenant hosts; shows only the current tenant's schema."""

    site_header = "Organization admin"
    site_title = "Organization admin"
    index_title = "Records"

    def has_permission(self, request: HttpRequest) -> bool:
        return _is_tenant_admin(request)

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        """Signed in without the right: the product's 403 page with the decision's reason,
        where Django's admin would send the person to a sign-in form of its own."""
        checked = super().admin_view(view, cacheable)

        @wraps(checked)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.user.is_authenticated:
                enforce(request, GUARD)
            return checked(request, *args, **kwargs)

        inner.authz_guard = GUARD  # type: ignore[attr-defined]
        return cast(_View, inner)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return _guarded(super().get_urls())

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """People sign in on the product's own page; the admin has no sign-in form."""
        index = reverse("admin:index", current_app=self.name)
        if not request.user.is_authenticated:
            return redirect_to_login(index, settings.LOGIN_URL)
        enforce(request, GUARD)
        return HttpResponseRedirect(index)

    def get_log_entries(self, request: HttpRequest) -> QuerySet[AdminLogEntry]:  # type: ignore[override]
        """Recent actions on the index page: from this organization's own log."""
        return AdminLogEntry.objects.select_related("content_type", "user")


class TenantAdminPermissions:
    """Those with the set-up right may use the admin; on a record of the catalog, the
    decision point decides as anywhere else (its policies included)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_tenant_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_tenant_admin(request) and _record_allowed(request, "view", obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _is_tenant_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_tenant_admin(request) and _record_allowed(request, "edit", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_tenant_admin(request) and _record_allowed(request, "delete", obj)


class TenantModelAdmin(TenantAdminPermissions, admin.ModelAdmin):
    """Writes the admin's log to the organization's own schema (`AdminLogEntry`) and reads
    the history pages from there, never from the shared `django_admin_log`. Lists of
    records show those the person may view, in the query."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        record_type = self.model.__name__.lower()
        if record_type in catalog.RECORD_TYPE_KEYS:
            principal = authz.principal_for_request(request)
            queryset = authz.visible(queryset, principal, record_type)
        return queryset

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
        exclude = ("score",)  # computed by lead scoring, with its reasons


class CompanyAdminForm(CompanyDomainMixin, CustomValuesModelForm):
    entity = CustomField.Entity.COMPANY

    class Meta:
        model = Company
        fields = "__all__"


def _deletable(request: HttpRequest, queryset: QuerySet[Any]) -> list[Any]:
    """The records of a delete action, each decided first: all or nothing, one the person
    may not delete refuses the whole action, naming it and why."""
    records = list(queryset)
    principal = authz.principal_for_request(request)
    for record in records:
        decision = authz.check(principal, "delete", record=record)
        if not decision.allowed:
            raise AccessDenied(f"{record}: {decision.reason}", policies=list(decision.policy_names))
    return records


class TrashingAdmin(TenantModelAdmin):
    """Deleting here moves records to the trash, as everywhere else (restorable for 30 days
    from the Trash page)."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        record_trash(record=obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for record in _deletable(request, queryset):
            record_trash(record=record, by=request.user)


class ReadOnlyRecordAdmin(TenantModelAdmin):
    """Records whose changes follow rules of their own (stage history, conversions, scores):
    shown and searchable here, changed on their pages in the product and through the API."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False


@admin.register(Lead, site=tenant_admin_site)
class LeadAdmin(TrashingAdmin, ReadOnlyRecordAdmin):
    list_display = ("first_name", "last_name", "company_name", "status", "source", "score")
    list_filter = ("status", "source")
    search_fields = ("first_name", "last_name", "company_name")
    exclude = ("email", "phone")  # encrypted: shown on the lead's page, not searchable here


@admin.register(Deal, site=tenant_admin_site)
class DealAdmin(TrashingAdmin, ReadOnlyRecordAdmin):
    list_display = ("name", "company", "pipeline", "stage", "amount", "currency", "closed_at")
    list_filter = ("pipeline", "stage")
    list_select_related = ("company", "pipeline", "stage")
    search_fields = ("name",)


@admin.register(Activity, site=tenant_admin_site)
class ActivityAdmin(ReadOnlyRecordAdmin):
    list_display = ("__str__", "kind", "due_at", "is_done", "created_at")
    list_filter = ("kind", "is_done")
    search_fields = ("subject",)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        activity_delete(activity=obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for activity in _deletable(request, queryset):
            activity_delete(activity=activity, by=request.user)


@admin.register(Product, site=tenant_admin_site)
class ProductAdmin(ReadOnlyRecordAdmin):
    list_display = ("name", "sku", "price", "currency", "is_active")
    list_filter = ("is_active", "currency")
    search_fields = ("name", "sku")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # One on deals is set off sale on its page instead: the deals keep their lines.
        return super().has_delete_permission(request) and (
            obj is None or not obj.line_items.exists()
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_queryset(request, Product.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        kept = []
        for product in queryset:
            try:
                product_delete(product=product, by=request.user)
            except ProductInUse:
                kept.append(product.name)
        if kept:
            messages.warning(
                request,
                f"Kept {', '.join(kept)}: on deals, so set off sale on the product's page instead.",
            )


@admin.register(Tag, site=tenant_admin_site)
class TagAdmin(ReadOnlyRecordAdmin):
    list_display = ("name",)
    search_fields = ("name",)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        tag_delete(tag=obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for tag in queryset:
            tag_delete(tag=tag, by=request.user)


@admin.register(Contact, site=tenant_admin_site)
class ContactAdmin(TrashingAdmin, CustomValuesAdmin):
    form = ContactAdminForm
    list_display = ("first_name", "last_name", "email", "company", "created_at")
    search_fields = ("first_name", "last_name", "email")


@admin.register(Company, site=tenant_admin_site)
class CompanyAdmin(TrashingAdmin, CustomValuesAdmin):
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
