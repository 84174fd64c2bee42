"""Line items on deals: a product (or a free line with a name), a quantity, a unit price and
a discount. A deal with line items takes its amount from them, in the same transaction."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import structlog
from django.db import transaction
from django.db.models import Max

from crm.models import Deal, LineItem, Product
from problems.exceptions import InvalidFields

from .products import money_clean

log = structlog.get_logger(__name__)

LINE_ITEM_FIELDS = ("product", "name", "quantity", "unit_price", "discount_percent")
CENT = Decimal("0.01")
MAX_QUANTITY = Decimal("9999999999.99")


def line_total(item: LineItem) -> Decimal:
    """Quantity × unit price × (1 − discount), to the cent (halves up)."""
    gross = item.quantity * item.unit_price
    net = gross * (Decimal(100) - item.discount_percent) / Decimal(100)
    return net.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _line_clean(data: dict[str, Any], *, deal: Deal, creating: bool) -> dict[str, Any]:
    """Checked values of the fields given; on creation, name and unit price default from the
    product. Raises InvalidFields naming every bad field."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    product = data.get("product")
    if "product" in data:
        if product is not None and not isinstance(product, Product):
            errors["product"] = ["Choose one of the organization's products."]
        elif product is not None and creating and not product.is_active:
            errors["product"] = [f"{product.name} is no longer sold; choose an active product."]
        elif product is not None and product.currency != deal.currency:
            errors["product"] = [
                f"{product.name} is priced in {product.currency} but the deal is in "
                f"{deal.currency}; choose a product in {deal.currency}."
            ]
        clean["product"] = product
    if "name" in data or creating:
        name = data.get("name")
        if name in (None, "") and isinstance(product, Product):
            name = product.name
        if not isinstance(name, str) or not name.strip():
            errors["name"] = ["Give the line a name, or choose a product."]
        elif "\x00" in name:
            errors["name"] = ["Remove the NUL character."]
        elif len(name.strip()) > 200:
            errors["name"] = ["Use at most 200 characters."]
        else:
            clean["name"] = name.strip()
    if "quantity" in data or creating:
        quantity = _decimal(data.get("quantity", 1))
        if quantity is None:
            errors["quantity"] = ["Give a number, such as 2 or 1.5."]
        elif quantity <= 0:
            errors["quantity"] = ["Give a quantity greater than 0."]
        elif quantity > MAX_QUANTITY or quantity != quantity.quantize(CENT):
            errors["quantity"] = ["Give a smaller quantity, with at most two decimal places."]
        else:
            clean["quantity"] = quantity
    if "unit_price" in data or creating:
        price = data.get("unit_price")
        if price is None and isinstance(product, Product):
            price = product.price
        if price is None:
            errors["unit_price"] = ["Give a unit price, or choose a product."]
        else:
            clean["unit_price"] = money_clean(price, field="unit_price", errors=errors)
    if "discount_percent" in data:
        discount = _decimal(data["discount_percent"])
        if discount is None or not 0 <= discount <= 100 or discount != discount.quantize(CENT):
            errors["discount_percent"] = ["Give a discount from 0 to 100 (per cent)."]
        else:
            clean["discount_percent"] = discount
    if errors:
        raise InvalidFields(errors)
    return clean


def deal_amount_recompute(*, deal: Deal) -> Decimal:
    """Set the deal's amount to the sum of its line items (0 once the last one is gone).
    Call inside the transaction that changed them, with the deal locked."""
    amount = sum((line_total(item) for item in deal.line_items.all()), Decimal("0.00"))
    deal.amount = amount
    Deal.objects.filter(pk=deal.pk).update(amount=amount)
    return amount


def _locked(deal: Deal) -> Deal:
    """The deal, locked for this transaction, so two line changes recompute in turn."""
    return Deal.objects.select_for_update().get(pk=deal.pk)


def line_item_add(*, deal: Deal, by: Any, **data: Any) -> LineItem:
    """Add a line to the deal (at the end) and recompute its amount. Raises InvalidFields
    for bad values, and for a product priced in another currency than the deal's."""
    with transaction.atomic():
        locked = _locked(deal)
        clean = _line_clean(
            {k: v for k, v in data.items() if k in LINE_ITEM_FIELDS}, deal=locked, creating=True
        )
        last = locked.line_items.aggregate(last=Max("position"))["last"]
        item = LineItem.objects.create(
            deal=locked, position=0 if last is None else last + 1, **clean
        )
        deal.amount = deal_amount_recompute(deal=locked)
    log.info("line_item.added", deal=deal.pk, line_item=item.pk, by=getattr(by, "pk", None))
    return item


def line_item_update(*, item: LineItem, by: Any, **data: Any) -> LineItem:
    """Change the given fields of a line and recompute its deal's amount."""
    with transaction.atomic():
        deal = _locked(item.deal)
        clean = _line_clean(
            {k: v for k, v in data.items() if k in LINE_ITEM_FIELDS}, deal=deal, creating=False
        )
        for key, value in clean.items():
            setattr(item, key, value)
        item.save(update_fields=[*clean])
        item.deal.amount = deal_amount_recompute(deal=deal)
    log.info("line_item.updated", deal=deal.pk, line_item=item.pk, by=getattr(by, "pk", None))
    return item


def line_item_remove(*, item: LineItem, by: Any) -> None:
    """Remove a line and recompute its deal's amount."""
    pk = item.pk
    with transaction.atomic():
        deal = _locked(item.deal)
        item.delete()
        item.deal.amount = deal_amount_recompute(deal=deal)
    log.info("line_item.removed", deal=deal.pk, line_item=pk, by=getattr(by, "pk", None))


def deal_fields_check(*, deal: Deal, fields: dict[str, Any]) -> None:
    """Refuse, on a deal with line items, an amount other than theirs (it comes from them)
    and another currency (they are priced in the deal's). Raises InvalidFields."""
    if not deal.pk or not deal.line_items.exists():
        return
    errors: dict[str, list[str]] = {}
    if "amount" in fields and fields["amount"] != deal.amount:
        errors["amount"] = ["This deal's amount comes from its products; change them instead."]
    if "currency" in fields and fields["currency"] != deal.currency:
        errors["currency"] = [
            f"This deal's products are priced in {deal.currency}; remove them to change "
            "its currency."
        ]
    if errors:
        raise InvalidFields(errors)
