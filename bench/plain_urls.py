"""Bench-only URLconf: the contact list API of crm.api.views on a plain single-schema set-up.

`PlainContactViewSet` is `ContactViewSet` with the three things that need a tenant swapped:
the tenant-schema guard of `TenantViewSet.initial` is skipped, the Bearer token is looked up
by digest without the tenant filter, and the permission is "authenticated" instead of "member
of this tenant" (there is no tenant to be a member of). Serializer, selector, pagination,
renderer and exception handling are the project's own.
"""

from typing import Any

from django.urls import include, path
from django.utils import timezone
from rest_framework import authentication, exceptions, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.routers import DefaultRouter

from crm.api.views import ContactViewSet
from iam.authentication import BearerTokenAuthentication
from iam.models import ApiToken
from iam.services import TOKEN_PREFIX, _digest


def token_authenticate(raw: str) -> ApiToken | None:
    """`iam.services.api_token_authenticate` without the tenant filter."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


class PlainBearerAuthentication(BearerTokenAuthentication):
    """`Authorization: Bearer <token>` for a single-schema app: any live token is accepted."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            return None
        token = token_authenticate(parts[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token


class PlainContactViewSet(ContactViewSet):
    authentication_classes = [PlainBearerAuthentication, authentication.SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Skip TenantViewSet.initial (the tenant-schema guard); keep DRF's own.
        viewsets.ModelViewSet.initial(self, request, *args, **kwargs)


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", PlainContactViewSet, basename="contact")

urlpatterns = [path("api/v1/", include(router.urls))]
