"""URLs of the bare domain: public site, sign-in, operator admin."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", RedirectView.as_view(pattern_name="public_site:signup")),
    path("accounts/", include("allauth.urls")),
    path("", include("public_site.urls")),
]
