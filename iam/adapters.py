"""django-allauth adapter: e-mail links use the canonical host, never the request's Host."""

from urllib.parse import urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailConfirmation
from django.conf import settings
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
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
