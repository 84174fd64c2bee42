"""SCIM 2.0 under /scim/v2/ (a trailing slash is accepted too) and its settings page."""

from django.urls import path, re_path

from . import views

app_name = "iam_scim"

urlpatterns = [
    re_path(r"^scim/v2/ServiceProviderConfig/?$", views.service_provider_config, name="spc"),
    re_path(r"^scim/v2/ResourceTypes/?$", views.resource_types, name="resource_types"),
    re_path(r"^scim/v2/ResourceTypes/(?P<resource_id>[^/]+)/?$", views.resource_types),
    re_path(r"^scim/v2/Schemas/?$", views.schemas, name="schemas"),
    re_path(r"^scim/v2/Schemas/(?P<schema_id>[^/]+)/?$", views.schemas),
    re_path(r"^scim/v2/Users/?$", views.users, name="users"),
    re_path(r"^scim/v2/Users/(?P<resource_id>[^/]+)/?$", views.user, name="user"),
    re_path(r"^scim/v2/Groups/?$", views.groups, name="groups"),
    re_path(r"^scim/v2/Groups/(?P<resource_id>[^/]+)/?$", views.group, name="group"),
    re_path(r"^scim/v2/\.search/?$", views.search_everything),
    re_path(r"^scim/v2(?:/(?P<rest>.*))?$", views.not_found),
    path("settings/scim/", views.scim_settings, name="settings"),
    path("settings/scim/defaults/", views.scim_defaults, name="defaults"),
    path("settings/scim/<int:pk>/revoke/", views.scim_token_revoke, name="token_revoke"),
]
