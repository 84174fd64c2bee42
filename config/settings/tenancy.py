"""Schema-per-tenant routing with django-tenants."""

from django.core.exceptions import ImproperlyConfigured

from . import env as e

# Our apps come before django_tenants so our create_tenant/delete_tenant commands win, and
# django_tenants comes after the admin so its admin templates (which expect a tenant object
# on every request, the public site included) do not replace the admin's own.
SHARED_APPS = [
    "tenants",
    "public_site",
    "iam",
    "iam.scim",
    "iam.sso",
    "iam.impersonation",
    "billing",
    "pii",
    "problems",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django_tenants",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us rather than a CDN
    "heroicons",  # icons by template tag, from the pinned package
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "crm",
    "iam.org",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
ROOT_URLCONF = "config.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"

BASE_DOMAIN = e.BASE_DOMAIN
PUBLIC_SCHEME = e.PUBLIC_SCHEME
PUBLIC_PORT = e.PUBLIC_PORT
TENANT_HOST_CACHE_SECONDS = e.TENANT_HOST_CACHE_SECONDS
TENANT_HOST_CACHE_SUBSCRIBED_SECONDS = e.TENANT_HOST_CACHE_SUBSCRIBED_SECONDS
# Spare schemas kept ready for sign-ups (tenants/pool.py); 0 turns the warm pool off.
TENANT_SPARE_SCHEMAS = e.TENANT_SPARE_SCHEMAS
if TENANT_SPARE_SCHEMAS < 0:
    raise ImproperlyConfigured("TENANT_SPARE_SCHEMAS must be 0 (no pool) or a positive count.")

# ".example.com" also matches example.com itself.
ALLOWED_HOSTS = [f".{BASE_DOMAIN}", *e.EXTRA_ALLOWED_HOSTS]
if e.DEBUG or not e.IS_PRODUCTION:
    ALLOWED_HOSTS += ["testserver", "127.0.0.1"]
CSRF_TRUSTED_ORIGINS = e.CSRF_TRUSTED_ORIGINS_VALUE or [
    f"{PUBLIC_SCHEME}://{BASE_DOMAIN}" + (f":{PUBLIC_PORT}" if PUBLIC_PORT else ""),
    f"{PUBLIC_SCHEME}://*.{BASE_DOMAIN}" + (f":{PUBLIC_PORT}" if PUBLIC_PORT else ""),
]
