"""The line items section of a deal's page: `{% load line_items %}{% line_items_section deal %}`."""

from typing import Any

from django import template

from crm.models import Deal
from crm.views.line_items import section_context
from iam import authz

register = template.Library()


@register.inclusion_tag("crm/line_items/_section.html", takes_context=True)
def line_items_section(context: dict[str, Any], deal: Deal) -> dict[str, Any]:
    """The section, its forms only for a member who may edit the deal."""
    request = context.get("request")
    principal = authz.principal_for_request(request) if request is not None else None
    can_edit = authz.check(principal, "edit", record=deal).allowed
    return {**section_context(deal, can_edit=can_edit), "request": request}
