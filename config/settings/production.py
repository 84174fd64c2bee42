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
    if not e.VAULT_TOKEN and not e.env.str("VAULT_AUTH_METHOD", default=""):
        raise ImproperlyConfigured("Vault credentials are required in production.")
