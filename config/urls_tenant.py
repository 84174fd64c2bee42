"""URLs of an organization's host: CRM pages, tenant admin, API and its schema."""

from django.urls import include, path
from django.views.generic import TemplateView

from crm.admin import tenant_admin_site
from iam.authz.guards import open_route
from iam.views import (
    account_email_not_offered,
    email_confirmation_banner_dismiss,
    email_confirmation_send,
)

from . import health
from .api_docs import OrganizationDocsView, OrganizationSchemaView

urlpatterns = [
    # The API first: it takes most requests, and patterns are tried in order.
    path("api/v1/", include("crm.api.urls")),
    path("api/v1/", include("iam.api.urls")),
    path("api/v1/", include("billing.api.urls")),
    path("api/v1/", include("iam.audit.api_urls")),
    # SCIM 2.0 for the organization's identity provider, and its settings page.
    path("", include("iam.scim.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "account/confirm-email/send/",
        email_confirmation_send,
        name="email_confirmation_send",
    ),
    path(
        "account/confirm-email/dismiss/",
        email_confirmation_banner_dismiss,
        name="email_confirmation_banner_dismiss",
    ),
    # Accounts for an organization start with an invitation: say so, and don't offer
    # organization sign-up here.
    path(
        "accounts/signup/",
        open_route("says accounts here start with an invitation")(
            TemplateView.as_view(template_name="iam/signup_by_invitation.html")
        ),
    ),
    path("accounts/email/", account_email_not_offered),  # before allauth's own page
    path("accounts/", include("allauth.urls")),
    path("admin/", tenant_admin_site.urls),
    path("api/schema/", OrganizationSchemaView.as_view(), name="api-schema"),
    path("api/docs/", OrganizationDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("billing.urls_tenant")),
    path("", include("iam.security.urls")),
    path("", include("iam.urls")),
    path("", include("iam.audit.urls")),
    path("", include("iam.sso.urls")),
    path("", include("iam.impersonation.urls")),
    path("", include("crm.urls")),
]
