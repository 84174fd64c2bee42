"""What the signed-in member may do, for pages to hide or disable what they can't:
`{% load access %}{% allowed "contact.export" as may_export %}` for an action on a record
type or an admin right, `{% allowed "edit" contact as may_edit %}` for one record. The
decision point answers (`iam.authz`); the route checks again on use."""

from django import template
from django.db.models import Model

from iam import authz

register = template.Library()


@register.simple_tag(takes_context=True)
def allowed(context: template.Context, action: str, record: Model | None = None) -> bool:
    request = context.get("request")
    principal = authz.principal_for_request(request) if request is not None else None
    if principal is None:
        return False
    if record is None:
        return authz.may(principal, action)
    return authz.check(principal, action, record=record).allowed
