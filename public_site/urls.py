from django.urls import path

from iam import views as iam_views

from . import views

app_name = "public_site"

urlpatterns = [
    path("", views.home, name="home"),
    path("pricing/", views.pricing, name="pricing"),
    path("signup/", views.signup, name="signup"),
    path("signup/check-slug/", views.slug_check, name="slug_check"),
    path("signup/finish/<str:token>/", views.signup_link, name="signup_link"),
    path("workspaces/", views.workspaces, name="workspaces"),
    path("workspaces/<slug:slug>/leave/", views.workspace_leave, name="workspace_leave"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("workspaces/<slug:slug>/open/", views.workspace_open, name="workspace_open"),
    path("workspaces/<slug:slug>/handoff/", views.workspace_handoff, name="workspace_handoff"),
    # Signing in here from a workspace's host (its All workspaces link).
    path("auth/handoff/start/", iam_views.handoff_start, name="handoff_start"),
    path("auth/handoff/", iam_views.handoff, name="handoff"),
]
