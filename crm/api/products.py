"""Products (/api/v1/products/) and the line items of a deal
(/api/v1/deals/{deal_id}/line-items/)."""

from typing import Any, cast

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.serializers import BaseSerializer

from crm.models import Deal, LineItem, Product
from crm.services import line_items as line_item_services
from crm.services import products as product_services
from iam import authz
from iam.api.base import TenantViewSet
from problems.openapi import problem_responses
from problems.serializers import StrictCharField


class ProductSerializer(serializers.ModelSerializer[Product]):
    name = StrictCharField(max_length=200, help_text="Required.")
    sku = StrictCharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Stock-keeping unit; unique in the organization when given.",
    )
    price = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text="Unit price, 0 or more (default 0).",
    )
    currency = StrictCharField(
        min_length=3,
        max_length=3,
        required=False,
        help_text="ISO 4217 code of the price's currency, such as EUR (default USD).",
    )
    is_active = serializers.BooleanField(
        required=False, help_text="False once the product is no longer sold (default true)."
    )

    class Meta:
        model = Product
        fields = ("id", "name", "sku", "price", "currency", "is_active", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")
        validators: list[Any] = []  # the SKU's uniqueness is the service's 409


_admins_only = "Owners and admins only; members get 403."
_sku_taken = problem_responses(409, "Another product has this SKU (`code` product-sku-taken).")
_product_filters = [
    OpenApiParameter("q", str, description="Part of the name, or the SKU, case aside."),
    OpenApiParameter(
        "active", OpenApiTypes.BOOL, description="`true`: on sale only; `false`: withdrawn only."
    ),
]


def _bool_param(value: str | None, *, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ValidationError({name: ["Give true or false."]})


@extend_schema_view(
    list=extend_schema(
        summary="List products",
        description=(
            "The organization's products, newest first, 25 a page (`page_size` up to 100). "
            "`q` matches the name by substring or the SKU exactly; `active` keeps the "
            "products on sale (true) or withdrawn (false)."
        ),
        parameters=_product_filters,
    ),
    retrieve=extend_schema(summary="Get a product", description="One product."),
    create=extend_schema(
        summary="Create a product",
        description=f"`name` is required; SKU, price and currency aren't. {_admins_only}",
        responses={201: ProductSerializer, **_sku_taken},
    ),
    update=extend_schema(
        summary="Replace a product",
        description=(
            f"Set a product's fields. Line items already on deals keep their price. {_admins_only}"
        ),
        responses={200: ProductSerializer, **_sku_taken},
    ),
    partial_update=extend_schema(
        summary="Update a product",
        description=f"Change only the fields sent; `is_active: false` withdraws it. {_admins_only}",
        responses={200: ProductSerializer, **_sku_taken},
    ),
    destroy=extend_schema(
        summary="Delete a product",
        description=(
            "Delete a product that is on no deal. One on deals can't be deleted (409, "
            "`product-in-use`): withdraw it from sale with `is_active: false` instead, and the "
            f"deals keep their line items. {_admins_only}"
        ),
        responses={
            204: None,
            **problem_responses(409, "The product is on deals (`code` product-in-use)."),
        },
    ),
)
class ProductViewSet(TenantViewSet):
    admin_right_for_writes = "custom_fields"
    """Members read products; owners and admins manage them."""

    serializer_class = ProductSerializer

    def get_queryset(self) -> QuerySet[Product]:
        params = self.request.query_params
        qs = Product.objects.all()
        active = _bool_param(params.get("active"), name="active")
        if active is not None:
            qs = qs.filter(is_active=active)
        q = params.get("q", "").replace("\x00", "").strip()
        if q:
            qs = qs.filter(Q(name__icontains=q) | Q(sku__iexact=q))
        return qs

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = product_services.product_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = product_services.product_update(
            product=cast(Product, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: Product) -> None:
        product_services.product_delete(product=instance, by=self.request.user)


class LineItemSerializer(serializers.ModelSerializer[LineItem]):
    product = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.all(),
        allow_null=True,
        required=False,
        help_text=(
            "A product of the organization, priced in the deal's currency; the line's name "
            "and unit price default from it. Null for a free line."
        ),
    )
    name = StrictCharField(
        max_length=200,
        required=False,
        help_text="Required for a free line; defaults to the product's name.",
    )
    quantity = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text="Greater than 0 (default 1).",
    )
    unit_price = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text="0 or more, in the deal's currency; defaults to the product's price.",
    )
    discount_percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        required=False,
        help_text="Discount in per cent, 0 to 100 (default 0).",
    )
    total = serializers.SerializerMethodField(
        help_text="Quantity × unit price × (1 − discount), to the cent."
    )

    class Meta:
        model = LineItem
        fields = (
            "id",
            "deal",
            "product",
            "name",
            "quantity",
            "unit_price",
            "discount_percent",
            "total",
            "position",
        )
        read_only_fields = ("id", "deal", "total", "position")

    @extend_schema_field(serializers.DecimalField(max_digits=16, decimal_places=2))
    def get_total(self, item: LineItem) -> str:
        return str(line_item_services.line_total(item))


_deal_id = OpenApiParameter(
    "deal_id", int, location=OpenApiParameter.PATH, description="The deal's id."
)
_of_deal = (
    "A deal with line items takes its amount from them (the sum of their totals), "
    "recomputed with every change."
)


@extend_schema_view(
    list=extend_schema(
        summary="List a deal's line items",
        description=f"Every line of the deal, in order (not paginated). {_of_deal}",
        parameters=[_deal_id],
    ),
    retrieve=extend_schema(
        summary="Get a line item",
        description="One line of the deal, with its `total`.",
        parameters=[_deal_id],
    ),
    create=extend_schema(
        summary="Add a line item to a deal",
        description=(
            "A product (its name and price are the defaults) or a free line with a `name` "
            "and `unit_price`. A product priced in another currency than the deal's is a "
            f"field error (`product`). {_of_deal}"
        ),
        parameters=[_deal_id],
    ),
    update=extend_schema(
        summary="Replace a line item",
        description=(
            "Set a line's product, name, quantity, unit price and discount; those left out "
            f"keep their values. {_of_deal}"
        ),
        parameters=[_deal_id],
    ),
    partial_update=extend_schema(
        summary="Update a line item",
        description=f"Change only the fields sent. {_of_deal}",
        parameters=[_deal_id],
    ),
    destroy=extend_schema(
        summary="Remove a line item",
        description=f"Remove the line from its deal. {_of_deal}",
        parameters=[_deal_id],
    ),
)
class DealLineItemViewSet(TenantViewSet):
    """The lines of one deal; a deal of another organization is a 404, as a missing one."""

    serializer_class = LineItemSerializer
    pagination_class = None  # a deal has a handful of lines
    member_route = True  # the deal itself is decided in `deal()`

    def deal(self) -> Deal:
        """The deal of the URL if the caller may view it (404 otherwise, as if missing); the
        lines are the deal's value, so changing them needs the right to edit the deal."""
        if not hasattr(self, "_deal"):
            principal = authz.principal_for_request(self.request._request)
            deals = authz.visible(Deal.objects.all(), principal, "deal")
            deal = get_object_or_404(deals, pk=self.kwargs["deal_id"])
            authz.require(
                principal, "view" if self.request.method in SAFE_METHODS else "edit", record=deal
            )
            self._deal = deal
        return self._deal

    def get_queryset(self) -> QuerySet[LineItem]:
        if getattr(self, "swagger_fake_view", False):  # the schema, made without a request
            return LineItem.objects.none()
        return self.deal().line_items.order_by("position", "id")

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = line_item_services.line_item_add(
            deal=self.deal(), by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = line_item_services.line_item_update(
            item=cast(LineItem, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: LineItem) -> None:
        line_item_services.line_item_remove(item=instance, by=self.request.user)
