"""iam's tables inside each organization's own schema: record shares and the audit trail."""
