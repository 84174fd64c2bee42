"""The one decision point of access: "may this principal do this action to this thing,
here?", with the reason. Every page, API endpoint, admin action, task and export asks it.

    from iam import authz
    authz.require(authz.principal_for_request(request), "edit", record=deal)
"""

from .catalog import Scope
from .engine import (
    Decision,
    Principal,
    check,
    may,
    principal_for,
    principal_for_request,
    require,
    visible,
)

__all__ = [
    "Decision",
    "Principal",
    "Scope",
    "check",
    "may",
    "principal_for",
    "principal_for_request",
    "require",
    "visible",
]
