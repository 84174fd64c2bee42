"""The API of an organization's members and invitations: owners and admins only, like the
Members page. Both live in the shared schema, so every lookup filters by the request's
organization; another organization's ids answer 404."""

from typing import Any, cast
from zoneinfo import available_timezones

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

from iam.authz.guards import Authorized
from iam.models import Invitation, Membership, User
from iam.permissions import IsTenantMember
from iam.selectors import invitation_list_open, member_list
from iam.services import (
    invitation_create,
    invitation_revoke,
    membership_reactivate,
    membership_remove,
    membership_role_change,
)
from problems.openapi import plan_limit_responses, problem_responses
from problems.serializers import StrictCharField
from tenants.models import Tenant
from tenants.services import tenant_profile_update

from .base import IdempotentPosts, TenantViewSet
from .serializers import (
    InvitationCreateSerializer,
    InvitationSerializer,
    MemberRoleSerializer,
    MemberSerializer,
)

_LAST_OWNER = problem_responses(
    409, "The organization would be left without an owner (`code` last-owner)."
)


@extend_schema_view(
    list=extend_schema(
        summary="List members",
        description=(
            "The organization's members with their role, newest first, 25 a page "
            "(`page_size` up to 100). Owners and admins only; members get 403."
        ),
    ),
    retrieve=extend_schema(
        summary="Get a member",
        description="One member: e-mail address, name, role and when they joined.",
    ),
    partial_update=extend_schema(
        summary="Change a member's role",
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, **_LAST_OWNER},
        description="Change a member's role. Owners give any role; admins switch people "
        "among admin, manager, member, read-only and billing, and can't make an owner or "
        "change an owner's (403 with the reason).",
    ),
    destroy=extend_schema(
        summary="Remove a member",
        responses={204: None, **_LAST_OWNER},
        description="Remove someone from the organization; their API tokens for it are "
        "revoked at the same time.",
    ),
)
class MemberViewSet(TenantViewSet):
    admin_right = "people"
    """The organization's members (people join by invitation)."""

    serializer_class = MemberSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Membership]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no request
            return Membership.objects.none()
        tenant = self.request._request.tenant  # type: ignore[attr-defined]
        return member_list(tenant=tenant).select_related("tenant")

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = cast(Membership, self.get_object())
        change = MemberRoleSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        membership = membership_role_change(
            membership=membership, by=cast(User, request.user), role=change.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        membership_remove(membership=instance, by=cast(User, self.request.user))


class MemberReactivateView(IdempotentPosts, GenericAPIView[Membership]):
    """Switching a switched-off member back on; owners and admins (the right `people`)."""

    permission_classes = [IsTenantMember, Authorized]
    admin_right = "people"
    serializer_class = MemberSerializer

    @extend_schema(
        summary="Switch a member back on",
        operation_id="members_reactivate",
        request=None,
        responses={
            200: MemberSerializer,
            **problem_responses(
                409,
                "Your identity provider manages this member: switch them on there "
                "(`code` managed-by-identity-provider).",
            ),
            **plan_limit_responses("a member switched back on (they take a seat again)"),
        },
        description="Switch on a member who was switched off (`active` false): they can "
        "sign in again and take a seat of the plan again. Members the identity provider "
        "manages (`managed_by_identity_provider`) are switched on there; only owners "
        "switch an owner on. A member who is on already is answered as is.",
    )
    def post(self, request: Request, pk: int) -> Response:
        # Memberships live in the shared schema: look them up within this organization only.
        tenant = request._request.tenant  # type: ignore[attr-defined]
        found = member_list(tenant=tenant).filter(pk=pk).first()
        if found is None:
            raise NotFound()
        membership = membership_reactivate(membership=found, by=cast(User, request.user))
        return Response(MemberSerializer(membership).data)


@extend_schema_view(
    list=extend_schema(
        summary="List open invitations",
        description=(
            "Invitations not yet accepted, withdrawn or expired. Owners and admins only; "
            "members get 403."
        ),
    ),
    retrieve=extend_schema(
        summary="Get an invitation",
        description=(
            "One open invitation: address, role, who sent it and when its link expires "
            "(the link itself is never shown)."
        ),
    ),
    create=extend_schema(
        summary="Invite someone",
        request=InvitationCreateSerializer,
        responses={
            201: InvitationSerializer,
            **problem_responses(409, "This person is a member already (`code` already-a-member)."),
            **problem_responses(
                429, "More than 50 invitations an hour (per user and organization)."
            ),
            **plan_limit_responses("an invitation (it holds a seat until it is used)"),
        },
        description="Invite someone by e-mail. The link goes to that address only, works "
        "once, for 7 days; a newer invitation to the same address replaces the open one.",
    ),
    destroy=extend_schema(
        summary="Withdraw an invitation",
        description="Withdraw an open invitation: its link stops working.",
    ),
)
class InvitationViewSet(TenantViewSet):
    admin_right = "people"
    """Invitations to the organization still waiting to be accepted."""

    serializer_class = InvitationSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    throttle_scope = "invitation"

    def get_queryset(self) -> QuerySet[Invitation]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no request
            return Invitation.objects.none()
        tenant = self.request._request.tenant  # type: ignore[attr-defined]
        return invitation_list_open(tenant=tenant).select_related("tenant")

    def get_throttles(self) -> list[BaseThrottle]:
        # Each invitation sends an e-mail: limited like the Members page.
        return [ScopedRateThrottle()] if self.action == "create" else []

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = InvitationCreateSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        invitation, _ = invitation_create(
            tenant=request._request.tenant,  # type: ignore[attr-defined]
            by=cast(User, request.user),
            **wanted.validated_data,
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Invitation) -> None:
        invitation_revoke(invitation=instance, by=cast(User, self.request.user))


class OrganizationSerializer(serializers.Serializer[Tenant]):
    slug = serializers.CharField(read_only=True, help_text="The organization's subdomain.")
    name = StrictCharField(max_length=200)
    time_zone = serializers.ChoiceField(
        choices=sorted(available_timezones()),
        help_text="IANA time zone its days are counted in and its times shown in.",
    )


class OrganizationView(GenericAPIView):
    """The organization itself: name and time zone. Every member reads them; owners and
    admins change them."""

    serializer_class = OrganizationSerializer
    permission_classes = [IsTenantMember, Authorized]
    admin_right_for_writes = "people"

    @extend_schema(
        summary="Get the organization",
        description="The organization's subdomain, name and time zone.",
    )
    def get(self, request: Request) -> Response:
        return Response(OrganizationSerializer(request._request.tenant).data)  # type: ignore[attr-defined]

    @extend_schema(
        summary="Change the organization's name or time zone",
        request=OrganizationSerializer,
        responses={200: OrganizationSerializer},
        description="Owners and admins only. Every page and list counts days (tasks due "
        "today, this month's deals) in the time zone from the next request on.",
    )
    def patch(self, request: Request) -> Response:
        tenant = request._request.tenant  # type: ignore[attr-defined]
        wanted = OrganizationSerializer(tenant, data=request.data, partial=True)
        wanted.is_valid(raise_exception=True)
        changes = {"name": tenant.name, "time_zone": tenant.time_zone, **wanted.validated_data}
        with transaction.atomic():
            tenant_profile_update(tenant=tenant, **changes)
        return Response(OrganizationSerializer(tenant).data)
