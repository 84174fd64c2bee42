"""Bench-only settings: the same project on one plain PostgreSQL schema, without tenancy.

The baseline side of bench/routing.py. Everything comes from config.settings except what
tenancy adds: the django-tenants engine, router and app, the host-routing and membership
middleware, and the per-host URLconfs. CRM tables live in the one `public` schema.
"""

from config.settings import *  # noqa: F403
from config.settings import DATABASES, INSTALLED_APPS, MIDDLEWARE

DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
DATABASE_ROUTERS: list[str] = []
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django_tenants"]
MIDDLEWARE = [
    m
    for m in MIDDLEWARE
    if m
    not in (
        "tenants.middleware.TenantRoutingMiddleware",
        "iam.middleware.TenantMembershipMiddleware",
    )
]
MIDDLEWARE.append("bench.plain_urls.EncryptionTenantMiddleware")
ROOT_URLCONF = "bench.plain_urls"
