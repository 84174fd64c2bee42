"""The billing API of an organization: its subscription, invoices, and the changes its owners
make. Members with the billing right (owners, the billing role, custom roles); everyone else
gets 403. Subscriptions and invoices live in the shared schema: every read filters by the
request's organization."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from billing import entitlements
from billing.models import Invoice, Subscription, limits_of
from billing.services import changes
from billing.services.subscriptions import trial_start
from iam.api.base import IdempotentPosts
from iam.authz.guards import Authorized
from iam.models import Membership
from iam.permissions import IsTenantMember
from problems.openapi import problem_responses
from problems.pagination import CreatedCursorPagination
from tenants.models import Tenant

from .serializers import (
    CheckoutSerializer,
    CouponSerializer,
    InvoiceSerializer,
    PlanChoiceSerializer,
    RedirectSerializer,
    SubscriptionSerializer,
)

_CONFLICT = problem_responses(
    409, "The subscription's state does not allow this now (`code` billing-conflict)."
)
_NOT_OFFERED = problem_responses(
    422,
    "No self-serve price for that plan, interval or currency (`code` plan-not-offered); "
    "`errors` names the field.",
)
_OVER_LIMIT = problem_responses(
    402,
    "The organization already has more than the plan allows (`code` plan-limit; "
    "`limit_name`, `limit`, `current`): remove some first, or choose a larger plan.",
)
_PROVIDER = problem_responses(
    502, "The payment provider refused or could not be reached (`code` billing-provider-error)."
)


def _subscription(tenant: Tenant) -> Subscription:
    found = (
        Subscription.objects.select_related("plan", "price", "organization")
        .filter(organization=tenant)
        .first()
    )
    return found if found is not None else trial_start(tenant=tenant)


def _represent(subscription: Subscription) -> dict[str, Any]:
    tenant = subscription.organization
    price = subscription.price
    return {
        "plan": subscription.plan,
        "status": subscription.status,
        "provider": subscription.provider,
        "interval": price.interval if price else None,
        "currency": subscription.currency,
        "unit_amount": price.unit_amount if price else None,
        "seats": subscription.quantity,
        "members": Membership.objects.filter(tenant=tenant, deactivated_at=None).count(),
        "trial_ends_at": subscription.trial_ends_at
        if subscription.status == Subscription.Status.TRIALING
        else None,
        "current_period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "coupon": subscription.coupon,
        "self_serve": changes.is_self_serve(subscription),
        "usage": entitlements.usage(tenant),
        "limits": limits_of(subscription.plan),
        "features": subscription.plan.features,
    }


class _OwnerView(IdempotentPosts, GenericAPIView):
    permission_classes = [IsTenantMember, Authorized]
    admin_right = "billing"

    def subscription(self) -> Subscription:
        return _subscription(self.request._request.tenant)  # type: ignore[attr-defined]

    def page_url(self) -> str:
        return self.request.build_absolute_uri("/settings/billing/")

    def answer(self, subscription: Subscription) -> Response:
        subscription.refresh_from_db()
        return Response(SubscriptionSerializer(_represent(subscription)).data)


class SubscriptionView(_OwnerView):
    serializer_class = SubscriptionSerializer

    @extend_schema(
        summary="Get the subscription",
        description="The organization's plan and status (trialing, active, past_due, "
        "canceled, free), seats billed beside members, the period, and each limit of the "
        "plan beside what the organization uses. For the billing right.",
    )
    def get(self, request: Request) -> Response:
        return Response(SubscriptionSerializer(_represent(self.subscription())).data)


class InvoicePagination(CreatedCursorPagination):
    ordering = ("-issued_at", "-id")


class InvoiceListView(ListAPIView):
    """The organization's invoices, newest first."""

    permission_classes = [IsTenantMember, Authorized]
    admin_right = "billing"
    serializer_class = InvoiceSerializer
    pagination_class = InvoicePagination

    def get_queryset(self) -> QuerySet[Invoice]:
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        return Invoice.objects.filter(organization=self.request._request.tenant)  # type: ignore[attr-defined]

    @extend_schema(
        summary="List invoices",
        description="The organization's invoices, newest first, 25 a page (`page_size` up "
        "to 100): number, period, amounts and tax in minor units, status, and links to the "
        "provider's page and PDF. For the billing right.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class CheckoutView(_OwnerView):
    serializer_class = CheckoutSerializer

    @extend_schema(
        summary="Start a checkout",
        request=CheckoutSerializer,
        responses={
            200: RedirectSerializer,
            **_OVER_LIMIT,
            **_CONFLICT,
            **_NOT_OFFERED,
            **_PROVIDER,
        },
        description="For an organization without a paid subscription (trial, Free, or one "
        "that ended): the provider's checkout page for the plan, paying one seat per member. "
        "The buyer comes back to the Billing settings; the subscription shows as active "
        "once the provider confirms the payment. 409 when a paid subscription exists "
        "(change its plan instead).",
    )
    def post(self, request: Request) -> Response:
        wanted = CheckoutSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        subscription = self.subscription()
        data = wanted.validated_data
        url = changes.subscription_checkout_url(
            subscription=subscription,
            by=request.user,
            plan_code=data["plan"],
            interval=data["interval"],
            currency=data.get("currency") or subscription.currency,
            success_url=self.page_url() + "?checkout=done",
            cancel_url=self.page_url(),
        )
        return Response(RedirectSerializer(url).data)


class PlanChangeView(_OwnerView):
    serializer_class = PlanChoiceSerializer

    @extend_schema(
        summary="Change the plan or interval",
        request=PlanChoiceSerializer,
        responses={
            200: SubscriptionSerializer,
            **_OVER_LIMIT,
            **_CONFLICT,
            **_NOT_OFFERED,
            **_PROVIDER,
        },
        description="Move the paid subscription to another plan, or the same plan billed "
        "monthly or yearly, in its currency; the provider prorates the difference. 409 "
        "without a paid subscription (start a checkout) or when nothing would change.",
    )
    def post(self, request: Request) -> Response:
        wanted = PlanChoiceSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        subscription = changes.subscription_price_change(
            subscription=self.subscription(),
            by=request.user,
            plan_code=wanted.validated_data["plan"],
            interval=wanted.validated_data["interval"],
        )
        return self.answer(subscription)


class CancelView(_OwnerView):
    serializer_class = SubscriptionSerializer

    @extend_schema(
        summary="Cancel at the end of the period",
        request=None,
        responses={200: SubscriptionSerializer, **_CONFLICT, **_PROVIDER},
        description="The subscription stops renewing; the organization keeps its plan until "
        "the paid period ends, then moves to Free. 409 without a paid subscription or when "
        "it is already set to end.",
    )
    def post(self, request: Request) -> Response:
        return self.answer(
            changes.subscription_cancel(subscription=self.subscription(), by=request.user)
        )


class ResumeView(_OwnerView):
    serializer_class = SubscriptionSerializer

    @extend_schema(
        summary="Resume a cancelled subscription",
        request=None,
        responses={200: SubscriptionSerializer, **_CONFLICT, **_PROVIDER},
        description="Undo a cancellation at period end: the subscription renews again. 409 "
        "when it is not set to end.",
    )
    def post(self, request: Request) -> Response:
        return self.answer(
            changes.subscription_resume(subscription=self.subscription(), by=request.user)
        )


class CouponView(_OwnerView):
    serializer_class = CouponSerializer

    @extend_schema(
        summary="Apply a coupon",
        request=CouponSerializer,
        responses={200: SubscriptionSerializer, **_CONFLICT, **_NOT_OFFERED, **_PROVIDER},
        description="Apply a coupon (promotion code) to the paid subscription. 409 without "
        "a paid subscription; 502 when the provider does not know the code.",
    )
    def post(self, request: Request) -> Response:
        wanted = CouponSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        subscription = changes.subscription_coupon_apply(
            subscription=self.subscription(),
            by=request.user,
            coupon=wanted.validated_data["coupon"],
        )
        return self.answer(subscription)


class PortalView(_OwnerView):
    serializer_class = RedirectSerializer

    @extend_schema(
        summary="Open the payment portal",
        request=None,
        responses={200: RedirectSerializer, **_CONFLICT, **_PROVIDER},
        description="The provider's customer portal (cards, billing address, past "
        "invoices), returning to the Billing settings. 409 before the first payment.",
    )
    def post(self, request: Request) -> Response:
        url = changes.subscription_portal_url(
            subscription=self.subscription(), return_url=self.page_url()
        )
        return Response(RedirectSerializer(url).data)
