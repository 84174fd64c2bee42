"""What an API token's scopes let it do.

A token carries a list of scopes:

- `"<record type>:read"`: view and export records of that type (`"deal:read"`);
- `"<record type>:write"`: that, and create, edit, delete and assign them;
- `"*:read"` / `"*:write"`: the same for every record type;
- `"admin"`: admin rights (a personal token: its owner's; a service token: those of the
  admin role, `SERVICE_ADMIN_PERMISSIONS`).

A personal token can never do more than its owner: the decision point (`iam.authz`) allows
what the owner's roles allow *and* `scope_allows` allows. A service token has no owner and
no role; its rights are exactly `scope_grants` of its scopes. Everything here is pure, so
the page, the API and the decision point read scopes the same way.
"""

from collections.abc import Callable, Iterable, Mapping

from iam.authz.catalog import (
    ADMIN_RIGHT_KEYS,
    BUILT_IN_ROLES,
    RECORD_ACTION_KEYS,
    RECORD_TYPE_KEYS,
    RECORD_TYPES,
    Grants,
    Scope,
    admin_permission,
    record_permission,
)
from iam.models import Role

ADMIN = "admin"
EVERY_TYPE = "*"
READ = "read"
WRITE = "write"

# What each level lets a token do to a record type; write includes read.
READ_ACTIONS = frozenset({"view", "export"})
WRITE_ACTIONS = frozenset(RECORD_ACTION_KEYS)
LEVEL_ACTIONS = {READ: READ_ACTIONS, WRITE: WRITE_ACTIONS}

# Everything its owner can do: what tokens made before scopes existed were given.
FULL_SCOPES: tuple[str, ...] = (f"{EVERY_TYPE}:{WRITE}", ADMIN)

# A service token's "admin": the admin role's rights (every admin right but billing), so
# no token, which anyone holding it can use, pays for plans or changes the payment method.
SERVICE_ADMIN_PERMISSIONS = frozenset(
    permission for permission in BUILT_IN_ROLES[Role.ADMIN] if permission.startswith("admin.")
)

SCOPE_HELP = (
    'Use "<record type>:read" or "<record type>:write" for a record type of '
    + ", ".join(sorted(RECORD_TYPE_KEYS))
    + ', "*:read" or "*:write" for all of them, and "admin" for admin rights.'
)


def _parts(scope: str) -> tuple[str, str] | None:
    """A record scope's (record type, level), or None for anything else."""
    record_type, sep, level = scope.partition(":")
    if not sep or level not in LEVEL_ACTIONS:
        return None
    if record_type != EVERY_TYPE and record_type not in RECORD_TYPE_KEYS:
        return None
    return record_type, level


def scope_is_valid(scope: object) -> bool:
    return isinstance(scope, str) and (scope == ADMIN or _parts(scope) is not None)


def scopes_errors(raw: object) -> list[str]:
    """Why `raw` is not a usable list of scopes (empty: it is)."""
    if not isinstance(raw, list | tuple):
        return ["Send a list of scopes, " + SCOPE_HELP]
    if not raw:
        return ["Choose at least one scope: a token without scopes can do nothing."]
    bad = [scope for scope in raw if not scope_is_valid(scope)]
    if bad:
        shown = ", ".join(repr(scope) for scope in bad[:5])
        return [f"Unknown scope {shown}. {SCOPE_HELP}"]
    return []


def scopes_normalize(scopes: Iterable[str]) -> list[str]:
    """Valid scopes without repeats or ones a wider scope includes ("deal:read" beside
    "deal:write" or "*:read"), in a stable order: what a token stores."""
    wanted = set(scopes)
    kept: list[str] = []
    for scope in sorted(wanted):
        parts = _parts(scope)
        if parts is None:
            if scope == ADMIN:
                kept.append(scope)
            continue
        record_type, level = parts
        wider = {f"{EVERY_TYPE}:{WRITE}"}
        if level == READ:
            wider |= {f"{EVERY_TYPE}:{READ}", f"{record_type}:{WRITE}"}
        if record_type != EVERY_TYPE and wider & wanted:
            continue
        if record_type == EVERY_TYPE and level == READ and f"{EVERY_TYPE}:{WRITE}" in wanted:
            continue
        kept.append(scope)
    return kept


def scope_allows(scopes: Iterable[str], permission: str) -> bool:
    """Whether scopes let a token use `permission` ("deal.edit", "admin.people").

    Only the scopes are asked: what the token's owner may do is the decision point's part.
    An unknown permission is never allowed."""
    held = frozenset(scopes)
    area, _, action = permission.partition(".")
    if area == "admin":
        return action in ADMIN_RIGHT_KEYS and ADMIN in held
    if area not in RECORD_TYPE_KEYS or action not in RECORD_ACTION_KEYS:
        return False
    if {f"{area}:{WRITE}", f"{EVERY_TYPE}:{WRITE}"} & held:
        return True
    return action in READ_ACTIONS and bool({f"{area}:{READ}", f"{EVERY_TYPE}:{READ}"} & held)


def scope_grants(scopes: Iterable[str]) -> Grants:
    """A service token's rights: every permission its scopes allow, on every record
    ("all"), and the admin role's admin rights for "admin"."""
    held = frozenset(scopes)
    grants: Grants = {
        record_permission(t.key, action): Scope.ALL
        for t in RECORD_TYPES
        for action in RECORD_ACTION_KEYS
        if scope_allows(held, record_permission(t.key, action))
    }
    if ADMIN in held:
        grants.update(dict.fromkeys(sorted(SERVICE_ADMIN_PERMISSIONS), Scope.ALL))
    return grants


def scope_permissions(scopes: Iterable[str], *, service: bool) -> frozenset[str]:
    """Every permission the scopes reach: for a service token, what it is granted; for a
    personal token, the most it could use (its owner's roles may allow less)."""
    held = frozenset(scopes)
    records = {p for p, _ in scope_grants(held).items() if not p.startswith("admin.")}
    if ADMIN not in held:
        return frozenset(records)
    admin = (
        SERVICE_ADMIN_PERMISSIONS
        if service
        else frozenset(admin_permission(r) for r in ADMIN_RIGHT_KEYS)
    )
    return frozenset(records) | admin


def scopes_beyond(scopes: Iterable[str], *, may: Callable[[str], bool]) -> list[str]:
    """The scopes of a service token that would give it a right its creator lacks (`may`
    answers for the creator), so nobody hands a token more than they hold."""
    beyond: list[str] = []
    for scope in scopes:
        reach = scope_permissions([scope], service=True)
        if not all(may(permission) for permission in reach):
            beyond.append(scope)
    return beyond


def scope_levels(scopes: Iterable[str]) -> dict[str, str]:
    """Per record type, the level the scopes give it: "write", "read" or "" (none)."""
    held = frozenset(scopes)
    levels: dict[str, str] = {}
    for t in RECORD_TYPES:
        if scope_allows(held, record_permission(t.key, "edit")):
            levels[t.key] = WRITE
        elif scope_allows(held, record_permission(t.key, "view")):
            levels[t.key] = READ
        else:
            levels[t.key] = ""
    return levels


def scopes_from_levels(levels: Mapping[str, str], *, admin: bool) -> list[str]:
    """The scopes a picker of one level per record type (and an admin box) stands for; a
    level given to every record type becomes "*:read" / "*:write"."""
    scopes = [
        f"{t.key}:{levels[t.key]}" for t in RECORD_TYPES if levels.get(t.key) in LEVEL_ACTIONS
    ]
    for level in (WRITE, READ):
        if all(levels.get(t.key) == level for t in RECORD_TYPES):
            scopes = [f"{EVERY_TYPE}:{level}"]
    if admin:
        scopes.append(ADMIN)
    return scopes_normalize(scopes)


def scopes_describe(scopes: Iterable[str]) -> list[str]:
    """The scopes in words, one line per grant, for the page: "Deals: read and write"."""
    held = frozenset(scopes)
    levels = scope_levels(held)
    words = {READ: "read", WRITE: "read and write"}
    lines: list[str]
    distinct = set(levels.values())
    if len(distinct) == 1 and "" not in distinct:
        lines = [f"All records: {words[distinct.pop()]}"]
    else:
        lines = [f"{t.label}: {words[levels[t.key]]}" for t in RECORD_TYPES if levels[t.key]]
    if ADMIN in held:
        lines.append("Admin rights")
    return lines or ["Nothing"]


# Every scope there is, for pickers and the API's schema.
ALL_SCOPES: tuple[str, ...] = (
    f"{EVERY_TYPE}:{READ}",
    f"{EVERY_TYPE}:{WRITE}",
    *(f"{t.key}:{level}" for t in RECORD_TYPES for level in (READ, WRITE)),
    ADMIN,
)
