"""The organization's tamper-evident audit log: every service that changes something that
matters calls `audit_record` inside its transaction.

    from iam.audit import audit_record, audit_snapshot, changes_between

    before = audit_snapshot(deal, ["name", "amount"])
    ...change and save the deal...
    audit_record(action="deal.updated", target=deal,
                 changes=changes_between(before, audit_snapshot(deal, [...]), model=Deal))
"""

from .context import acting_as
from .services import (
    CHANGED,
    ChainReport,
    audit_purge,
    audit_record,
    audit_snapshot,
    chain_verify,
    changes_between,
    changes_of_new,
)

__all__ = [
    "CHANGED",
    "ChainReport",
    "acting_as",
    "audit_purge",
    "audit_record",
    "audit_snapshot",
    "chain_verify",
    "changes_between",
    "changes_of_new",
]
