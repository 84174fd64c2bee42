"""Signals other packages use to join tenant provisioning without tenants importing them."""

from django.dispatch import Signal

# Sent inside the provisioning transaction with the connection on the new tenant's schema.
# Receivers create what a new organization starts with (owner membership, default pipeline);
# if one raises, the whole provisioning rolls back. Arguments: tenant, owner, and from_spare
# (True when the schema is a claimed spare, which already holds the rows
# `spare_schema_prepared` receivers made).
tenant_provisioned = Signal()

# Sent when the warm pool makes a spare schema, inside its transaction with the connection on
# that schema. Receivers add the starter rows every organization gets that depend on nothing
# tenant-specific (the default pipeline). Argument: schema_name. Receivers must connect with a
# `dispatch_uid`; the set of uids is part of the key spares are made under, so a new receiver
# or a new uid (change it when a receiver's rows change) makes older spares stale.
spare_schema_prepared = Signal()

# Sent inside the deletion transaction, before the schema is dropped and the row deleted.
# Receivers destroy what must go first (the tenant's wrapped encryption keys). Argument: tenant.
tenant_deleting = Signal()

# Sent when a platform operator does something to an organization (suspends, restores,
# renames it, changes its hosts, or signs in as one of its members), inside the transaction
# of the change where there is one. The organization's audit log records it, and its admins
# see it. Arguments: tenant, operator (the operator's user), action (a dotted code such as
# "suspended" or "impersonation_started"), changes (field -> [before, after]).
operator_acted = Signal()
