from django.urls import path

from . import views

app_name = "iam_audit"

urlpatterns = [
    path("settings/audit/", views.audit_log, name="audit_log"),
    path("settings/audit/export/", views.audit_export, name="audit_export"),
]
