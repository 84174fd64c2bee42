"""Billing's routes on the bare domain: provider webhooks and the finance pages."""

from django.urls import URLPattern, URLResolver

app_name = "billing_public"

urlpatterns: list[URLPattern | URLResolver] = []
