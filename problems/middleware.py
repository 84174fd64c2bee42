"""Every error under /api/ is problem+json, including Django's own 404/405/500 pages."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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
    """Replaces HTML error pages on API paths (unmatched URLs, CSRF, crashes) with problems."""

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
