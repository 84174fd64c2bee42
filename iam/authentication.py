"""DRF authentication by API token (personal or service): `Authorization: Bearer <token>`."""

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenants.models import Tenant

from .models import Membership, User
from .selectors import membership_get
from .tokens import VIA_SERVICE_TOKEN, api_token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Accepts only live tokens issued for the tenant of the request's host; a revoked,
    expired or unknown one, another tenant's, or one whose owner is switched off there is
    refused alike (401).

    A personal token's owner is a member there (the token can't outlive the membership), so
    the membership row is read only if something asks for it, such as a role check. A
    service token acts as its service account, which has no membership: none is read.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            return None
        tenant = getattr(request._request, "tenant", None)
        credentials = api_token_authenticate(raw=parts[1], tenant=tenant) if tenant else None
        if credentials is None:
            raise exceptions.AuthenticationFailed(
                "Invalid, expired or revoked token for this organization."
            )
        user = credentials.user
        if credentials.via == VIA_SERVICE_TOKEN:
            request._request.membership = None  # type: ignore[attr-defined]
        else:
            request._request.membership = SimpleLazyObject(  # type: ignore[attr-defined]
                lambda: _membership(user, credentials.tenant)
            )
        return user, credentials

    def authenticate_header(self, request: Request | HttpRequest) -> str:
        return f'{self.keyword} realm="api"'


def _membership(user: User, tenant: Tenant) -> Membership:
    membership = membership_get(user=user, tenant=tenant)
    if membership is None:  # ended since the token was checked, moments ago
        raise exceptions.PermissionDenied("You are not a member of this organization.")
    # The row's user and tenant are the ones in hand.
    Membership.user.field.set_cached_value(membership, user)
    Membership.tenant.field.set_cached_value(membership, tenant)
    return membership
