"""Building problem+json responses outside DRF (middleware, plain Django views)."""

import json
from typing import Any

from django.http import HttpResponse

CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://mycrm.example/problems/"


def problem_body(
    *, status: int, code: str, title: str, detail: str = "", **extra: Any
) -> dict[str, Any]:
    """The RFC 9457 members every MyCRM problem carries, plus any extension members."""
    body: dict[str, Any] = {
        "type": f"{TYPE_BASE}{code}",
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_response(
    *, status: int, code: str, title: str, detail: str = "", **extra: Any
) -> HttpResponse:
    """A complete problem+json HttpResponse."""
    body = problem_body(status=status, code=code, title=title, detail=detail, **extra)
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def wants_problem_json(path: str, accept: str) -> bool:
    """True for API paths and for clients that asked for JSON rather than HTML."""
    return (
        path.startswith("/api/")
        or ("application/json" in accept or CONTENT_TYPE in accept)
        and "text/html" not in accept
    )
