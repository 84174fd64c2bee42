"""Pages of products: members see the catalogue; owners and admins add, edit and withdraw."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm.currencies import CURRENCY_HELP
from crm.exceptions import SkuTaken
from crm.models import Product
from crm.services.products import product_create, product_deactivate, product_update
from iam import authz
from iam.authz.guards import requires
from problems.exceptions import InvalidFields

PAGE_SIZE = 25


class ProductForm(forms.Form):
    name = forms.CharField(max_length=200)
    sku = forms.CharField(
        max_length=64, required=False, label="SKU", help_text="Unique among your products."
    )
    price = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2, initial=0)
    currency = forms.CharField(max_length=3, min_length=3, initial="USD", help_text=CURRENCY_HELP)
    is_active = forms.BooleanField(required=False, initial=True, label="On sale")

    def add_service_errors(self, exc: InvalidFields | SkuTaken) -> None:
        for field, notes in exc.field_errors().items():
            for note in notes:
                self.add_error(field if field in self.fields else None, note)


def _may_manage(request: HttpRequest) -> bool:
    return authz.may(authz.principal_for_request(request), "admin.custom_fields")


def product_list_filtered(*, q: str, active: str) -> QuerySet[Product]:
    qs = Product.objects.order_by("name", "id")
    if active == "yes":
        qs = qs.filter(is_active=True)
    elif active == "no":
        qs = qs.filter(is_active=False)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(sku__iexact=q))
    return qs


@login_required
@requires("member")
def product_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").replace("\x00", "").strip()
    active = request.GET.get("active", "yes")
    if active not in ("yes", "no", "all"):
        active = "yes"
    page = Paginator(product_list_filtered(q=q, active=active), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "crm/products/list.html",
        {"page": page, "q": q, "active": active, "may_manage": _may_manage(request)},
    )


@login_required
@requires("admin.custom_fields")
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk) if pk else None
    initial: dict[str, Any] = {}
    if product is not None:
        initial = {f: getattr(product, f) for f in ("name", "sku", "price", "currency")}
        initial["is_active"] = product.is_active
    form = ProductForm(request.POST or None, initial=initial)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            if product is None:
                product = product_create(by=request.user, **form.cleaned_data)
                messages.success(request, f"Product {product.name} added.")
            else:
                product_update(product=product, by=request.user, **form.cleaned_data)
                messages.success(request, "Changes saved.")
        except (InvalidFields, SkuTaken) as exc:
            form.add_service_errors(exc)
        else:
            return redirect("crm:product_list")
    return render(
        request, "crm/products/form.html", {"form": form, "product": product}, status=status
    )


@login_required
@requires("admin.custom_fields")
@require_POST
def product_deactivate_view(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    product_deactivate(product=product, by=request.user)
    messages.success(request, f"{product.name} is no longer on sale.")
    return redirect("crm:product_list")
