"""DRF authentication by personal API token: `Authorization: Bearer <token>`."""

from typing import Any

from django.http import HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .services import api_token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Accepts only tokens issued for the tenant of the request's host."""

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
            raise exceptions.AuthenticationFailed("Invalid or revoked token for this organization.")
        request._request.membership = credentials.membership  # type: ignore[attr-defined]
        return credentials.user, credentials

    def authenticate_header(self, request: Request | HttpRequest) -> str:
        return f'{self.keyword} realm="api"'
