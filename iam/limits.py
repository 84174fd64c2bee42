"""What iam asks before it adds a member, an invitation or an API token.

Plans and their limits live in billing, which depends on iam; billing installs its answer
here when it starts (billing.receivers), so iam's services ask without importing it.
"""

from __future__ import annotations

from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from tenants.models import Tenant


class Gate(Protocol):
    def __call__(self, *, tenant: Tenant, name: str, adding: int = 1) -> None: ...


_gate: Gate | None = None


def install(gate: Gate) -> None:
    """Make `gate` the answer (billing.entitlements.require_capacity)."""
    global _gate
    _gate = gate


def require_capacity(*, tenant: Tenant, name: str, adding: int = 1) -> None:
    """Refuse, with billing's 402 `plan-limit` error, unless the plan has room for `adding`."""
    if _gate is None:
        raise ImproperlyConfigured("billing has not installed the plan limits gate")
    _gate(tenant=tenant, name=name, adding=adding)
