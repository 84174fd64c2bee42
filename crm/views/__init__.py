"""HTML pages of the CRM on a tenant host (the membership middleware has already run)."""

import copy
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from billing.exceptions import PlanLimitReached
from crm import exports, selectors, services
from crm.exceptions import ContactEmailTaken
from crm.forms import CompanyForm, ContactForm, CustomFieldForm
from crm.models import Company, Contact, CustomField
from crm.selectors.tags import tag_list, tagged_with
from iam import authz
from iam.authz.guards import requires
from pii.exceptions import KeyServiceUnavailable
from problems.exceptions import DomainError, InvalidFields
from problems.forms import add_field_errors

from . import lists

PAGE_SIZE = 25
# Imports and exports are heavy (thousands of rows, decryption): per user and organization,
# as the API's throttles (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).
FILES_PER_HOUR = "30/h"
_TOO_MANY_FILES = "You imported or exported many files in the last hour; wait a while."
_KEY_SERVICE_DOWN = (
    "Some of these details are stored encrypted and the key service is unreachable right now, "
    "so nothing was saved. Please try again in a moment."
)


def _page(request: HttpRequest, qs: Any) -> Any:
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def _principal(request: HttpRequest) -> authz.Principal | None:
    return authz.principal_for_request(request)


def _company_choices(form: ContactForm, request: HttpRequest) -> None:
    """Offer the companies the member may view, and the contact's own whatever it is."""
    field = form.fields.get("company")
    if field is None:
        return
    current = getattr(form.instance, "company_id", None)
    visible = authz.visible(field.queryset, _principal(request), "company")  # type: ignore[attr-defined]
    if current:
        visible = visible | field.queryset.filter(pk=current)  # type: ignore[attr-defined]
    field.queryset = visible  # type: ignore[attr-defined]


def _viewable(request: HttpRequest, queryset: Any, record_type: str, pk: int) -> Any:
    """The record the member may view, else 404: a record they may not see is as missing
    as one that doesn't exist, so its existence isn't revealed."""
    return get_object_or_404(authz.visible(queryset, _principal(request), record_type), pk=pk)


# Sortable columns of the contact list, by key: the fields sorted by.
CONTACT_ORDERINGS = {
    "name": ("first_name", "last_name"),
    "company": ("company__name",),
    "owner": ("owner_id",),
    "created": ("created_at",),
}


@login_required
@requires("contact.view")
def contact_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    tag = " ".join(request.GET.get("tag", "").split())
    members = lists.member_names(request)
    contacts = lists.owner_filtered(
        selectors.contact_list(principal=_principal(request), search=search), request
    )
    contacts, ordering = lists.ordered(
        contacts.select_related("company"), CONTACT_ORDERINGS, request.GET.get("ordering", "")
    )
    page = _page(request, tagged_with(contacts, tag).prefetch_related("tags"))
    for contact in page:
        contact.owner_label = members.get(contact.owner_id or 0, "")
    partial = bool(request.headers.get("HX-Request"))
    template = "crm/_contact_rows.html" if partial else "crm/contact_list.html"
    context = {
        "page": page,
        "q": search,
        "tag": tag,
        "chrome": lists.list_chrome(request, "contacts", members),
        "heads": lists.sort_heads(request, CONTACT_ORDERINGS, ordering or "-created"),
        "owner": request.GET.get("owner", ""),
        "mine": bool(request.GET.get("mine")),
    }
    if not partial:
        context["tags"] = tag_list()
    response = render(request, template, context)
    # The same URL answers with the whole page or only the rows.
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@requires("contact.view")
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _viewable(request, Contact.objects.select_related("company"), "contact", pk)
    definitions = selectors.custom_field_definitions(CustomField.Entity.CONTACT)
    members = lists.member_names(request)
    return render(
        request,
        "crm/contact_detail.html",
        {
            "contact": contact,
            "custom_values": selectors.custom_values_shown(contact, definitions),
            "members": members,
            "owner_name": members.get(contact.owner_id or 0, ""),
        },
    )


@login_required
@requires("contact.edit")
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new contact (the `create` right) or a change to one the member may edit."""
    if pk:
        contact = _viewable(request, Contact.objects.all(), "contact", pk)
        authz.require(_principal(request), "edit", record=contact)
    else:
        contact = None
        authz.require(_principal(request), "create", record_type="contact")
    # The form fills a copy: validating writes the posted values into its instance, and the
    # update needs the record as it was to log what changed.
    form = ContactForm(request.POST or None, instance=copy.copy(contact))
    _company_choices(form, request)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            if contact is None:
                contact = services.contact_create(by=request.user, **form.cleaned_data)
                messages.success(request, f"Contact {contact.full_name} created.")
            else:
                contact = services.contact_update(
                    contact=contact, by=request.user, **form.cleaned_data
                )
                messages.success(request, "Changes saved.")
        except KeyServiceUnavailable:
            form.add_error(None, _KEY_SERVICE_DOWN)
            status = 503
        except InvalidFields as exc:  # a custom field changed since the form was shown
            form.add_custom_errors(exc)
        except ContactEmailTaken as exc:
            form.add_error("email", exc.detail)
            status = 409
        else:
            return redirect("crm:contact_detail", pk=contact.pk)
    return render(
        request, "crm/contact_form.html", {"form": form, "contact": contact}, status=status
    )


@login_required
@requires("contact.delete")
@require_POST
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _viewable(request, Contact.objects.all(), "contact", pk)
    authz.require(_principal(request), "delete", record=contact)
    services.contact_delete(contact=contact, by=request.user)
    messages.success(request, f"Contact {contact.full_name} moved to the trash.")
    return redirect("crm:contact_list")


@login_required
@requires("contact.export")
@require_GET
@ratelimit(key="user", rate=FILES_PER_HOUR, block=False, group="crm.export")
def contact_export(request: HttpRequest) -> HttpResponseBase:
    """Download the contacts the member may view (as filtered by the list's search) as CSV,
    for roles with the export right."""
    if getattr(request, "limited", False):
        messages.error(request, _TOO_MANY_FILES)
        return redirect("crm:contact_list")
    return exports.contact_export_response(request, {"search": request.GET.get("q", "").strip()})


# Sortable columns of the company list, by key: the fields sorted by.
COMPANY_ORDERINGS = {
    "name": ("name",),
    "domain": ("domain",),
    "owner": ("owner_id",),
    "contacts": ("contact_count",),
    "created": ("created_at",),
}


@login_required
@requires("company.view")
def company_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    tag = " ".join(request.GET.get("tag", "").split())
    members = lists.member_names(request)
    companies = lists.owner_filtered(
        selectors.company_list(principal=_principal(request), search=search), request
    )
    companies, ordering = lists.ordered(
        companies, COMPANY_ORDERINGS, request.GET.get("ordering", "")
    )
    page = _page(request, tagged_with(companies, tag).prefetch_related("tags"))
    for company in page:
        company.owner_label = members.get(company.owner_id or 0, "")
    return render(
        request,
        "crm/company_list.html",
        {
            "page": page,
            "q": search,
            "tag": tag,
            "tags": tag_list(),
            "chrome": lists.list_chrome(request, "companies", members),
            "heads": lists.sort_heads(request, COMPANY_ORDERINGS, ordering or "name"),
            "owner": request.GET.get("owner", ""),
            "mine": bool(request.GET.get("mine")),
        },
    )


@login_required
@requires("company.view")
def company_detail(request: HttpRequest, pk: int) -> HttpResponse:
    company = _viewable(request, Company.objects.all(), "company", pk)
    # Its people, of those the member may view.
    contacts = authz.visible(company.contacts.all(), _principal(request), "contact")
    contacts = contacts.order_by("first_name", "last_name")[:100]
    definitions = selectors.custom_field_definitions(CustomField.Entity.COMPANY)
    members = lists.member_names(request)
    return render(
        request,
        "crm/company_detail.html",
        {
            "company": company,
            "contacts": contacts,
            "custom_values": selectors.custom_values_shown(company, definitions),
            "members": members,
            "owner_name": members.get(company.owner_id or 0, ""),
        },
    )


@login_required
@requires("company.edit")
@require_http_methods(["GET", "POST"])
def company_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new company (the `create` right) or a change to one the member may edit."""
    if pk:
        company = _viewable(request, Company.objects.all(), "company", pk)
        authz.require(_principal(request), "edit", record=company)
    else:
        company = None
        authz.require(_principal(request), "create", record_type="company")
    form = CompanyForm(request.POST or None, instance=copy.copy(company))  # as contact_edit
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            if company is None:
                company = services.company_create(by=request.user, **form.cleaned_data)
                messages.success(request, f"Company {company.name} created.")
            else:
                company = services.company_update(
                    company=company, by=request.user, **form.cleaned_data
                )
                messages.success(request, "Changes saved.")
        except KeyServiceUnavailable:
            form.add_error(None, _KEY_SERVICE_DOWN)
            status = 503
        except InvalidFields as exc:
            form.add_custom_errors(exc)
        else:
            return redirect("crm:company_detail", pk=company.pk)
    return render(
        request, "crm/company_form.html", {"form": form, "company": company}, status=status
    )


@login_required
@requires("company.delete")
@require_POST
def company_delete(request: HttpRequest, pk: int) -> HttpResponse:
    company = _viewable(request, Company.objects.all(), "company", pk)
    authz.require(_principal(request), "delete", record=company)
    services.company_delete(company=company, by=request.user)
    messages.success(request, f"Company {company.name} moved to the trash.")
    return redirect("crm:company_list")


@login_required
@requires("admin.custom_fields")
def custom_field_list(request: HttpRequest) -> HttpResponse:
    """The organization's custom fields, contacts' and companies', for those with the
    CRM set-up right (members read the definitions through the forms that use them)."""
    fields = list(selectors.custom_field_list())
    sections = [
        (entity, label, [f for f in fields if f.entity == entity])
        for entity, label in (
            (CustomField.Entity.CONTACT, "Contact fields"),
            (CustomField.Entity.COMPANY, "Company fields"),
        )
    ]
    return render(request, "crm/custom_field_list.html", {"sections": sections})


@login_required
@requires("admin.custom_fields")
@require_http_methods(["GET", "POST"])
def custom_field_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    field = get_object_or_404(CustomField, pk=pk) if pk else None
    entity = request.GET.get("entity", "")
    initial = {"entity": entity} if field is None and entity in CustomField.Entity.values else {}
    form = CustomFieldForm(request.POST or None, field=field, initial=initial)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            if field is None:
                field = services.custom_field_create(by=request.user, **form.changes())
                messages.success(request, f"Field “{field.label}” added.")
            else:
                field = services.custom_field_update(field=field, by=request.user, **form.changes())
                messages.success(request, f"Field “{field.label}” saved.")
        except InvalidFields as exc:
            add_field_errors(form, exc)
        except KeyServiceUnavailable:
            form.add_error(None, _KEY_SERVICE_DOWN)
            status = 503
        except PlanLimitReached:
            raise  # its own page (billing/limit_reached.html) says it, with the way up
        except DomainError as exc:  # a taken key, or the limit of fields
            form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
            status = exc.status
        else:
            return redirect("crm:custom_field_list")
    return render(
        request, "crm/custom_field_form.html", {"form": form, "field": field}, status=status
    )


@login_required
@requires("admin.custom_fields")
@require_POST
def custom_field_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a definition and its values; htmx gets an empty answer that removes the row."""
    field = get_object_or_404(CustomField, pk=pk)
    services.custom_field_delete(field=field, by=request.user)
    if request.headers.get("HX-Request"):
        return HttpResponse("")
    messages.success(request, f"Field “{field.label}” and its values deleted.")
    return redirect("crm:custom_field_list")
