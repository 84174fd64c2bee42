"""Finding a record by its name for identity and access's own pages (the "why?" tool).

The records are the CRM's, which identity and access do not import: crm installs its search
here when it starts (`crm.record_finder`), as billing installs the plan limits gate
(`iam.limits`). What is offered is what the search box on every page would find for the
person asking, so encrypted fields are matched the way the product matches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from . import authz


@dataclass(frozen=True)
class RecordOption:
    """A record offered for a typed name: its id, its name and a hint to tell it apart."""

    id: int
    title: str
    subtitle: str


class Finder(Protocol):
    def __call__(
        self, *, principal: authz.Principal, record_type: str, text: str, limit: int
    ) -> list[RecordOption]: ...


_finder: Finder | None = None


def install(finder: Finder) -> None:
    """Make `finder` the answer (crm.record_finder.record_options)."""
    global _finder
    _finder = finder


def record_options(
    *, principal: authz.Principal, record_type: str, text: str, limit: int
) -> list[RecordOption]:
    """The records of `record_type` best matching `text` that `principal` may view, best
    first, at most `limit`."""
    if _finder is None:
        raise ImproperlyConfigured("crm has not installed the record finder")
    return _finder(principal=principal, record_type=record_type, text=text, limit=limit)
