"""Errors look the same everywhere: problem+json under /api/ (Django's own 404/405/500 pages
included), and a clear page for domain errors that escape an HTML view."""

import json
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, get_resolver, get_urlconf, resolve

from .exceptions import DomainError
from .nul import MESSAGE, NUL, nul_fields, nul_parameters
from .responses import CONTENT_TYPE, problem_response, wants_problem_json

_TITLES = {
    400: ("bad-request", "The request is not valid."),
    403: ("permission-denied", "You do not have permission to do this."),
    404: ("not-found", "Not found."),
    405: ("method-not-allowed", "Method not allowed."),
    413: ("payload-too-large", "The request body is too large."),
    500: ("server-error", "Something went wrong on our side."),
}


class ApiProblemMiddleware:
    """Replaces HTML error pages on API paths with problems, and renders a domain error that
    escapes a view (a key-service outage while a page decrypts, say) with its own status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith((CONTENT_TYPE, "application/json"))
        ):
            code, title = _TITLES.get(response.status_code, ("error", "The request failed."))
            return problem_response(status=response.status_code, code=code, title=title)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        if request.path.startswith("/api/"):
            return problem_response(
                status=exception.status,
                code=exception.code,
                title=exception.title,
                detail=exception.detail,
            )
        response = render(
            request,
            exception.page_template,
            {**exception.extra, "title": exception.title, "detail": exception.detail},
            status=exception.status,
        )
        if request.headers.get("HX-Request"):
            # The message replaces the page, not the fragment a partial swap aimed at (htmx
            # swaps the statuses base.html lets it: a plan's 402, say).
            response["HX-Retarget"] = "body"
            response["HX-Reswap"] = "innerHTML"
        return response


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8): the view refuses it
        return None


class RefuseNulCharactersMiddleware:
    """A NUL character in the path, a query parameter, a form field or anywhere in a JSON
    body (key or value) is a bad request, before any view runs: problem+json naming where it
    is on the API (`search`, `custom.note`, `tags.0`), the 400 page on HTML pages. PostgreSQL
    refuses NUL in text, so a search for one, or a JSON value stored as it is, would otherwise
    be a server error.

    The fields of a multipart body are checked once Django's CSRF check has read them, that
    is for every view but those exempt from it: the upload views, which read the body only once
    throttles and size checks have passed, and the API, whose serializer fields refuse NUL in
    text themselves. A body that isn't valid JSON is left to the view to refuse."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fields = ["path"] if NUL in request.path_info else []
        fields += nul_parameters(request.GET.lists())
        content_type = request.content_type or ""
        if content_type == "application/x-www-form-urlencoded":
            fields += nul_parameters(request.POST.lists())
        elif content_type == "application/json" or content_type.endswith("+json"):
            fields += nul_fields(_json_or_none(request.body))
        if fields:
            return self._refuse(request, fields)
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], *args: Any
    ) -> HttpResponse | None:
        if request.content_type != "multipart/form-data" or getattr(
            view_func, "csrf_exempt", False
        ):
            return None
        fields = nul_parameters(request.POST.lists())
        return self._refuse(request, fields) if fields else None

    def _refuse(self, request: HttpRequest, fields: list[str]) -> HttpResponse:
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=400,
                code="validation-error",
                title="The request has invalid fields.",
                detail="Some fields are invalid; see errors.",
                errors={field: [MESSAGE] for field in fields},
            )
        return render(request, "400.html", {"fields": fields}, status=400)


class NotFoundPageInDevelopmentMiddleware:
    """With DEBUG on, a path that matches nothing and a view's Http404 get the product's 404
    page, as in production, instead of Django's page listing every URL pattern. Tracebacks
    of real errors stay. Without DEBUG it takes itself out of the chain.

    Listed last, so the membership wall and CommonMiddleware (a missing slash redirects)
    come first, and its `process_exception` sees a view's Http404 before anything else.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        if not settings.DEBUG:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Django resolves the path inside its innermost handler, whose Http404 becomes the
        # technical page before any middleware hears of it: resolve it here first.
        try:
            resolve(request.path_info)
        except Resolver404 as exc:
            return self._not_found(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Http404):
            return self._not_found(request, exception)
        return None

    def _not_found(self, request: HttpRequest, exception: Http404) -> HttpResponse:
        # The URLconf's own 404 handler (templates/404.html), as production uses it.
        handler = get_resolver(get_urlconf()).resolve_error_handler(404)
        # Called as Django calls it; the stubs leave out the `exception` argument.
        return cast(Callable[..., HttpResponse], handler)(request, exception=exception)
