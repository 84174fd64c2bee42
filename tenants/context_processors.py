from typing import Any

from django.conf import settings
from django.http import HttpRequest


def tenancy(request: HttpRequest) -> dict[str, Any]:
    """The current tenant (or None on the public site) and the public site's URL."""
    port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
    return {
        "tenant": getattr(request, "tenant", None),
        "public_url": f"{settings.PUBLIC_SCHEME}://{settings.BASE_DOMAIN}{port}",
    }
