"""HTML pages of the CRM on a tenant host (the membership middleware has already run)."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from pii.exceptions import KeyServiceUnavailable

from . import selectors, services
from .forms import CompanyForm, ContactForm
from .models import Company, Contact

PAGE_SIZE = 25


def _page(request: HttpRequest, qs: Any) -> Any:
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "crm/dashboard.html",
        {
            "counts": selectors.dashboard_counts(),
            "pipeline": selectors.pipeline_default(),
            "recent_contacts": selectors.contact_list()[:5],
        },
    )


@login_required
def contact_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    page = _page(request, selectors.contact_list(search=search))
    partial = bool(request.headers.get("HX-Request"))
    template = "crm/_contact_rows.html" if partial else "crm/contact_list.html"
    response = render(request, template, {"page": page, "q": search})
    # The same URL answers with the whole page or only the rows.
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact.objects.select_related("company"), pk=pk)
    return render(request, "crm/contact_detail.html", {"contact": contact})


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk) if pk else None
    form = ContactForm(request.POST or None, instance=contact)
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
            form.add_error(
                None,
                "Contact details are stored encrypted and the key service is unreachable "
                "right now, so nothing was saved. Please try again in a moment.",
            )
            status = 503
        else:
            return redirect("crm:contact_detail", pk=contact.pk)
    return render(
        request, "crm/contact_form.html", {"form": form, "contact": contact}, status=status
    )


@login_required
@require_POST
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    services.contact_delete(contact=contact, by=request.user)
    messages.success(request, f"Contact {contact.full_name} deleted.")
    return redirect("crm:contact_list")


@login_required
def company_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    page = _page(request, selectors.company_list(search=search))
    return render(request, "crm/company_list.html", {"page": page, "q": search})


@login_required
def company_detail(request: HttpRequest, pk: int) -> HttpResponse:
    company = get_object_or_404(Company, pk=pk)
    contacts = company.contacts.order_by("first_name", "last_name")[:100]
    return render(request, "crm/company_detail.html", {"company": company, "contacts": contacts})


@login_required
@require_http_methods(["GET", "POST"])
def company_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    company = get_object_or_404(Company, pk=pk) if pk else None
    form = CompanyForm(request.POST or None, instance=company)
    if request.method == "POST" and form.is_valid():
        if company is None:
            company = services.company_create(by=request.user, **form.cleaned_data)
            messages.success(request, f"Company {company.name} created.")
        else:
            company = services.company_update(company=company, by=request.user, **form.cleaned_data)
            messages.success(request, "Changes saved.")
        return redirect("crm:company_detail", pk=company.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "crm/company_form.html", {"form": form, "company": company}, status=status
    )


@login_required
@require_POST
def company_delete(request: HttpRequest, pk: int) -> HttpResponse:
    company = get_object_or_404(Company, pk=pk)
    services.company_delete(company=company, by=request.user)
    messages.success(request, f"Company {company.name} deleted.")
    return redirect("crm:company_list")
