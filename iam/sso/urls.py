from django.urls import path

from . import views, views_saml

app_name = "iam_sso"

urlpatterns = [
    path("settings/sso/", views.settings_page, name="settings"),
    path("settings/sso/domains/", views.domain_add, name="domain_add"),
    path("settings/sso/domains/<int:pk>/verify/", views.domain_verify_view, name="domain_verify"),
    path("settings/sso/domains/<int:pk>/delete/", views.domain_delete_view, name="domain_delete"),
    path("settings/sso/required/", views.sso_required_view, name="required"),
    path("settings/sso/connections/new/", views.connection_edit, name="connection_new"),
    path("settings/sso/connections/<int:pk>/", views.connection_edit, name="connection_edit"),
    path("settings/sso/connections/<int:pk>/test/", views.connection_test, name="connection_test"),
    path(
        "settings/sso/connections/<int:pk>/enable/",
        views.connection_enable_view,
        name="connection_enable",
    ),
    path(
        "settings/sso/connections/<int:pk>/delete/",
        views.connection_delete_view,
        name="connection_delete",
    ),
    path(
        "settings/sso/connections/<int:pk>/saml/sign-requests/",
        views_saml.sign_requests,
        name="saml_sign_requests",
    ),
    path(
        "settings/sso/connections/<int:pk>/saml/rotate-key/",
        views_saml.key_rotate,
        name="saml_key_rotate",
    ),
    path(
        "settings/sso/connections/<int:pk>/saml/refresh/",
        views_saml.metadata_refresh,
        name="saml_metadata_refresh",
    ),
    path("auth/sso/", views.sign_in, name="sign_in"),
    path("auth/sso/<int:pk>/start/", views.start, name="start"),
    path("auth/sso/oidc/callback/", views.oidc_callback, name="oidc_callback"),
    path("auth/sso/saml/<int:pk>/acs/", views.saml_acs, name="saml_acs"),
    path("auth/sso/saml/<int:pk>/metadata/", views.saml_metadata, name="saml_metadata"),
]
