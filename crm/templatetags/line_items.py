"""The line items section of a deal's page: `{% load line_items %}{% line_items_section deal %}`."""

from typing import Any

from django import template

from crm.models import Deal
from crm.views.line_items import section_context

register = template.Library()


@register.inclusion_tag("crm/line_items/_section.html")
def line_items_section(deal: Deal) -> dict[str, Any]:
    return section_context(deal)
