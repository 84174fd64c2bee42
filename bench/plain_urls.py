"""Bench-only URLconf: the contact list API of crm.api.views on a plain single-schema set-up.

`PlainContactViewSet` is `ContactViewSet` with the three things that need a tenant swapped:
the tenant-schema guard of `TenantViewSet.initial` is skipped, the Bearer token is looked up
by digest without the tenant filter, and the permission is "authenticated" instead of "member
of this tenant" (there is no tenant to be a member of). Encrypted contact fields are
decrypted with the first organization's keys (`EncryptionTenantMiddleware`). Serializer,
selector, pagination, renderer and exception handling are the project's own.
"""

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
from iam.models import ApiToken, User
from iam.services import TOKEN_PREFIX, _digest
from tenants.models import Tenant

_PLAIN_CREDENTIALS_SQL = """
    SELECT u.*, t.id AS token_id, t.last_used_at AS token_last_used_at
    FROM iam_apitoken t JOIN iam_user u ON u.id = t.user_id
    WHERE t.digest = %s AND t.revoked_at IS NULL AND u.is_active
"""


def token_authenticate(raw: str) -> User | None:
    """`iam.services.api_token_authenticate` without the tenant filter."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    user = next(iter(User.objects.raw(_PLAIN_CREDENTIALS_SQL, [_digest(raw)])), None)
    if user is None:
        return None
    now = timezone.now()
    last_used_at = user.__dict__["token_last_used_at"]
    if last_used_at is None or (now - last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=user.__dict__["token_id"]).update(last_used_at=now)
    return user


class PlainBearerAuthentication(BearerTokenAuthentication):
    """`Authorization: Bearer <token>` for a single-schema app: any live token is accepted."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            return None
        user = token_authenticate(parts[1])
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return user, None


class EncryptionTenantMiddleware:
    """Encrypted fields need an organization for their keys; on the plain side it is always
    the first one (`org000`), so both sides decrypt the same values with a cached key."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.tenant: Tenant | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.tenant is None:
            self.tenant = Tenant.objects.get(slug="org000")
        connection.tenant = self.tenant  # type: ignore[attr-defined]
        return self.get_response(request)


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
