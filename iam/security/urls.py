"""The signed-in user's Security page and their sessions, on every host."""

from django.urls import path

from . import views

app_name = "security"

urlpatterns = [
    path("account/security/", views.account_security, name="account"),
    path(
        "account/security/sessions/<int:pk>/end/",
        views.session_end_view,
        name="session_end",
    ),
    path(
        "account/security/sessions/end-others/",
        views.sessions_end_others,
        name="sessions_end_others",
    ),
    path(
        "account/security/sessions/end-all/",
        views.sessions_end_everywhere,
        name="sessions_end_all",
    ),
]
