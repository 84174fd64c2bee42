"""Billing's routes on the bare domain: provider webhooks, Paddle's checkout page and the
finance pages."""

from django.urls import URLPattern, URLResolver, path

from .views import finance, paddle_checkout, webhooks

app_name = "billing_public"

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/<slug:provider>/", webhooks.provider_webhook, name="webhook"),
    path("paddle/checkout/", paddle_checkout.paddle_checkout, name="paddle_checkout"),
    path("finance/", finance.finance_overview, name="finance"),
    path("finance/subscriptions/", finance.finance_subscriptions, name="finance_subscriptions"),
    path(
        "finance/subscriptions.csv",
        finance.finance_subscriptions_csv,
        name="finance_subscriptions_csv",
    ),
    path("finance/invoices/", finance.finance_invoices, name="finance_invoices"),
    path("finance/invoices.csv", finance.finance_invoices_csv, name="finance_invoices_csv"),
]
