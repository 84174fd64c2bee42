"""Billing's routes on an organization's host: its Billing settings and invoices."""

from django.urls import URLPattern, URLResolver, path

from .views import settings

app_name = "billing"

urlpatterns: list[URLPattern | URLResolver] = [
    path("settings/billing/", settings.billing_settings, name="settings"),
    path("settings/billing/plan/", settings.plan_choose, name="plan"),
    path("settings/billing/cancel/", settings.subscription_cancel, name="cancel"),
    path("settings/billing/resume/", settings.subscription_resume, name="resume"),
    path("settings/billing/interval/", settings.interval_switch, name="interval"),
    path("settings/billing/coupon/", settings.coupon_apply, name="coupon"),
    path("settings/billing/portal/", settings.portal_open, name="portal"),
]
