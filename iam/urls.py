from django.urls import path

from . import views, views_tokens

app_name = "iam"

urlpatterns = [
    path("auth/handoff/", views.handoff, name="handoff"),
    path("auth/handoff/start/", views.handoff_start, name="handoff_start"),
    path("auth/handoff/issue/", views.handoff_to_public, name="handoff_to_public"),
    path("settings/api-tokens/", views_tokens.api_tokens, name="api_tokens"),
    path("settings/members/", views.members, name="members"),
    path("settings/organization/", views.organization_settings, name="organization_settings"),
    path("settings/members/<int:pk>/role/", views.member_role, name="member_role"),
    path("settings/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path(
        "settings/invitations/<int:pk>/revoke/",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
    path(
        "settings/api-tokens/<int:pk>/revoke/",
        views_tokens.api_token_revoke_view,
        name="api_token_revoke",
    ),
    path(
        "settings/service-tokens/",
        views_tokens.service_token_create_view,
        name="service_token_create",
    ),
    path(
        "settings/service-tokens/<int:pk>/revoke/",
        views_tokens.service_token_revoke_view,
        name="service_token_revoke",
    ),
]
