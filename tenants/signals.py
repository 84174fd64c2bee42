"""Signals other packages use to join tenant provisioning without tenants importing them."""

from django.dispatch import Signal

# Sent inside the provisioning transaction with the connection on the new tenant's schema.
# Receivers create what a new organization starts with (owner membership, default pipeline);
# if one raises, the whole provisioning rolls back. Arguments: tenant, owner.
tenant_provisioned = Signal()

# Sent inside the deletion transaction, before the schema is dropped and the row deleted.
# Receivers destroy what must go first (the tenant's wrapped encryption keys). Argument: tenant.
tenant_deleting = Signal()
