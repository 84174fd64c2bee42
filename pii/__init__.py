"""PII protection: per-tenant data keys wrapped by Vault Transit, AES-256-GCM field values,
keyed blind indexes for exact-match lookups."""
