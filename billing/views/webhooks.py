"""The providers' webhook endpoint on the bare domain: verify, store, acknowledge.

Nothing is applied here: the event is stored first (a retry of it adds nothing) and a task
applies it once the storing transaction commits, so the acknowledgement stays fast and a
provider's retries never double an effect.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from billing.exceptions import InvalidSignature
from billing.services.webhooks import WEBHOOK_PROVIDERS, webhook_receive
from problems.responses import problem_response


@csrf_exempt  # signed by the provider, not posted from our pages
def provider_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """Acknowledge a provider's event (200) once stored; 400 problem+json if not signed."""
    if provider not in WEBHOOK_PROVIDERS:
        return problem_response(status=404, code="not-found", title="No such webhook endpoint.")
    if request.method != "POST":
        response = problem_response(
            status=405, code="method-not-allowed", title="Webhooks are delivered with POST."
        )
        response["Allow"] = "POST"
        return response
    try:
        event, created = webhook_receive(
            provider=provider, body=request.body, headers=request.headers
        )
    except InvalidSignature as exc:
        return problem_response(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail
        )
    return JsonResponse({"received": True, "id": event.event_id, "duplicate": not created})
