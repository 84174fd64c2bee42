"""Billing's API routes on an organization's host (under /api/v1/)."""

from django.urls import URLPattern, URLResolver, path

from . import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("billing/subscription/", views.SubscriptionView.as_view(), name="billing-subscription"),
    path("billing/invoices/", views.InvoiceListView.as_view(), name="billing-invoices"),
    path("billing/checkout/", views.CheckoutView.as_view(), name="billing-checkout"),
    path(
        "billing/subscription/change/",
        views.PlanChangeView.as_view(),
        name="billing-subscription-change",
    ),
    path(
        "billing/subscription/cancel/",
        views.CancelView.as_view(),
        name="billing-subscription-cancel",
    ),
    path(
        "billing/subscription/resume/",
        views.ResumeView.as_view(),
        name="billing-subscription-resume",
    ),
    path(
        "billing/subscription/coupon/",
        views.CouponView.as_view(),
        name="billing-subscription-coupon",
    ),
    path("billing/portal/", views.PortalView.as_view(), name="billing-portal"),
]
