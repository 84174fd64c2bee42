"""Operator impersonation on an organization's host."""

from django.urls import path

from . import views

app_name = "impersonation"

urlpatterns = [
    path("auth/handoff/operator/start/", views.operator_handoff_start, name="start"),
    path("auth/handoff/operator/", views.operator_handoff, name="enter"),
    path("auth/handoff/operator/end/", views.impersonation_end_view, name="end"),
    path("settings/security/operator-access/", views.operator_access, name="operator_access"),
]
