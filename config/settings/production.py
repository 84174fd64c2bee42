"""Refuses settings that must never reach production."""

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import env as e


def check_production_settings(settings: dict[str, Any]) -> None:
    """Raise if a production process would start with development-only settings."""
    if not e.IS_PRODUCTION:
        return
    if settings["DEBUG"]:
        raise ImproperlyConfigured("DEBUG must be off in production (MYCRM_ENV=production).")
    if settings["BASE_DOMAIN"] in ("localhost", ""):
        raise ImproperlyConfigured("BASE_DOMAIN must name the public domain in production.")
    if e.VAULT_AUTH_METHOD == "token" and not e.VAULT_TOKEN:
        raise ImproperlyConfigured(
            "Vault credentials are required in production: VAULT_TOKEN, or VAULT_AUTH_METHOD="
            "kubernetes (with VAULT_ROLE) or approle (with VAULT_APPROLE_ROLE_ID/SECRET_ID)."
        )
