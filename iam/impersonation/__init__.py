"""Platform operators acting as a member of an organization, for support: asked for with a
reason in the operator admin, refused where the organization's owners switched it off,
limited in time and in what it may change, and written in the organization's audit log
from start to end (docs/architecture.md, "Operator impersonation")."""
