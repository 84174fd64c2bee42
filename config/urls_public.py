"""URLs of the bare domain: public site, sign-in, operator admin."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from iam.views import (
    account_email_not_offered,
    email_confirmation_banner_dismiss,
    email_confirmation_send,
)

from . import health

urlpatterns = [
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
    path("admin/", admin.site.urls),
    path("billing/", include("billing.urls_public")),
    path("accounts/signup/", RedirectView.as_view(pattern_name="public_site:signup")),
    path("accounts/email/", account_email_not_offered),  # before allauth's own page
    path("accounts/", include("allauth.urls")),
    path("", include("iam.security.urls")),
    path("", include("public_site.urls")),
]
