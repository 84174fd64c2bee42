"""URLs of an organization's host: CRM pages, tenant admin, API and its schema."""

from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crm.admin import tenant_admin_site
from iam.views import (
    account_email_not_offered,
    email_confirmation_banner_dismiss,
    email_confirmation_send,
)

from . import health


def public_signup_redirect(request: HttpRequest) -> HttpResponseRedirect:
    port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
    return HttpResponseRedirect(f"{settings.PUBLIC_SCHEME}://{settings.BASE_DOMAIN}{port}/signup/")


urlpatterns = [
    # The API first: it takes most requests, and patterns are tried in order.
    path("api/v1/", include("crm.api.urls")),
    path("api/v1/", include("iam.api.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "account/confirm-email/send/",
        email_confirmation_send,
        name="email_confirmation_send",
    ),
    path(
        "account/confirm-email/dismiss/",
        email_confirmation_banner_dismiss,
        name="email_confirmation_banner_dismiss",
    ),
    # Accounts are made by organization sign-up on the public site.
    path("accounts/signup/", public_signup_redirect),
    path("accounts/email/", account_email_not_offered),  # before allauth's own page
    path("accounts/", include("allauth.urls")),
    path("admin/", tenant_admin_site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("iam.urls")),
    path("", include("crm.urls")),
]
