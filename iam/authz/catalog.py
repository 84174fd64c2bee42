"""What can be granted: record types, the actions on them, the admin rights, and what each
built-in role grants. Roles, the permission matrix page, Cedar's schema and token scopes are
all read from here, so a new record type or right is added in one place."""

from dataclasses import dataclass
from enum import StrEnum

from iam.models import Role


class Scope(StrEnum):
    """How far a granted action reaches: records the member owns, records owned by anyone in
    a team the member is in, or every record. A wider scope includes the narrower ones."""

    OWN = "own"
    TEAM = "team"
    ALL = "all"


SCOPE_RANK = {Scope.OWN: 1, Scope.TEAM: 2, Scope.ALL: 3}


@dataclass(frozen=True)
class RecordType:
    key: str  # "deal": permission keys are "deal.view", "deal.edit"...
    label: str  # "Deals"
    cedar_type: str  # the Cedar entity type, "Deal"


RECORD_TYPES: tuple[RecordType, ...] = (
    RecordType("contact", "Contacts", "Contact"),
    RecordType("company", "Companies", "Company"),
    RecordType("lead", "Leads", "Lead"),
    RecordType("deal", "Deals", "Deal"),
    RecordType("activity", "Activities", "Activity"),
)
RECORD_TYPE_KEYS = frozenset(t.key for t in RECORD_TYPES)

# Actions on records. `create` and `export` are taken on the record type as a whole;
# the others on one record (and, for `view`, on the lists that show records).
RECORD_ACTIONS: tuple[tuple[str, str], ...] = (
    ("view", "View"),
    ("create", "Create"),
    ("edit", "Edit"),
    ("delete", "Delete"),
    ("export", "Export"),
    ("assign", "Assign"),
)
RECORD_ACTION_KEYS = frozenset(a for a, _ in RECORD_ACTIONS)
# Actions whose scope is meaningless (nothing is owned yet, or the whole set is exported
# through the view scope): granted or not, stored as "all".
TYPE_LEVEL_ACTIONS = frozenset({"create", "export"})

# Administrative rights over the organization, granted whole ("all").
ADMIN_RIGHTS: tuple[tuple[str, str], ...] = (
    ("people", "People: invite, remove, roles of members, teams"),
    ("roles", "Custom roles"),
    ("policies", "Access policies"),
    ("billing", "Billing: plan, seats, invoices"),
    ("sso", "Single sign-on, domains, SCIM and MFA requirement"),
    ("api_tokens", "Service tokens and the organization's API tokens"),
    ("custom_fields", "CRM set-up: custom fields, pipelines, products, scoring"),
    ("audit", "Audit log"),
)
ADMIN_RIGHT_KEYS = frozenset(r for r, _ in ADMIN_RIGHTS)


def record_permission(record_type: str, action: str) -> str:
    return f"{record_type}.{action}"


def admin_permission(right: str) -> str:
    return f"admin.{right}"


ALL_RECORD_PERMISSIONS = frozenset(
    record_permission(t.key, a) for t in RECORD_TYPES for a, _ in RECORD_ACTIONS
)
ALL_ADMIN_PERMISSIONS = frozenset(admin_permission(r) for r, _ in ADMIN_RIGHTS)
ALL_PERMISSIONS = ALL_RECORD_PERMISSIONS | ALL_ADMIN_PERMISSIONS

Grants = dict[str, Scope]


def _records(actions: dict[str, Scope]) -> Grants:
    return {record_permission(t.key, a): s for t in RECORD_TYPES for a, s in actions.items()}


_EVERY_RECORD = _records({a: Scope.ALL for a in RECORD_ACTION_KEYS})

BUILT_IN_ROLES: dict[str, Grants] = {
    Role.OWNER: {**_EVERY_RECORD, **{p: Scope.ALL for p in ALL_ADMIN_PERMISSIONS}},
    Role.ADMIN: {
        **_EVERY_RECORD,
        **{p: Scope.ALL for p in ALL_ADMIN_PERMISSIONS - {admin_permission("billing")}},
    },
    Role.MANAGER: _records(
        {
            "view": Scope.ALL,
            "create": Scope.ALL,
            "edit": Scope.TEAM,
            "delete": Scope.TEAM,
            "export": Scope.ALL,
            "assign": Scope.TEAM,
        }
    ),
    Role.MEMBER: _records(
        {
            "view": Scope.ALL,
            "create": Scope.ALL,
            "edit": Scope.ALL,
            "delete": Scope.ALL,
            "assign": Scope.ALL,
        }
    ),
    Role.READ_ONLY: _records({"view": Scope.ALL}),
    Role.BILLING: {admin_permission("billing"): Scope.ALL},
}

BUILT_IN_ROLE_DESCRIPTIONS: dict[str, str] = {
    Role.OWNER: "Everything, billing included; only owners make owners.",
    Role.ADMIN: "Every record and every admin right except billing.",
    Role.MANAGER: "Sees and exports every record; changes the records of their teams.",
    Role.MEMBER: "Sees, creates and changes records; no exports, no settings.",
    Role.READ_ONLY: "Sees records; changes nothing.",
    Role.BILLING: "The plan, seats and invoices; no records.",
}


def grants_union(*grants: Grants) -> Grants:
    """The rights of several roles together: each permission at its widest scope."""
    merged: Grants = {}
    for one in grants:
        for permission, scope in one.items():
            held = merged.get(permission)
            if held is None or SCOPE_RANK[scope] > SCOPE_RANK[held]:
                merged[permission] = scope
    return merged


def grants_clean(raw: object) -> Grants:
    """A custom role's stored matrix as grants, keeping only known permissions and scopes
    (a permission that left the catalog grants nothing)."""
    if not isinstance(raw, dict):
        return {}
    grants: Grants = {}
    for permission, scope in raw.items():
        if permission in ALL_PERMISSIONS and scope in SCOPE_RANK:
            grants[permission] = Scope(scope)
    return grants
