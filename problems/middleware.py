"""Errors look the same everywhere: problem+json under /api/ (Django's own 404/405/500 pages
included), and a clear page for domain errors that escape an HTML view."""

from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, get_resolver, get_urlconf, resolve

from .exceptions import DomainError
from .responses import CONTENT_TYPE, problem_response

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
        return render(
            request,
            "problem.html",
            {"title": exception.title, "detail": exception.detail},
            status=exception.status,
        )


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
