"""Who is acting, through what and from where: set once per request, read by `audit_record`.

A request id is given to every request here (a well-formed `X-Request-ID` from a proxy in
front of us is kept, otherwise a new one), returned in the response header of the same
name and bound to every log line, so an audit row, the logs and a support ticket meet.
"""

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


@dataclass(frozen=True)
class Actor:
    """Who an audit row names when the caller says so instead of the request."""

    user_id: int | None
    label: str
    via: str


_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


def current_request() -> HttpRequest | None:
    """The HTTP request being served by this thread or task, if any."""
    return _request.get()


def current_actor() -> Actor | None:
    """The actor set by `acting_as` around this code, if any."""
    return _actor.get()


@contextmanager
def acting_as(*, user: Any = None, label: str = "", via: str) -> Iterator[None]:
    """Name who acts for the audit rows written inside (an operator in the console, a SCIM
    client, a task), where the request alone would not tell."""
    user_id = getattr(user, "pk", None)
    label = label or (getattr(user, "email", "") if user is not None else "")
    token = _actor.set(Actor(user_id=user_id, label=label, via=via))
    try:
        yield
    finally:
        _actor.reset(token)


def request_id_of(request: HttpRequest) -> str:
    return str(getattr(request, "request_id", ""))


class AuditContextMiddleware:
    """Gives each request its id and makes the request known to `audit_record`.

    It sits after authentication and the membership wall; the user is read only when a row
    is written, so an API token authenticated later by DRF is seen too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request.set(request)
        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                response = self.get_response(request)
        finally:
            _request.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
