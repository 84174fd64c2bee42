"""Writes of the access model: custom roles, the custom roles and teams of members, teams,
access policies and the sharing of single records.

Who may change what is checked here, whatever the caller (page, API, command): the acting
member needs the admin right of the area ("roles", "people", "policies"), and nobody gives a
role that grants an admin right they do not hold themselves (role escalation).
"""

from collections.abc import Iterable
from typing import Any

import structlog
from django.db import IntegrityError, transaction

from problems.exceptions import InvalidFields
from tenants.models import Tenant

from . import authz
from .access_errors import NameTaken
from .audit import audit_record
from .authz import catalog
from .exceptions import NotAllowed
from .models import AccessPolicy, CustomRole, Membership, Role, Team, TeamMember, User
from .org.models import RecordShare

log = structlog.get_logger(__name__)

NUL = "\x00"


# Rights of the acting member -------------------------------------------------------------


def _require_right(*, by: User, tenant: Tenant, right: str, doing: str) -> authz.Principal:
    """The acting member, if they hold admin right `right`; NotAllowed otherwise, with the
    reason."""
    principal = authz.principal_for(user=by, tenant=tenant)
    if not principal.is_member:
        raise NotAllowed("You are not a member of this organization.")
    if not authz.may(principal, catalog.admin_permission(right)):
        label = dict(catalog.ADMIN_RIGHTS)[right].split(":")[0]
        raise NotAllowed(f"Only members with the admin right “{label}” {doing}.")
    return principal


def _admin_rights(grants: catalog.Grants) -> set[str]:
    return {p for p in grants if p in catalog.ALL_ADMIN_PERMISSIONS}


def _refuse_escalation(*, held: authz.Principal, giving: catalog.Grants, what: str) -> None:
    """Nobody gives admin rights they do not hold themselves."""
    beyond = sorted(_admin_rights(giving) - _admin_rights(held.grants))
    if beyond:
        names = ", ".join(p.removeprefix("admin.") for p in beyond)
        raise NotAllowed(
            f"{what} grants admin rights you do not hold ({names}); only someone who holds "
            "them can give them."
        )


def _text(errors: dict[str, list[str]], field: str, value: object, *, max_length: int) -> str:
    """A text field, trimmed; errors collected in `errors`."""
    if not isinstance(value, str):
        errors[field] = ["Must be text."]
        return ""
    value = value.strip()
    if NUL in value:
        errors[field] = ["Null characters are not allowed."]
    elif len(value) > max_length:
        errors[field] = [f"At most {max_length} characters."]
    return value


# Custom roles ------------------------------------------------------------------------------


def permissions_clean(raw: object) -> catalog.Grants:
    """A permission matrix as sent (permission key → scope, or "none"), checked: unknown
    keys and scopes are field errors (keyed by the permission), never dropped silently."""
    if not isinstance(raw, dict):
        raise InvalidFields({"permissions": ["Send an object of permission → scope."]})
    errors: dict[str, list[str]] = {}
    grants: catalog.Grants = {}
    for key, scope in raw.items():
        name = str(key).replace(NUL, "\\0")
        if key not in catalog.ALL_PERMISSIONS:
            errors[f"permissions.{name}"] = ["No such permission."]
            continue
        if scope == "none":
            continue
        allowed = _scopes_of(key)
        if scope not in allowed:
            errors[f"permissions.{name}"] = [f"Choose one of: none, {', '.join(allowed)}."]
            continue
        grants[key] = catalog.Scope(scope)
    if errors:
        raise InvalidFields(errors)
    return catalog.grants_clean(grants)


def _scopes_of(permission: str) -> tuple[str, ...]:
    """The scopes a permission may take: admin rights and type-level actions all or nothing."""
    action = permission.split(".", 1)[1]
    if permission.startswith("admin.") or action in catalog.TYPE_LEVEL_ACTIONS:
        return (catalog.Scope.ALL.value,)
    return tuple(s.value for s in catalog.Scope)


def _role_fields(*, name: object, description: object, permissions: object) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean_name = _text(errors, "name", name, max_length=60)
    if not clean_name and "name" not in errors:
        errors["name"] = ["Give the role a name."]
    elif clean_name.lower() in {r.value for r in Role} | {str(r.label).lower() for r in Role}:
        errors["name"] = ["A built-in role has this name; choose another."]
    clean_description = _text(errors, "description", description, max_length=200)
    try:
        grants = permissions_clean(permissions)
    except InvalidFields as exc:
        errors.update(exc.errors)
        grants = {}
    if errors:
        raise InvalidFields(errors)
    return {
        "name": clean_name,
        "description": clean_description,
        "permissions": {k: str(v) for k, v in sorted(grants.items())},
    }


def _name_taken(field: str, what: str) -> NameTaken:
    return NameTaken(f"{what} with this name exists already.", field=field)


def custom_role_create(
    *, tenant: Tenant, by: User, name: str, description: str = "", permissions: object
) -> CustomRole:
    """A new custom role from the permission matrix, by a member with the "roles" right,
    granting no admin right the maker lacks."""
    held = _require_right(by=by, tenant=tenant, right="roles", doing="create roles")
    fields = _role_fields(name=name, description=description, permissions=permissions)
    _refuse_escalation(
        held=held, giving=catalog.grants_clean(fields["permissions"]), what="This role"
    )
    try:
        with transaction.atomic():
            role = CustomRole.objects.create(tenant=tenant, **fields)
            _audit(tenant, by, "role.created", role, after=fields)
    except IntegrityError:
        raise _name_taken("name", "A role") from None
    log.info("custom_role.created", tenant=tenant.slug, role=role.pk, by=by.pk)
    return role


def custom_role_update(
    *, role: CustomRole, by: User, name: str, description: str = "", permissions: object
) -> CustomRole:
    """Change a custom role; its members have the new rights from their next request."""
    tenant = role.tenant
    held = _require_right(by=by, tenant=tenant, right="roles", doing="change roles")
    fields = _role_fields(name=name, description=description, permissions=permissions)
    _refuse_escalation(
        held=held, giving=catalog.grants_clean(fields["permissions"]), what="This role"
    )
    before = {"name": role.name, "description": role.description, "permissions": role.permissions}
    try:
        with transaction.atomic():
            CustomRole.objects.filter(pk=role.pk).update(**fields)
            _audit(tenant, by, "role.changed", role, before=before, after=fields)
    except IntegrityError:
        raise _name_taken("name", "A role") from None
    for key, value in fields.items():
        setattr(role, key, value)
    log.info("custom_role.changed", tenant=tenant.slug, role=role.pk, by=by.pk)
    return role


def custom_role_delete(*, role: CustomRole, by: User) -> None:
    """Delete a custom role; the members who held it just lose what it granted."""
    tenant = role.tenant
    held = _require_right(by=by, tenant=tenant, right="roles", doing="delete roles")
    _refuse_escalation(held=held, giving=catalog.grants_clean(role.permissions), what="This role")
    with transaction.atomic():
        _audit(tenant, by, "role.deleted", role, before={"name": role.name})
        role.delete()
    log.info("custom_role.deleted", tenant=tenant.slug, name=role.name, by=by.pk)


def membership_custom_roles_set(
    *, membership: Membership, by: User, role_ids: Iterable[int]
) -> Membership:
    """Give a member exactly these custom roles of the organization. Needs the "people"
    right; a role granting an admin right the giver lacks can't be given (it may be taken
    away); only owners change an owner's roles."""
    tenant = membership.tenant
    held = _require_right(by=by, tenant=tenant, right="people", doing="change roles")
    if membership.role == Role.OWNER and held.role != Role.OWNER:
        raise NotAllowed("Only owners change an owner's roles.")
    wanted_ids = {int(i) for i in role_ids}
    wanted = list(CustomRole.objects.filter(tenant=tenant, pk__in=wanted_ids))
    if len(wanted) != len(wanted_ids):
        raise InvalidFields({"custom_roles": ["Choose roles of this organization."]})
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        before = set(locked.custom_roles.values_list("pk", flat=True))
        for role in wanted:
            if role.pk not in before:
                _refuse_escalation(
                    held=held,
                    giving=catalog.grants_clean(role.permissions),
                    what=f"The role “{role.name}”",
                )
        locked.custom_roles.set(wanted)
        if before != wanted_ids:
            _audit(
                tenant,
                by,
                "member.roles_changed",
                locked,
                before={"custom_roles": sorted(before)},
                after={"custom_roles": sorted(wanted_ids)},
            )
    log.info(
        "membership.custom_roles_changed",
        tenant=tenant.slug,
        user=membership.user_id,
        roles=sorted(wanted_ids),
        by=by.pk,
    )
    return membership


def membership_teams_set(*, membership: Membership, by: User, team_ids: Iterable[int]) -> None:
    """Put a member in exactly these teams of the organization (the "people" right)."""
    tenant = membership.tenant
    _require_right(by=by, tenant=tenant, right="people", doing="change teams")
    wanted_ids = {int(i) for i in team_ids}
    found = set(Team.objects.filter(tenant=tenant, pk__in=wanted_ids).values_list("pk", flat=True))
    if found != wanted_ids:
        raise InvalidFields({"teams": ["Choose teams of this organization."]})
    with transaction.atomic():
        current = set(
            TeamMember.objects.filter(team__tenant=tenant, user_id=membership.user_id).values_list(
                "team_id", flat=True
            )
        )
        TeamMember.objects.filter(
            team__tenant=tenant, user_id=membership.user_id, team_id__in=current - wanted_ids
        ).delete()
        TeamMember.objects.bulk_create(
            [TeamMember(team_id=t, user_id=membership.user_id) for t in wanted_ids - current],
            ignore_conflicts=True,
        )
        if current != wanted_ids:
            _audit(
                tenant,
                by,
                "member.teams_changed",
                membership,
                before={"teams": sorted(current)},
                after={"teams": sorted(wanted_ids)},
            )
    log.info("membership.teams_changed", tenant=tenant.slug, user=membership.user_id, by=by.pk)


def membership_access_set(
    *,
    membership: Membership,
    by: User,
    role_ids: Iterable[int] | None = None,
    team_ids: Iterable[int] | None = None,
) -> None:
    """Set a member's custom roles and teams together (None: leave as they are), all or
    nothing."""
    with transaction.atomic():
        if role_ids is not None:
            membership_custom_roles_set(membership=membership, by=by, role_ids=role_ids)
        if team_ids is not None:
            membership_teams_set(membership=membership, by=by, team_ids=team_ids)


# Teams ---------------------------------------------------------------------------------


def _member_user(tenant: Tenant, user_id: object, field: str) -> User:
    """An active member of the organization, by user id; a field error otherwise."""
    try:
        pk = int(str(user_id))
    except ValueError:
        raise InvalidFields({field: ["Choose a member of this organization."]}) from None
    user = User.objects.filter(
        pk=pk, memberships__tenant=tenant, memberships__deactivated_at=None
    ).first()
    if user is None:
        raise InvalidFields({field: ["Choose a member of this organization."]})
    return user


def _team_fields(tenant: Tenant, *, name: object, manager_id: object) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean = _text(errors, "name", name, max_length=100)
    if not clean and "name" not in errors:
        errors["name"] = ["Give the team a name."]
    manager = None
    if manager_id not in (None, ""):
        try:
            manager = _member_user(tenant, manager_id, "manager")
        except InvalidFields as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidFields(errors)
    return {"name": clean, "manager": manager}


def team_create(
    *,
    tenant: Tenant,
    by: User,
    name: str,
    manager_id: int | None = None,
    member_ids: Iterable[int] = (),
) -> Team:
    """A new team, by a member with the "people" right. Its manager is one of its members."""
    _require_right(by=by, tenant=tenant, right="people", doing="manage teams")
    fields = _team_fields(tenant, name=name, manager_id=manager_id)
    members = [_member_user(tenant, pk, "members") for pk in member_ids]
    try:
        with transaction.atomic():
            team = Team.objects.create(tenant=tenant, **fields)
            users = {u.pk for u in members} | (
                {fields["manager"].pk} if fields["manager"] else set()
            )
            TeamMember.objects.bulk_create([TeamMember(team=team, user_id=u) for u in users])
            _audit(tenant, by, "team.created", team, after=_team_state(team))
    except IntegrityError:
        raise _name_taken("name", "A team") from None
    log.info("team.created", tenant=tenant.slug, team=team.pk, by=by.pk)
    return team


def _team_state(team: Team) -> dict[str, Any]:
    return {
        "name": team.name,
        "manager": team.manager_id,
        "members": sorted(team.memberships.values_list("user_id", flat=True)),
    }


def team_update(*, team: Team, by: User, name: str, manager_id: int | None = None) -> Team:
    """Rename a team or change its manager (who joins it if not in it yet)."""
    tenant = team.tenant
    _require_right(by=by, tenant=tenant, right="people", doing="manage teams")
    fields = _team_fields(tenant, name=name, manager_id=manager_id)
    before = _team_state(team)
    try:
        with transaction.atomic():
            Team.objects.filter(pk=team.pk).update(**fields)
            team.name, team.manager = fields["name"], fields["manager"]
            if team.manager is not None:
                TeamMember.objects.get_or_create(team=team, user=team.manager)
            _audit(tenant, by, "team.changed", team, before=before, after=_team_state(team))
    except IntegrityError:
        raise _name_taken("name", "A team") from None
    log.info("team.changed", tenant=tenant.slug, team=team.pk, by=by.pk)
    return team


def team_delete(*, team: Team, by: User) -> None:
    """Delete a team; its records stay with their owners, and shares with it end."""
    tenant = team.tenant
    _require_right(by=by, tenant=tenant, right="people", doing="manage teams")
    with transaction.atomic():
        _audit(tenant, by, "team.deleted", team, before=_team_state(team))
        # Shares live in the organization's schema, which this request is on.
        RecordShare.objects.filter(team_id=team.pk).delete()
        team.delete()
    log.info("team.deleted", tenant=tenant.slug, name=team.name, by=by.pk)


def team_member_add(*, team: Team, by: User, user_id: int) -> None:
    tenant = team.tenant
    _require_right(by=by, tenant=tenant, right="people", doing="manage teams")
    user = _member_user(tenant, user_id, "user")
    with transaction.atomic():
        _, created = TeamMember.objects.get_or_create(team=team, user=user)
        if created:
            _audit(tenant, by, "team.member_added", team, after={"user": user.pk})
    log.info("team.member_added", tenant=tenant.slug, team=team.pk, user=user.pk, by=by.pk)


def team_member_remove(*, team: Team, by: User, user_id: int) -> None:
    """Take someone out of a team; a manager who leaves it stops managing it."""
    tenant = team.tenant
    _require_right(by=by, tenant=tenant, right="people", doing="manage teams")
    with transaction.atomic():
        deleted, _ = TeamMember.objects.filter(team=team, user_id=user_id).delete()
        if team.manager_id == user_id:
            Team.objects.filter(pk=team.pk).update(manager=None)
            team.manager = None
        if deleted:
            _audit(tenant, by, "team.member_removed", team, before={"user": user_id})
    log.info("team.member_removed", tenant=tenant.slug, team=team.pk, user=user_id, by=by.pk)


# Access policies -------------------------------------------------------------------------


def _policy_fields(*, name: object, description: object, source: object) -> dict[str, Any]:
    from .authz.cedar import policy_validate
    from .authz.lists import policy_list_problems

    errors: dict[str, list[str]] = {}
    clean_name = _text(errors, "name", name, max_length=100)
    if not clean_name and "name" not in errors:
        errors["name"] = ["Give the policy a name."]
    clean_description = _text(errors, "description", description, max_length=300)
    clean_source = _text(errors, "source", source, max_length=20_000)
    if not clean_source and "source" not in errors:
        errors["source"] = ["Write at least one permit or forbid statement."]
    if "source" not in errors:
        # Lists apply policies in their query, so a policy must also be one they can apply.
        problems = policy_validate(clean_source) or policy_list_problems(clean_source)
        if problems:
            errors["source"] = list(problems)
    if errors:
        raise InvalidFields(errors)
    return {"name": clean_name, "description": clean_description, "source": clean_source}


def policy_create(
    *,
    tenant: Tenant,
    by: User,
    name: str,
    source: str,
    description: str = "",
    is_enabled: bool = True,
) -> AccessPolicy:
    """A new access policy, validated against the schema first: an invalid one is refused
    with its errors on `source` and nothing is saved."""
    _require_right(by=by, tenant=tenant, right="policies", doing="write access policies")
    fields = _policy_fields(name=name, description=description, source=source)
    try:
        with transaction.atomic():
            policy = AccessPolicy.objects.create(
                tenant=tenant, created_by=by, is_enabled=bool(is_enabled), **fields
            )
            _audit(tenant, by, "policy.created", policy, after={**fields, "enabled": is_enabled})
    except IntegrityError:
        raise _name_taken("name", "A policy") from None
    log.info("policy.created", tenant=tenant.slug, policy=policy.pk, by=by.pk)
    return policy


def policy_update(
    *, policy: AccessPolicy, by: User, name: str, source: str, description: str = ""
) -> AccessPolicy:
    """Change a policy's name, description or statements (validated as on creation)."""
    tenant = policy.tenant
    _require_right(by=by, tenant=tenant, right="policies", doing="change access policies")
    fields = _policy_fields(name=name, description=description, source=source)
    before = {"name": policy.name, "description": policy.description, "source": policy.source}
    try:
        with transaction.atomic():
            for key, value in fields.items():
                setattr(policy, key, value)
            policy.save(update_fields=[*fields, "updated_at"])
            _audit(tenant, by, "policy.changed", policy, before=before, after=fields)
    except IntegrityError:
        raise _name_taken("name", "A policy") from None
    log.info("policy.changed", tenant=tenant.slug, policy=policy.pk, by=by.pk)
    return policy


def policy_set_enabled(*, policy: AccessPolicy, by: User, is_enabled: bool) -> AccessPolicy:
    """Switch a policy on or off; it takes part in decisions from the next request."""
    tenant = policy.tenant
    _require_right(by=by, tenant=tenant, right="policies", doing="switch access policies")
    if policy.is_enabled != is_enabled:
        with transaction.atomic():
            policy.is_enabled = is_enabled
            policy.save(update_fields=["is_enabled", "updated_at"])
            action = "policy.enabled" if is_enabled else "policy.disabled"
            _audit(tenant, by, action, policy)
        log.info("policy.switched", tenant=tenant.slug, policy=policy.pk, on=is_enabled, by=by.pk)
    return policy


def policy_delete(*, policy: AccessPolicy, by: User) -> None:
    tenant = policy.tenant
    _require_right(by=by, tenant=tenant, right="policies", doing="delete access policies")
    with transaction.atomic():
        _audit(tenant, by, "policy.deleted", policy, before={"name": policy.name})
        policy.delete()
    log.info("policy.deleted", tenant=tenant.slug, name=policy.name, by=by.pk)


# Sharing one record ----------------------------------------------------------------------


def _share_grantee(
    tenant: Tenant, user_id: object, team_id: object
) -> tuple[int | None, int | None]:
    if (user_id in (None, "")) == (team_id in (None, "")):
        raise InvalidFields({"user": ["Share with one member or one team."]})
    if user_id not in (None, ""):
        return _member_user(tenant, user_id, "user").pk, None
    try:
        team = Team.objects.filter(tenant=tenant, pk=int(str(team_id))).first()
    except ValueError:
        team = None
    if team is None:
        raise InvalidFields({"team": ["Choose a team of this organization."]})
    return None, team.pk


def _require_record_edit(*, principal: authz.Principal, record_type: str, record: Any) -> None:
    """Sharing a record is for those who may edit it."""
    authz.require(principal, "edit", record_type=record_type, record=record)


def record_share_set(
    *,
    principal: authz.Principal,
    record_type: str,
    record_id: int,
    user_id: int | None = None,
    team_id: int | None = None,
    level: str,
) -> RecordShare:
    """Share one record with a member or a team, to view or to edit (or change the level of
    an existing share). Whoever may edit the record may share it. Runs on the organization's
    schema, where the record and its shares live."""
    from .selectors_access import record_get

    tenant = principal.tenant
    if level not in RecordShare.Level.values:
        raise InvalidFields({"level": ["Choose view or edit."]})
    record = record_get(record_type=record_type, record_id=record_id)
    _require_record_edit(principal=principal, record_type=record_type, record=record)
    user_pk, team_pk = _share_grantee(tenant, user_id, team_id)
    by_id = principal.user_id
    with transaction.atomic():
        share, created = RecordShare.objects.update_or_create(
            record_type=record_type,
            record_id=record.pk,
            user_id=user_pk,
            team_id=team_pk,
            defaults={"level": level, "shared_by_id": by_id},
        )
        _audit_share(principal, "share.added" if created else "share.changed", share)
    log.info(
        "record.shared",
        tenant=tenant.slug,
        record_type=record_type,
        record=record.pk,
        user=user_pk,
        team=team_pk,
        level=level,
        by=by_id,
    )
    return share


def record_share_remove(*, principal: authz.Principal, share: RecordShare) -> None:
    """End one share of a record, by someone who may edit the record."""
    from .selectors_access import record_get

    record = record_get(record_type=share.record_type, record_id=share.record_id)
    _require_record_edit(principal=principal, record_type=share.record_type, record=record)
    with transaction.atomic():
        _audit_share(principal, "share.removed", share)
        share.delete()
    log.info(
        "record.unshared",
        tenant=principal.tenant.slug,
        record_type=share.record_type,
        record=share.record_id,
        by=principal.user_id,
    )


# Audit -----------------------------------------------------------------------------------


def _audit(
    tenant: Tenant,
    by: User | None,
    action: str,
    target: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """A row in the organization's audit trail, in the caller's transaction: each field
    that differs between `before` and `after`, as [before, after]."""
    before, after = before or {}, after or {}
    changes = {
        field: [before.get(field), after.get(field)]
        for field in sorted(set(before) | set(after))
        if before.get(field) != after.get(field)
    }
    audit_record(action=action, target=target, changes=changes, actor=by, tenant=tenant)


def _audit_share(principal: authz.Principal, action: str, share: RecordShare) -> None:
    by = User.objects.filter(pk=principal.user_id).first() if principal.user_id else None
    _audit(
        principal.tenant,
        by,
        action,
        share,
        after={
            "record_type": share.record_type,
            "record_id": share.record_id,
            "user": share.user_id,
            "team": share.team_id,
            "level": share.level,
        },
    )
