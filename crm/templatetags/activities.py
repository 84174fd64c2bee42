"""The activities panel and timeline on record pages: `{% load activities %}` then
`{% activity_panel contact %}` (or company, lead, deal)."""

from typing import Any

from django import template

from crm.models import Activity, Company, Contact, Deal, Lead
from crm.selectors import activities as selectors
from crm.views.activities import panel_context, record_url

register = template.Library()


@register.inclusion_tag("crm/activities/_panel.html", takes_context=True)
def activity_panel(context: template.Context, record: Contact | Company | Lead | Deal) -> Any:
    """The "Log activity" form and the record's timeline."""
    return panel_context(context["request"], record)


@register.filter
def activity_record_url(activity: Activity) -> str:
    """The page of the record an activity is about."""
    record = selectors.activity_record(activity)
    return record_url(record) if record is not None else ""


@register.filter
def activity_record_name(activity: Activity) -> str:
    record = selectors.activity_record(activity)
    if record is None:
        return ""
    return getattr(record, "full_name", None) or getattr(record, "name", "") or str(record)


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key) if mapping else None


@register.filter
def duration_minutes(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"
