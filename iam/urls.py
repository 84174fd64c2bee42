from django.urls import path

from . import views, views_access, views_tokens
from .security import views as security_views

app_name = "iam"

urlpatterns = [
    path("auth/handoff/", views.handoff, name="handoff"),
    path("auth/handoff/start/", views.handoff_start, name="handoff_start"),
    path("auth/handoff/issue/", views.handoff_to_public, name="handoff_to_public"),
    path("settings/api-tokens/", views_tokens.api_tokens, name="api_tokens"),
    path("settings/members/", views.members, name="members"),
    path("settings/organization/", views.organization_settings, name="organization_settings"),
    path("settings/security/", security_views.security_settings, name="security_settings"),
    path("settings/members/<int:pk>/role/", views.member_role, name="member_role"),
    path("settings/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path(
        "settings/members/<int:pk>/reactivate/",
        views.member_reactivate,
        name="member_reactivate",
    ),
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
    # Access: roles, teams, policies, "why?" and the sharing of one record.
    path("settings/roles/", views_access.roles, name="roles"),
    path("settings/roles/new/", views_access.role_edit, name="role_create"),
    path("settings/roles/<int:pk>/", views_access.role_edit, name="role_edit"),
    path("settings/roles/<int:pk>/delete/", views_access.role_delete, name="role_delete"),
    path("settings/members/<int:pk>/access/", views_access.member_access, name="member_access"),
    path("settings/teams/", views_access.teams, name="teams"),
    path("settings/teams/<int:pk>/", views_access.team_edit, name="team_edit"),
    path("settings/teams/<int:pk>/delete/", views_access.team_delete_view, name="team_delete"),
    path(
        "settings/teams/<int:pk>/members/",
        views_access.team_member_add_view,
        name="team_member_add",
    ),
    path(
        "settings/teams/<int:pk>/members/<int:user_id>/remove/",
        views_access.team_member_remove_view,
        name="team_member_remove",
    ),
    path("settings/policies/", views_access.policies, name="policies"),
    path("settings/policies/new/", views_access.policy_edit, name="policy_create"),
    path("settings/policies/<int:pk>/", views_access.policy_edit, name="policy_edit"),
    path("settings/policies/<int:pk>/switch/", views_access.policy_toggle, name="policy_toggle"),
    path(
        "settings/policies/<int:pk>/delete/",
        views_access.policy_delete_view,
        name="policy_delete",
    ),
    path("settings/access/why/", views_access.why, name="why"),
    path("settings/access/why/records/", views_access.why_records, name="why_records"),
    path("share/<str:record_type>/<int:record_id>/", views_access.record_share, name="share"),
    path(
        "share/<str:record_type>/<int:record_id>/<int:share_id>/remove/",
        views_access.record_share_remove_view,
        name="share_remove",
    ),
]
