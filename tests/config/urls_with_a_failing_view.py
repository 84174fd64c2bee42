"""The organization URLconf plus one view that fails, to see what a real error looks like."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls_tenant import urlpatterns as tenant_urlpatterns


def failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the failing view failed")


urlpatterns = [path("failing/", failing_view), *tenant_urlpatterns]
