"""Tag chips on record pages and list rows: `{% load tagging %}{% tag_chips contact %}`.
Each chip links to the record's list filtered by the tag. Lists prefetch `tags`."""

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

register = template.Library()

_LISTS = {
    "contact": "crm:contact_list",
    "company": "crm:company_list",
    "lead": "crm:lead_list",
    "deal": "crm:deal_list",
}


@register.inclusion_tag("crm/tags/_chips.html")
def tag_chips(record: Any, size: str = "") -> dict[str, Any]:
    try:
        base = reverse(_LISTS[record._meta.model_name])
    except (KeyError, NoReverseMatch):
        base = ""
    # `.all()` reads the prefetched tags when the list prefetched them.
    tags = sorted(record.tags.all(), key=lambda tag: tag.name.casefold())
    return {
        "chips": [
            (tag.name, f"{base}?{urlencode({'tag': tag.name})}" if base else "") for tag in tags
        ],
        "small": size == "small",
    }
