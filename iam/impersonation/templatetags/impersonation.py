"""`{% operator_access_card %}`: the owners' switch for operator impersonation, on the
organization's Security settings page."""

from typing import Any

from django import template

from iam.impersonation.selectors import impersonation_list_recent
from iam.impersonation.services import operator_access_allowed
from iam.models import Role

register = template.Library()


@register.inclusion_tag("iam_impersonation/_operator_access.html", takes_context=True)
def operator_access_card(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    membership = getattr(request, "membership", None)
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "allowed": operator_access_allowed(tenant=request.tenant),
        "recent": impersonation_list_recent(tenant=request.tenant),
        "is_owner": membership is not None and membership.role == Role.OWNER,
    }
