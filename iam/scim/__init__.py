"""SCIM 2.0 provisioning: an organization's identity provider creates, updates, switches
off and removes its members, and keeps its teams in step (RFC 7643, RFC 7644)."""
