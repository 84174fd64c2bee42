from django.urls import path

from .api import AuditEventList

urlpatterns = [
    path("audit-events/", AuditEventList.as_view(), name="audit-event-list"),
]
