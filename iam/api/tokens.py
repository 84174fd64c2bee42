"""The API of API tokens: a member's own personal tokens, and (for members with the API tokens
admin right) the organization's service tokens. Tokens live in the shared schema, so every
lookup filters by the request's organization (and, for personal tokens, by the caller):
anyone else's token answers 404. A new token's plaintext is in the creation's answer only.
"""

import datetime as dt
from typing import Any, cast

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from iam.models import ApiToken, User
from iam.selectors import api_token_list, service_token_list
from iam.token_scopes import ALL_SCOPES
from iam.tokens import (
    DEFAULT_EXPIRY_DAYS,
    TokenCredentials,
    api_token_create,
    api_token_revoke,
    service_token_create,
    service_token_revoke,
)
from problems.openapi import plan_limit_responses, problem_responses
from problems.serializers import StrictCharField

from .base import TenantViewSet

_SCOPES_HELP = (
    '"<record type>:read" views and exports records of that type, "<record type>:write" '
    'also creates, edits, deletes and assigns them; "*:read" and "*:write" cover every '
    'record type; "admin" gives admin rights.'
)


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its plaintext, only the prefix it starts with."""

    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    is_expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "is_expired",
            "last_used_at",
        ]
        read_only_fields = fields


class ServiceTokenSerializer(ApiTokenSerializer):
    """A service token as listed, with who made it and the account it acts as (the name
    records it creates or changes are stamped with)."""

    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)
    account = serializers.EmailField(source="service_account.email", read_only=True)

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "created_by", "account"]
        read_only_fields = fields


class _CreatedMixin(serializers.Serializer):
    token = serializers.CharField(
        read_only=True,
        help_text="The token itself, shown this once: only a digest of it is kept.",
    )


class ApiTokenCreatedSerializer(_CreatedMixin, ApiTokenSerializer):
    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ServiceTokenCreatedSerializer(_CreatedMixin, ServiceTokenSerializer):
    class Meta(ServiceTokenSerializer.Meta):
        fields = [*ServiceTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    """What a new token is for, what it may do and until when."""

    name = StrictCharField(max_length=100, help_text="What will use it, e.g. a script's name.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=list(ALL_SCOPES)),
        min_length=1,
        help_text=_SCOPES_HELP,
    )
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=f"When it stops working; null: never. Leave it out for {DEFAULT_EXPIRY_DAYS} "
        "days from now.",
    )

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the token a name.")
        return value.strip()

    def expiry(self) -> dt.datetime | None:
        data = self.validated_data
        if "expires_at" in data:
            return cast(dt.datetime | None, data["expires_at"])
        return timezone.now() + dt.timedelta(days=DEFAULT_EXPIRY_DAYS)


def _acting(request: Request) -> TokenCredentials | None:
    """The token the request came with, if any (a new token can't outreach it)."""
    return request.auth if isinstance(request.auth, TokenCredentials) else None


_IN_USE = problem_responses(409, "The token the request comes with (`code` token-in-use).")
_CREATE_ERRORS = {
    **plan_limit_responses("a token"),
}


@extend_schema_view(
    list=extend_schema(
        summary="List your API tokens",
        description="Your personal tokens for this organization that are not revoked "
        "(expired ones included, with `is_expired`).",
    ),
    retrieve=extend_schema(summary="Get one of your API tokens"),
    create=extend_schema(
        summary="Create an API token",
        request=TokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer, **_CREATE_ERRORS},
        description="A personal token that acts as you, here only: it can do what your "
        "roles allow and its scopes also allow. The answer holds the token itself, this "
        "once. Called with a token, the new one can't reach further or last longer.",
    ),
    destroy=extend_schema(
        summary="Revoke an API token",
        responses={204: None, **_IN_USE},
        description="The token stops working at once. The token the request comes with "
        "can't revoke itself (409 `token-in-use`): use the page or another token.",
    ),
)
class ApiTokenViewSet(TenantViewSet):
    """The caller's own personal tokens for this organization."""

    member_route = True
    serializer_class = ApiTokenSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no request
            return ApiToken.objects.none()
        tenant = self.request._request.tenant  # type: ignore[attr-defined]
        return api_token_list(user=cast(User, self.request.user), tenant=tenant).select_related(
            "tenant"
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = TokenCreateSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        token, raw = api_token_create(
            user=cast(User, request.user),
            tenant=request._request.tenant,  # type: ignore[attr-defined]
            name=wanted.validated_data["name"],
            scopes=wanted.validated_data["scopes"],
            expires_at=wanted.expiry(),
            acting=_acting(request),
        )
        token.token = raw  # type: ignore[attr-defined]
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        api_token_revoke(
            token=instance, by=cast(User, self.request.user), acting=_acting(self.request)
        )


@extend_schema_view(
    list=extend_schema(
        summary="List the organization's service tokens",
        description="Tokens that belong to the organization rather than a person, not "
        "revoked. Members with the API tokens admin right only.",
    ),
    retrieve=extend_schema(summary="Get a service token"),
    create=extend_schema(
        summary="Create a service token",
        request=TokenCreateSerializer,
        responses={
            201: ServiceTokenCreatedSerializer,
            **_CREATE_ERRORS,
            **problem_responses(403, "You lack the API tokens admin right."),
        },
        description="A token of the organization, acting as a service account of its own "
        "that is never a member and outlives whoever made it. Its rights are exactly its "
        'scopes ("admin": every admin right but billing), and you can only give rights '
        "you hold. The answer holds the token itself, this once.",
    ),
    destroy=extend_schema(
        summary="Revoke a service token",
        responses={204: None, **_IN_USE},
        description="The token stops working at once, and its service account with it. A "
        "service token can't revoke itself (409 `token-in-use`).",
    ),
)
class ServiceTokenViewSet(TenantViewSet):
    """The organization's service tokens."""

    admin_right = "api_tokens"
    serializer_class = ServiceTokenSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no request
            return ApiToken.objects.none()
        tenant = self.request._request.tenant  # type: ignore[attr-defined]
        return service_token_list(tenant=tenant).select_related("tenant")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = TokenCreateSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        token, raw = service_token_create(
            tenant=request._request.tenant,  # type: ignore[attr-defined]
            by=cast(User, request.user),
            name=wanted.validated_data["name"],
            scopes=wanted.validated_data["scopes"],
            expires_at=wanted.expiry(),
            acting=_acting(request),
        )
        token.token = raw  # type: ignore[attr-defined]
        data = ServiceTokenCreatedSerializer(token).data
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        service_token_revoke(
            token=instance, by=cast(User, self.request.user), acting=_acting(self.request)
        )
