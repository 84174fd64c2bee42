"""DRF exception handler mapping every error to RFC 9457 problem+json."""

import uuid
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .exceptions import DomainError
from .responses import CONTENT_TYPE, problem_body

log = structlog.get_logger(__name__)

_CODES = {
    400: ("invalid", "The request is not valid."),
    401: ("not-authenticated", "Authentication is required."),
    403: ("permission-denied", "You do not have permission to do this."),
    404: ("not-found", "Not found."),
    405: ("method-not-allowed", "Method not allowed."),
    406: ("not-acceptable", "The requested representation is not available."),
    415: ("unsupported-media-type", "Unsupported media type."),
    429: ("throttled", "Too many requests."),
}


def _field_errors(data: Any) -> dict[str, list[str]]:
    if isinstance(data, dict):
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            if isinstance(value, list):
                out[str(key)] = [str(v) for v in value]
            elif isinstance(value, dict):
                for sub, msgs in _field_errors(value).items():
                    out[f"{key}.{sub}"] = msgs
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(data, list):
        return {"non_field_errors": [str(v) for v in data]}
    return {}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render DRF, Django and domain exceptions as problem+json; log and id unexpected ones."""
    if isinstance(exc, DomainError):
        body = problem_body(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, **exc.extra
        )
        if exc.field_errors():
            body["errors"] = exc.field_errors()
        return Response(body, status=exc.status, content_type=CONTENT_TYPE)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        error_id = uuid.uuid4().hex
        log.error("api.unhandled_error", error_id=error_id, exc_info=exc)
        body = problem_body(
            status=500,
            code="server-error",
            title="Something went wrong on our side.",
            detail=f"The error was logged with id {error_id}.",
            error_id=error_id,
        )
        return Response(body, status=500, content_type=CONTENT_TYPE)

    code, title = _CODES.get(response.status_code, ("error", "The request failed."))
    if isinstance(exc, exceptions.ParseError):
        body = problem_body(
            status=400,
            code="malformed-request",
            title="The request body could not be read.",
            detail=str(exc.detail),
        )
    elif (
        isinstance(exc, exceptions.APIException)
        and response.status_code == status.HTTP_400_BAD_REQUEST
    ):
        errors = _field_errors(exc.detail)
        body = problem_body(
            status=400,
            code="validation-error",
            title="The request has invalid fields.",
            detail="Some fields are invalid; see errors.",
            errors=errors,
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else ""
        body = problem_body(status=response.status_code, code=code, title=title, detail=str(detail))
    response.data = body
    response.content_type = CONTENT_TYPE
    return response
