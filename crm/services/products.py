"""Products an organization sells: name, SKU (unique when given), price and currency."""

from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from crm.currencies import CURRENCY_HELP, currency_clean
from crm.exceptions import ProductInUse, SkuTaken
from crm.models import Product
from problems.exceptions import InvalidFields

log = structlog.get_logger(__name__)

PRODUCT_FIELDS = ("name", "sku", "price", "currency", "is_active")
MAX_MONEY = Decimal("999999999999.99")  # 14 digits, 2 after the point


def money_clean(value: Any, *, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    """A non-negative amount with at most two decimals, or None with an error in `errors`."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        errors[field] = ["Give an amount, such as 1250.00."]
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        errors[field] = ["Give an amount, such as 1250.00."]
        return None
    if not amount.is_finite():
        errors[field] = ["Give an amount, such as 1250.00."]
    elif amount < 0:
        errors[field] = ["Give an amount of 0 or more."]
    elif amount > MAX_MONEY:
        errors[field] = ["Give a smaller amount."]
    elif amount != amount.quantize(Decimal("0.01")):
        errors[field] = ["Give at most two decimal places."]
    else:
        return amount.quantize(Decimal("0.01"))
    return None


def _text_clean(
    value: Any, *, field: str, max_length: int, required: bool, errors: dict[str, list[str]]
) -> str:
    if not isinstance(value, str):
        errors[field] = ["Give text."]
        return ""
    text = value.strip()
    if "\x00" in text:
        errors[field] = ["Remove the NUL character."]
    elif required and not text:
        errors[field] = ["This field is required."]
    elif len(text) > max_length:
        errors[field] = [f"Use at most {max_length} characters."]
    return text


def _product_clean(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if creating or "name" in data:
        clean["name"] = _text_clean(
            data.get("name", ""), field="name", max_length=200, required=True, errors=errors
        )
    if "sku" in data:
        clean["sku"] = _text_clean(
            data["sku"] or "", field="sku", max_length=64, required=False, errors=errors
        )
    if "price" in data:
        clean["price"] = money_clean(data["price"], field="price", errors=errors)
    if "currency" in data:
        clean["currency"] = currency_clean(data["currency"])
        if clean["currency"] is None:
            errors["currency"] = [CURRENCY_HELP]
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            errors["is_active"] = ["Give true or false."]
        clean["is_active"] = data["is_active"]
    if errors:
        raise InvalidFields(errors)
    return clean


def _sku_is_free(product: Product) -> None:
    if product.sku and Product.objects.filter(sku=product.sku).exclude(pk=product.pk).exists():
        raise SkuTaken(f"Another product has the SKU {product.sku}.", field="sku")


def _save(product: Product, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            product.save(**kwargs)
    except IntegrityError:  # the SKU was taken meanwhile
        raise SkuTaken(f"Another product has the SKU {product.sku}.", field="sku") from None


def product_create(*, by: Any, **data: Any) -> Product:
    """A new product; `name` is required, the price defaults to 0 and the currency to USD.
    Raises InvalidFields for bad values and SkuTaken (409) for a SKU in use."""
    product = Product(**_product_clean(data, creating=True))
    _sku_is_free(product)
    _save(product, force_insert=True)
    log.info("product.created", product=product.pk, by=getattr(by, "pk", None))
    return product


def product_update(*, product: Product, by: Any, **data: Any) -> Product:
    """Change the given fields. Line items already on deals keep their price."""
    clean = _product_clean({k: v for k, v in data.items() if k in PRODUCT_FIELDS}, creating=False)
    for key, value in clean.items():
        setattr(product, key, value)
    _sku_is_free(product)
    _save(product, update_fields=[*clean, "updated_at"])
    log.info("product.updated", product=product.pk, by=getattr(by, "pk", None), fields=[*clean])
    return product


def product_delete(*, product: Product, by: Any) -> None:
    """Delete a product no deal has. Raises ProductInUse (409) for one on deals, which keep
    their line items: withdraw it from sale (`product_deactivate`) instead."""
    if product.line_items.exists():
        raise ProductInUse(
            f"{product.name} is on deals; set it off sale (is_active false) instead."
        )
    pk = product.pk
    try:
        with transaction.atomic():
            product.delete()
    except ProtectedError:  # put on a deal meanwhile
        raise ProductInUse() from None
    log.info("product.deleted", product=pk, by=getattr(by, "pk", None))


def product_deactivate(*, product: Product, by: Any) -> Product:
    """Take a product off sale: it stays on the deals that have it but can't be added anew."""
    return product_update(product=product, by=by, is_active=False)
