"""django-allauth adapter: e-mail links use the canonical host, never the request's Host;
sign-in on an organization's host is for its members, and failed attempts count per account
and per client address on every host alike."""

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailConfirmation
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from .selectors import membership_get


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        # The same words whether or not the account exists; they say what to do meanwhile.
        "too_many_login_attempts": (
            "Too many failed login attempts for this account or from your network, so "
            "signing in is paused for a few minutes. Wait and try again, or reset your "
            "password."
        ),
    }

    def get_reset_password_from_key_url(self, key: str) -> str:
        url = super().get_reset_password_from_key_url(key)
        return self._canonical(url)

    def get_email_confirmation_url(
        self, request: HttpRequest, emailconfirmation: EmailConfirmation
    ) -> str:
        return self._canonical(super().get_email_confirmation_url(request, emailconfirmation))

    def _canonical(self, url: str) -> str:
        parts = urlsplit(url)
        port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
        return urlunsplit(
            (settings.PUBLIC_SCHEME, f"{settings.BASE_DOMAIN}{port}", parts.path, parts.query, "")
        )

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        if getattr(request, "tenant", None) is None:
            return "/workspaces/"
        return super().get_login_redirect_url(request)

    def authenticate(self, request: HttpRequest, **credentials: Any) -> AbstractBaseUser | None:
        """The user the credentials name; on an organization's host, only if they are a
        member there, and never a service token's account. Anyone else gets the answer of a
        wrong password, and the attempt counts as a failure, so neither the page nor the
        lockout tells the password was right."""
        user = super().authenticate(request, **credentials)
        tenant = getattr(request, "tenant", None)
        if user is None:
            return None
        # A service token's account never signs in, even if it somehow had a password.
        service = getattr(user, "is_service_account", False)
        if not service and (tenant is None or membership_get(user=user, tenant=tenant)):
            return user
        # A success gave back its use of the failed-attempt limits; take it again.
        self.pre_authenticate(request, **credentials)
        self.authentication_failed(request, **credentials)
        return None

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth keys failed attempts by the site's domain too, which without
        # django.contrib.sites is the request's host: one allowance per organization.
        return str(credentials.get("email", credentials.get("username", ""))).lower()
