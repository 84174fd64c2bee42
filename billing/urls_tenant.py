"""Billing's routes on an organization's host: its Billing settings and invoices."""

from django.urls import URLPattern, URLResolver

app_name = "billing"

urlpatterns: list[URLPattern | URLResolver] = []
