"""Django REST framework and the OpenAPI schema."""

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "iam.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["iam.permissions.IsTenantMember"],
    "DEFAULT_PAGINATION_CLASS": "problems.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "problems.openapi.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "problems.handlers.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per user and organization. Imports and exports are heavy (thousands of rows,
    # decryption); each invitation sends an e-mail (the Members page allows as many).
    "DEFAULT_THROTTLE_RATES": {
        "contact-import": "30/hour",
        "lead-import": "30/hour",
        "deal-import": "30/hour",
        "contact-export": "30/hour",
        "invitation": "50/hour",
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MyCRM API",
    # The schema served on an organization's host starts with its name and address
    # (config/api_docs.py).
    "DESCRIPTION": (
        "Send `Authorization: Bearer <token>` with every request (create a token under "
        "*API tokens* in the web app); signed in to the web app, these pages use its session. "
        "Errors are RFC 9457 problem details (`application/problem+json`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Operations are grouped by what follows the prefix (`contacts`, `deals`...): named here,
    # since routes outside the API (SCIM's, say) would otherwise widen the common prefix.
    "SCHEMA_PATH_PREFIX": r"/api/v1/",
    # Who the organization is and what its API offers are for its members: a signed-in
    # member or a token of this organization, as on every endpoint.
    "SERVE_PERMISSIONS": ["iam.permissions.IsTenantMember"],
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page runs on the organization's host, signed in: its scripts come from our own
    # static files (a pinned package), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "iam.models.Role",
        "InvitedRoleEnum": "iam.api.serializers.INVITABLE_ROLES",
        "ActivityKindEnum": "crm.models.Activity.Kind",
        "TimelineEntryKindEnum": "crm.api.activities.TIMELINE_ENTRY_KINDS",
        "TimelineRecordTypeEnum": "crm.api.activities.TIMELINE_RECORD_TYPES",
        "CustomFieldTypeEnum": "crm.models.CustomField.Type",
        "CustomFieldEntityEnum": "crm.models.CustomField.Entity",
        "ImportEntityEnum": "crm.models.ContactImport.Entity",
        "SearchResultTypeEnum": "crm.selectors.search.TYPES",
        "SubscriptionStatusEnum": "billing.models.Subscription.Status",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "LeadStatusEnum": "crm.models.Lead.Status",
    },
}
