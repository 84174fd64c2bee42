"""OpenAPI documentation of problem+json errors and of bearer-token authentication."""

from typing import Any, Literal

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "code"],
}


def problem_responses(status: int, description: str) -> dict[Any, OpenApiResponse]:
    """An operation's documented problem+json answer with `status`, for `extend_schema`'s
    responses: `{**problem_responses(409, "…"), 201: Serializer}`."""
    return {
        (status, "application/problem+json"): OpenApiResponse(
            PROBLEM_SCHEMA, description=description
        )
    }


PLAN_LIMIT_SCHEMA: dict[str, Any] = {
    **PROBLEM_SCHEMA,
    "description": "RFC 9457 problem details of a plan's limit (`code` plan-limit).",
    "properties": {
        **PROBLEM_SCHEMA["properties"],
        "limit_name": {
            "type": "string",
            "enum": ["seats", "contacts", "custom_fields", "api_tokens", "imports_per_day"],
            "description": "Which limit of the plan.",
        },
        "limit": {"type": "integer", "description": "What the plan allows."},
        "current": {"type": "integer", "description": "How many the organization has now."},
        "requested": {"type": "integer", "description": "How many the request would add."},
        "plan": {"type": "string", "description": "The code of the organization's plan."},
        "upgrade_url": {
            "type": "string",
            "format": "uri",
            "description": "Where the organization's owners change its plan.",
        },
    },
}


def plan_limit_responses(what: str) -> dict[Any, OpenApiResponse]:
    """The 402 `plan-limit` answer of an operation that adds something a plan limits
    (`what`, in words), for `extend_schema`'s responses."""
    return {
        (402, "application/problem+json"): OpenApiResponse(
            PLAN_LIMIT_SCHEMA,
            description=f"Adding {what} would pass a limit of the organization's plan "
            "(`code` plan-limit, with `limit`, `current` and `upgrade_url`); nothing was "
            "written.",
        )
    }


_ALWAYS = {
    "401": "Not authenticated, or a token of another organization.",
    "403": "Not a member of this organization.",
    "404": "No organization at this host, or no such record.",
    "423": "The organization is suspended.",
}
_WITH_INPUT = {"400": "Invalid fields or parameters; see `errors`."}


_IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Make the change only if the record's current `ETag` is one of these (or `*`); "
    "otherwise 412 and nothing changes.",
)
_IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Answer 304 without a body if the record's current `ETag` is one of these.",
)
_IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description="Makes a retry safe: a repeat of this request with the same key within 24 "
    "hours gets the first successful response again (with `Idempotent-Replayed: true`) and "
    "changes nothing. The same key with another request is a 422; a repeat while the first "
    "still runs is a 409. Use a new random key (a UUID, say) for each new request.",
)
_ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": "The record's version."}}


class ProblemAutoSchema(AutoSchema):
    """Adds the problem+json error responses every tenant API operation can return, the
    conditional-request headers of operations on one record, and Idempotency-Key on every
    POST (`iam.api.base.IdempotentPosts`)."""

    def _is_record_operation(self) -> bool:
        return "{" in self.path and not self._is_list_view()

    def get_override_parameters(self) -> list[Any]:
        parameters: list[Any] = list(super().get_override_parameters())
        if self.method == "POST" and self._takes_idempotency_key():
            parameters.append(_IDEMPOTENCY_KEY)
        if self._is_record_operation() and self._is_tenant_viewset():
            if self.method == "GET":
                parameters.append(_IF_NONE_MATCH)
            elif self.method in ("POST", "PUT", "PATCH", "DELETE"):
                parameters.append(_IF_MATCH)
        return parameters

    def _takes_idempotency_key(self) -> bool:
        """Whether the view's POSTs honour Idempotency-Key (`iam.api.base.IdempotentPosts`)."""
        return bool(getattr(self.view, "idempotent_posts", False))

    def _is_tenant_viewset(self) -> bool:
        """Whether the view versions its records (`etag_for`, as TenantViewSet does)."""
        return callable(getattr(self.view, "etag_for", None))

    def _get_response_bodies(
        self, direction: Literal["request", "response"] = "response"
    ) -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        errors = dict(_ALWAYS)
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            errors.update(_WITH_INPUT)
        if self.method == "POST" and self._takes_idempotency_key():
            errors["409"] = "A request with this Idempotency-Key is still running (or a conflict)."
            errors["422"] = "This Idempotency-Key was used with another request."
        if self._is_record_operation() and self._is_tenant_viewset():
            if self.method == "GET":
                responses.setdefault("304", {"description": "Not modified (If-None-Match)."})
                for answer in responses.values():
                    if answer is not responses["304"]:
                        answer.setdefault("headers", {}).update(_ETAG_HEADER)
            elif self.method in ("POST", "PUT", "PATCH", "DELETE"):
                errors["412"] = "The record changed since the version named in If-Match."
        for status, description in errors.items():
            responses.setdefault(
                status,
                {
                    "description": description,
                    "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
                },
            )
        return responses


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "iam.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        scheme: dict[str, Any] = build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Bearer",  # noqa: S106 - the scheme's name, not a secret
        )
        return scheme
