"""How the CRM's actions on several records at once ask the decision point (`iam.authz`),
record by record, before anything is written: a merge keeps one record (an edit) and puts
the others in the trash (a delete each), and giving the kept one another owner is an
assignment. The pages and the API call these, so both refuse alike, with the reason."""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Model

from iam import authz


def merge_require(
    principal: authz.Principal | None,
    *,
    survivor: Model,
    others: Sequence[Model],
    fields: Mapping[str, Any],
) -> None:
    """Raise AccessDenied (with the reason and deciding policies) unless `principal` may
    edit the survivor and delete each of the others; taking another record's owner is
    also the `assign` action on the survivor."""
    authz.require(principal, "edit", record=survivor)
    by_id = {record.pk: record for record in others}
    for record in others:
        authz.require(principal, "delete", record=record)
    taken = by_id.get(fields.get("owner_id"))
    if taken is not None and getattr(taken, "owner_id", None) != getattr(
        survivor, "owner_id", None
    ):
        authz.require(principal, "assign", record=survivor)
