"""The line items section of a deal's page (an htmx partial), and its add and remove
actions. Without JavaScript the section has a page of its own, and a change returns to
the deal's page."""

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from crm import decisions
from crm.models import Deal, LineItem, Product
from crm.services.line_items import (
    line_item_add,
    line_item_remove,
    line_item_update,
    line_total,
)
from iam import authz
from iam.authz.guards import requires
from problems.exceptions import InvalidFields


class LineItemForm(forms.Form):
    product = forms.ModelChoiceField(
        queryset=Product.objects.none(), required=False, empty_label="— Free line —"
    )
    name = forms.CharField(max_length=200, required=False, help_text="For a free line.")
    quantity = forms.DecimalField(min_value=0, max_digits=12, decimal_places=2, initial=1)
    unit_price = forms.DecimalField(
        min_value=0,
        max_digits=14,
        decimal_places=2,
        required=False,
        help_text="Defaults to the product's price.",
    )
    discount_percent = forms.DecimalField(
        min_value=0, max_value=100, max_digits=5, decimal_places=2, initial=0, label="Discount %"
    )

    def __init__(self, *args: Any, deal: Deal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only products that can go on this deal: on sale, in its currency.
        self.fields["product"].queryset = Product.objects.filter(  # type: ignore[attr-defined]
            is_active=True, currency=deal.currency
        ).order_by("name")
        self.fields["product"].widget.attrs["data-testid"] = "line-item-product"


def section_context(
    deal: Deal, form: LineItemForm | None = None, *, can_edit: bool = True
) -> dict[str, Any]:
    items = list(deal.line_items.select_related("product").order_by("position", "id"))
    return {
        "deal": deal,
        "can_edit": can_edit,
        "lines": [(item, line_total(item)) for item in items],
        "form": form or LineItemForm(deal=deal, prefix=f"line-{deal.pk}"),
    }


def _section(
    request: HttpRequest,
    deal: Deal,
    *,
    form: LineItemForm | None = None,
    status: int = 200,
    changed: bool = False,
    line_errors: dict[int, str] | None = None,
) -> HttpResponse:
    if changed and not request.headers.get("HX-Request"):
        return redirect("crm:deal_detail", pk=deal.pk)  # without JavaScript: back to the deal
    can_edit = authz.check(decisions.principal_of(request), "edit", record=deal).allowed
    context = {
        **section_context(deal, form, can_edit=can_edit),
        "oob": changed,
        "line_errors": line_errors or {},
    }
    if request.headers.get("HX-Request"):
        # htmx swaps successful answers only (base.html): field errors come with a 200.
        response = render(request, "crm/line_items/_section.html", context)
    else:
        response = render(request, "crm/line_items/page.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _deal(request: HttpRequest, deal_pk: int, *, edit: bool = True) -> Deal:
    """The deal if the member may view it (404 otherwise, as if missing); lines are the
    deal's value, so changing them is editing the deal."""
    deal = decisions.visible_get(Deal.objects.all(), request, "deal", deal_pk)
    if edit:
        decisions.record_require(request, "edit", deal)
    return deal


@login_required
@requires("deal.view")
@require_GET
def line_items_section(request: HttpRequest, deal_pk: int) -> HttpResponse:
    return _section(request, _deal(request, deal_pk, edit=False))


@login_required
@requires("deal.edit")
@require_POST
def line_item_add_view(request: HttpRequest, deal_pk: int) -> HttpResponse:
    deal = _deal(request, deal_pk)
    form = LineItemForm(request.POST, deal=deal, prefix=f"line-{deal.pk}")
    if form.is_valid():
        # Left blank: the product's name and price, or the service's own defaults.
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        try:
            line_item_add(deal=deal, by=request.user, **data)
        except InvalidFields as exc:
            for field, notes in exc.field_errors().items():
                for note in notes:
                    form.add_error(field if field in form.fields else None, note)
        else:
            deal.refresh_from_db(fields=["amount"])
            return _section(request, deal, changed=True)
    return _section(request, deal, form=form, status=400)


class LineItemChangeForm(forms.Form):
    quantity = forms.DecimalField(min_value=0, max_digits=12, decimal_places=2)
    unit_price = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2)
    discount_percent = forms.DecimalField(
        min_value=0, max_value=100, max_digits=5, decimal_places=2, label="Discount %"
    )


@login_required
@requires("deal.edit")
@require_POST
def line_item_update_view(request: HttpRequest, deal_pk: int, pk: int) -> HttpResponse:
    deal = _deal(request, deal_pk)
    item = get_object_or_404(LineItem, pk=pk, deal=deal)
    form = LineItemChangeForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            line_item_update(item=item, by=request.user, **form.cleaned_data)
        except InvalidFields as exc:
            error = " ".join(n for notes in exc.field_errors().values() for n in notes)
        else:
            deal.refresh_from_db(fields=["amount"])
            return _section(request, deal, changed=True)
    else:
        error = " ".join(
            f"{form.fields[f].label or f.replace('_', ' ').capitalize()}: {e}"
            for f, errs in form.errors.items()
            for e in errs
        )
    response = _section(request, deal, status=400, line_errors={item.pk: error})
    return response


@login_required
@requires("deal.edit")
@require_POST
def line_item_remove_view(request: HttpRequest, deal_pk: int, pk: int) -> HttpResponse:
    deal = _deal(request, deal_pk)
    item = get_object_or_404(LineItem, pk=pk, deal=deal)
    line_item_remove(item=item, by=request.user)
    deal.refresh_from_db(fields=["amount"])
    return _section(request, deal, changed=True)
