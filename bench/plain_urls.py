"""Bench-only URLconf: the contact list API of crm.api.views on a plain single-schema set-up.

`PlainContactViewSet` is `ContactViewSet` with the three things that need a tenant swapped:
the tenant-schema guard of `TenantViewSet.initial` is skipped, the Bearer token is looked up
by digest without the tenant filter, and the permission is "authenticated" instead of "member
of this tenant" (there is no tenant to be a member of). Access is decided as on the tenancy
side (`Authorized`, and the list narrowed by `authz.visible`), at the one organization every
user belongs to; encrypted contact fields are decrypted with its keys
(`EncryptionTenantMiddleware`). Serializer,
selector, pagination, renderer and exception handling are the project's own.
"""

import json
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils import timezone
from rest_framework import authentication, exceptions, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.routers import DefaultRouter

from crm.api.views import ContactViewSet
from iam.authentication import BearerTokenAuthentication
from iam.authz.guards import Authorized
from iam.models import ApiToken, User
from iam.tokens import _CREDENTIALS_SQL, TOKEN_PREFIX, TokenCredentials, digest
from tenants.models import Tenant

# `iam.tokens`' statement without the tenant filter: the same columns, expiry and
# switched-off membership probe.
_PLAIN_CREDENTIALS_SQL = _CREDENTIALS_SQL.replace(" AND t.tenant_id = %s", "")


def token_authenticate(raw: str, tenant: Tenant) -> TokenCredentials | None:
    """`iam.tokens.api_token_authenticate` without the tenant filter; the credentials speak
    for the one organization of the plain side."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    user = next(iter(User.objects.raw(_PLAIN_CREDENTIALS_SQL, [digest(raw), now])), None)
    if user is None:
        return None
    extra = user.__dict__
    last_used_at = extra["token_last_used_at"]
    if last_used_at is None or (now - last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=extra["token_id"]).update(last_used_at=now)
    scopes = extra["token_scopes"]
    if isinstance(scopes, str):
        scopes = json.loads(scopes)
    return TokenCredentials(
        token_id=extra["token_id"],
        user=user,
        tenant=tenant,
        scopes=frozenset(scopes),
        expires_at=extra["token_expires_at"],
    )


class PlainBearerAuthentication(BearerTokenAuthentication):
    """`Authorization: Bearer <token>` for a single-schema app: any live token is accepted."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            return None
        credentials = token_authenticate(parts[1], request._request.tenant)  # type: ignore[attr-defined]
        if credentials is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return credentials.user, credentials


class EncryptionTenantMiddleware:
    """Encrypted fields need an organization for their keys, and access decisions one for
    memberships and roles; on the plain side it is always the first one (`org000`), so both
    sides decrypt the same values with a cached key and decide with one principal
    statement."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.tenant: Tenant | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.tenant is None:
            self.tenant = Tenant.objects.get(slug="org000")
        connection.tenant = self.tenant  # type: ignore[attr-defined]
        request.tenant = self.tenant  # type: ignore[attr-defined]
        return self.get_response(request)


class PlainContactViewSet(ContactViewSet):
    authentication_classes = [PlainBearerAuthentication, authentication.SessionAuthentication]
    permission_classes = [IsAuthenticated, Authorized]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Skip TenantViewSet.initial (the tenant-schema guard); keep DRF's own.
        viewsets.ModelViewSet.initial(self, request, *args, **kwargs)


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", PlainContactViewSet, basename="contact")

urlpatterns = [path("api/v1/", include(router.urls))]
