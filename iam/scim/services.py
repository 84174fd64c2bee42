"""Every write SCIM makes: tokens, and members and teams as the identity provider keeps them.

Users are global and may belong to other organizations, so an identity provider never
deletes one, and changes a user's e-mail address or full name only while that user belongs
to this organization alone. What it sends about a member is kept per membership
(ScimProfile) and read back exactly.

The services raise scim2-models' SCIM exceptions: their status and `scimType` are what
the protocol answers with.
"""

import hashlib
import secrets
from collections.abc import Iterable

import structlog
from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from scim2_models import (
    ConflictException,
    ForbiddenException,
    InvalidValueException,
    MutabilityException,
    UniquenessException,
)

from iam import authz, limits
from iam.audit import audit_record
from iam.authz import catalog
from iam.exceptions import NotAllowed
from iam.models import ApiToken, CustomRole, Membership, Role, Team, TeamMember, User
from iam.services import api_token_revoke, membership_create
from problems.exceptions import DomainError, InvalidFields
from tenants.models import Tenant

from . import audit
from .models import ScimProfile, ScimSettings, ScimToken
from .resources import Group
from .resources import User as ScimUser

log = structlog.get_logger(__name__)

TOKEN_PREFIX = "mscim_"  # noqa: S105 - a public marker, not a secret
# Members an identity provider creates get this role unless the organization chose another
# (ScimSettings); owners and admins raise it in the app.
DEFAULT_ROLE = Role.MEMBER
# The built-in roles new members may get: never owner (ownership is handed over, not
# provisioned); admin and billing only when an owner chose them.
DEFAULT_ROLES = (Role.MEMBER, Role.MANAGER, Role.READ_ONLY, Role.ADMIN, Role.BILLING)
_OWNERS_ONLY_ROLES = frozenset({Role.ADMIN, Role.BILLING})


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# Tokens -------------------------------------------------------------------------------------


def scim_token_create(*, tenant: Tenant, by: User | None, name: str) -> tuple[ScimToken, str]:
    """Issue a SCIM token for `tenant`; return it with its plaintext, which is shown once."""
    name = name.strip()[:100] or "Identity provider"
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ScimToken.objects.create(
            tenant=tenant,
            name=name,
            prefix=raw[: len(TOKEN_PREFIX) + 6],
            digest=_digest(raw),
            created_by=by,
        )
        audit.record(
            tenant=tenant,
            action="scim_token.created",
            target_type="scim_token",
            target_id=str(token.pk),
            target_label=name,
        )
    log.info("scim_token.created", tenant=tenant.slug, token=token.pk)
    return token, raw


def scim_token_revoke(*, token: ScimToken) -> ScimToken:
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(
                tenant=token.tenant,
                action="scim_token.revoked",
                target_type="scim_token",
                target_id=str(token.pk),
                target_label=token.name,
            )
        log.info("scim_token.revoked", tenant=token.tenant_id, token=token.pk)
    return token


def scim_token_authenticate(*, raw: str, tenant: Tenant) -> ScimToken | None:
    """The live token matching `raw` for this organization, or None (another one's is None)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = ScimToken.objects.filter(digest=_digest(raw), tenant=tenant, revoked_at=None).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# The role of new members ----------------------------------------------------------------------


def scim_defaults_get(*, tenant: Tenant) -> ScimSettings:
    """The organization's choice of role for the members SCIM creates (unsaved defaults,
    the member role alone, when it made none)."""
    found = ScimSettings.objects.filter(tenant=tenant).select_related("default_custom_role").first()
    return found or ScimSettings(tenant=tenant, default_role=DEFAULT_ROLE)


def _admin_rights(grants: catalog.Grants) -> set[str]:
    return {p for p in grants if p in catalog.ALL_ADMIN_PERMISSIONS}


def scim_defaults_set(
    *, tenant: Tenant, by: User, default_role: str, default_custom_role_id: object = None
) -> ScimSettings:
    """Choose the built-in role (and, optionally, a custom role of the organization) that
    the members SCIM creates from now on get. Needs the SSO right. Never owner; admin and
    billing only by an owner; and nobody makes people with admin rights they don't hold
    themselves (a custom role's included): the provider would hand them out unseen."""
    principal = authz.principal_for(user=by, tenant=tenant)
    if not principal.is_member or not authz.may(principal, catalog.admin_permission("sso")):
        raise NotAllowed("Only members with the admin right “Single sign-on” change this.")
    errors: dict[str, list[str]] = {}
    if default_role == Role.OWNER:
        errors["default_role"] = [
            "New members can't be owners: an owner hands ownership over on the Members page."
        ]
    elif default_role not in DEFAULT_ROLES:
        errors["default_role"] = [f"Choose one of: {', '.join(DEFAULT_ROLES)}."]
    custom: CustomRole | None = None
    if default_custom_role_id not in (None, ""):
        raw = str(default_custom_role_id)
        if raw.isdigit() and len(raw) <= 18:
            custom = CustomRole.objects.filter(tenant=tenant, pk=int(raw)).first()
        if custom is None:
            errors["default_custom_role"] = ["Choose a custom role of this organization."]
    if errors:
        raise InvalidFields(errors)
    if default_role in _OWNERS_ONLY_ROLES and principal.role != Role.OWNER:
        raise NotAllowed(
            f"Only owners make new members {Role(default_role).label.lower()}s: the role "
            "holds rights that only owners give.",
            field="default_role",
        )
    giving = catalog.grants_union(
        catalog.BUILT_IN_ROLES[default_role],
        catalog.grants_clean(custom.permissions) if custom else {},
    )
    beyond = sorted(_admin_rights(giving) - _admin_rights(principal.grants))
    if beyond:
        names = ", ".join(p.removeprefix("admin.") for p in beyond)
        raise NotAllowed(
            f"New members would get admin rights you do not hold ({names}); only someone "
            "who holds them can choose this.",
            field="default_custom_role" if custom else "default_role",
        )
    with transaction.atomic():
        settings, _ = ScimSettings.objects.select_for_update().get_or_create(tenant=tenant)
        before = [settings.default_role, settings.default_custom_role_id]
        settings.default_role = default_role
        settings.default_custom_role = custom
        settings.updated_by = by
        settings.save()
        after = [default_role, custom.pk if custom else None]
        changes = {
            key: [old, new]
            for key, old, new in zip(("role", "custom_role"), before, after, strict=True)
            if old != new
        }
        if changes:
            audit_record(
                action="scim.defaults_changed",
                target=("scim_settings", settings.pk, "Role of new SCIM members"),
                changes=changes,
                actor=by,
                tenant=tenant,
            )
    log.info("scim.defaults_changed", tenant=tenant.slug, role=default_role, by=by.pk)
    return settings


# Users --------------------------------------------------------------------------------------


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _email_of(resource: ScimUser) -> str:
    """The member's e-mail address: the primary (else the first) of `emails`, or userName
    when it is an address itself."""
    emails = [e for e in resource.emails or [] if e.value]
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    address = str(chosen.value) if chosen else (resource.user_name or "")
    address = address.strip().lower()
    if not _is_email(address):
        raise InvalidValueException(
            detail="Give the member's e-mail address in `emails` (or as the userName)."
        )
    return address


def _stored_emails(resource: ScimUser) -> list[dict[str, object]]:
    return [
        e.model_dump(scim_ctx=None, exclude_none=True, by_alias=True, mode="json")
        for e in resource.emails or []
    ]


def _check_user_name_free(*, tenant: Tenant, user_name: str, but: Membership | None) -> None:
    others = Membership.objects.filter(tenant=tenant)
    if but is not None:
        others = others.exclude(pk=but.pk)
    taken = others.filter(
        Q(scim_profile__user_name__iexact=user_name)
        | Q(scim_profile__isnull=True, user__email__iexact=user_name)
    ).exists()
    if taken:
        raise UniquenessException(
            detail=f"The userName {user_name!r} is taken in this organization."
        )


def _belongs_elsewhere(user: User, tenant: Tenant) -> bool:
    return Membership.objects.filter(user=user).exclude(tenant=tenant).exists()


def _user_sync(*, user: User, tenant: Tenant, email: str, full_name: str | None) -> None:
    """Bring the global user's e-mail and full name in line with what the provider sent,
    only while the user is this organization's alone; a changed address is unconfirmed."""
    changed: list[str] = []
    if email != user.email.lower():
        if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise UniquenessException(detail="Another account uses this e-mail address.")
        if _belongs_elsewhere(user, tenant):
            raise MutabilityException(
                detail="This person also belongs to other organizations, so their e-mail "
                "address can't be changed from here."
            )
        user.email = email
        changed.append("email")
        EmailAddress.objects.filter(user=user).delete()
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
    if (
        full_name is not None
        and full_name != user.full_name
        and not _belongs_elsewhere(user, tenant)
    ):
        user.full_name = full_name[:200]
        changed.append("full_name")
    if changed:
        user.save(update_fields=changed)


def _full_name(resource: ScimUser) -> str | None:
    name = resource.name
    if name is None:
        return None
    if name.formatted:
        return name.formatted
    joined = " ".join(p for p in (name.given_name, name.family_name) if p)
    return joined or None


def _only_owner(membership: Membership) -> bool:
    """Inside a transaction: whether `membership` is the organization's only active owner.
    Owner rows are locked in id order, so two concurrent switch-offs can't both pass."""
    owners = list(
        Membership.objects.select_for_update()
        .filter(tenant_id=membership.tenant_id, role=Role.OWNER, deactivated_at=None)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return owners == [membership.pk]


def _revoke_tokens(membership: Membership) -> int:
    tokens = list(
        ApiToken.objects.filter(
            user_id=membership.user_id, tenant_id=membership.tenant_id, revoked_at=None
        )
    )
    for token in tokens:
        api_token_revoke(token=token)
    return len(tokens)


def _set_active(membership: Membership, active: bool) -> dict[str, object]:
    if not active and membership.deactivated_at is None:
        if membership.role == Role.OWNER and _only_owner(membership):
            raise ConflictException(
                detail="This is the organization's only owner, who can't be switched off; "
                "make someone else owner first."
            )
        membership.deactivated_at = timezone.now()
        membership.save(update_fields=["deactivated_at"])
        revoked = _revoke_tokens(membership)
        log.info(
            "scim.member_deactivated",
            tenant=membership.tenant_id,
            user=membership.user_id,
            tokens_revoked=revoked,
        )
        return {"active": [True, False]}
    if active and membership.deactivated_at is not None:
        # A switched-off member holds no seat: switching them back on takes one again.
        try:
            with transaction.atomic():
                limits.require_capacity(tenant=membership.tenant, name="seats")
        except DomainError as exc:
            if exc.status == 402:  # every seat of the plan is taken
                raise ForbiddenException(detail=exc.detail) from exc
            raise
        membership.deactivated_at = None
        membership.save(update_fields=["deactivated_at"])
        log.info("scim.member_reactivated", tenant=membership.tenant_id, user=membership.user_id)
        return {"active": [False, True]}
    return {}


def _profile_save(
    *, membership: Membership, resource: ScimUser, active_reported: bool
) -> ScimProfile:
    name = resource.name
    try:
        profile, _ = ScimProfile.objects.update_or_create(
            membership=membership,
            defaults={
                "tenant_id": membership.tenant_id,
                "user_name": resource.user_name or "",
                "formatted": (name.formatted or "")[:200] if name else "",
                "given_name": (name.given_name or "")[:150] if name else "",
                "family_name": (name.family_name or "")[:150] if name else "",
                "emails": _stored_emails(resource),
                "active_reported": active_reported,
            },
        )
    except IntegrityError as exc:  # the same userName, written by a concurrent request
        raise UniquenessException(detail="The userName is taken in this organization.") from exc
    return profile


def scim_user_create(*, tenant: Tenant, resource: ScimUser) -> Membership:
    """Make the person a member: a new user (no password: they sign in by SSO or reset it)
    for a new address, or the existing user of that address, with the default role. The
    plan's seats are asked first. A person already a member is a uniqueness conflict.

    The role is the organization's choice for new SCIM members (`scim_defaults_set`), the
    member role unless it made one; its custom role, if any, comes with it."""
    email = _email_of(resource)
    user_name = resource.user_name or email
    defaults = scim_defaults_get(tenant=tenant)
    role = defaults.default_role
    with transaction.atomic():
        _check_user_name_free(tenant=tenant, user_name=user_name, but=None)
        user = User.objects.filter(email__iexact=email).first()
        if user is not None and Membership.objects.filter(user=user, tenant=tenant).exists():
            raise UniquenessException(detail=f"{email} is already a member of this organization.")
        if user is None:
            user = User.objects.create_user(
                email=email, password=None, full_name=(_full_name(resource) or "")[:200]
            )
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
            created_user = True
        else:
            _user_sync(user=user, tenant=tenant, email=email, full_name=_full_name(resource))
            created_user = False
        try:
            with transaction.atomic():
                membership = membership_create(user=user, tenant=tenant, role=role)
        except DomainError as exc:
            if exc.status == 402:  # every seat of the plan is taken
                raise ForbiddenException(detail=exc.detail) from exc
            raise
        except IntegrityError as exc:  # the same person, added by a concurrent request
            raise UniquenessException(detail=f"{email} is already a member.") from exc
        membership.external_id = (resource.external_id or "")[:255]
        membership.save(update_fields=["external_id"])
        changes: dict[str, object] = {"role": [None, role], "new_account": [None, created_user]}
        if defaults.default_custom_role_id:
            membership.custom_roles.add(defaults.default_custom_role_id)
            changes["custom_roles"] = [[], [defaults.default_custom_role_id]]
        _profile_save(
            membership=membership,
            resource=resource.model_copy(update={"user_name": user_name}),
            active_reported=True,
        )
        if resource.active is False:
            _set_active(membership, False)
        audit.record(
            tenant=tenant,
            action="member.provisioned",
            target_type="user",
            target_id=str(user.pk),
            target_label=email,
            changes=changes,
        )
    log.info("scim.member_created", tenant=tenant.slug, user=user.pk, new_user=created_user)
    return membership


def scim_user_update(
    *, membership: Membership, resource: ScimUser, active_removed: bool = False
) -> Membership:
    """Apply the member's new state (a PUT, or a PATCH already applied to the current one).

    `active: false` switches the membership off: from the next request it opens nothing,
    and the person's API tokens here are revoked now. `active: true` switches it back on;
    an `active` the provider removed (`active_removed`) no longer keeps it off. A state
    without `active` leaves it as it is."""
    tenant = membership.tenant
    email = _email_of(resource)
    user_name = resource.user_name or email
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        _check_user_name_free(tenant=tenant, user_name=user_name, but=locked)
        before = {"email": locked.user.email, "external_id": locked.external_id}
        _user_sync(user=locked.user, tenant=tenant, email=email, full_name=_full_name(resource))
        changes: dict[str, object] = {}
        if resource.active is not None:
            changes.update(_set_active(locked, resource.active))
        elif active_removed:
            changes.update(_set_active(locked, True))
        external_id = (resource.external_id or "")[:255]
        if external_id != locked.external_id:
            locked.external_id = external_id
            locked.save(update_fields=["external_id"])
        previous = ScimProfile.objects.filter(membership=locked).first()
        _profile_save(
            membership=locked,
            resource=resource.model_copy(update={"user_name": user_name}),
            active_reported=resource.active is not None
            or (not active_removed and (previous is None or previous.active_reported)),
        )
        after = {"email": locked.user.email, "external_id": locked.external_id}
        changes.update({k: [before[k], after[k]] for k in before if before[k] != after[k]})
        if previous is None or previous.user_name != user_name:
            changes["user_name"] = [previous.user_name if previous else None, user_name]
        action = "member.updated"
        if "active" in changes:
            action = "member.deactivated" if resource.active is False else "member.reactivated"
        audit.record(
            tenant=tenant,
            action=action,
            target_type="user",
            target_id=str(locked.user_id),
            target_label=locked.user.email,
            changes=changes,
        )
    log.info("scim.member_updated", tenant=tenant.slug, user=locked.user_id)
    return locked


def scim_user_delete(*, membership: Membership) -> None:
    """Take the person out of the organization: their membership, their teams here and their
    API tokens here go; the user stays (they may belong to other organizations)."""
    tenant = membership.tenant
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if locked.role == Role.OWNER and _only_owner(locked):
            raise ConflictException(
                detail="This is the organization's only owner, who can't be removed; "
                "make someone else owner first."
            )
        revoked = _revoke_tokens(locked)
        TeamMember.objects.filter(user_id=locked.user_id, team__tenant=tenant).delete()
        locked.delete()
        audit.record(
            tenant=tenant,
            action="member.deprovisioned",
            target_type="user",
            target_id=str(locked.user_id),
            target_label=locked.user.email,
            changes={"role": [locked.role, None]},
        )
    log.info("scim.member_removed", tenant=tenant.slug, user=locked.user_id, tokens=revoked)


# Groups -------------------------------------------------------------------------------------


def _member_user_ids(*, tenant: Tenant, resource: Group) -> list[int]:
    """The user ids of the members a Group names (SCIM User ids are membership ids), all of
    this organization, or invalidValue naming the first that isn't."""
    wanted = [m.value or "" for m in resource.members or []]
    bad = [v for v in wanted if not v.isdigit()]
    found = dict(
        Membership.objects.filter(
            tenant=tenant, pk__in=[int(v) for v in wanted if v.isdigit()]
        ).values_list("pk", "user_id")
    )
    missing = bad + [v for v in wanted if v.isdigit() and int(v) not in found]
    if missing:
        raise InvalidValueException(
            detail=f"No member of this organization has the id {missing[0]!r}."
        )
    return list(dict.fromkeys(found[int(v)] for v in wanted))


def _team_members_set(team: Team, user_ids: Iterable[int]) -> dict[str, list[int]]:
    wanted = set(user_ids)
    current = set(TeamMember.objects.filter(team=team).values_list("user_id", flat=True))
    TeamMember.objects.filter(team=team, user_id__in=current - wanted).delete()
    TeamMember.objects.bulk_create(
        [TeamMember(team=team, user_id=u) for u in sorted(wanted - current)]
    )
    return {"added": sorted(wanted - current), "removed": sorted(current - wanted)}


def _team_name(resource: Group) -> str:
    name = (resource.display_name or "").strip()
    if not name or len(name) > 100:
        raise InvalidValueException(detail="displayName must be 1 to 100 characters.")
    return name


def _team_name_free(*, tenant: Tenant, name: str, but: Team | None) -> None:
    teams = Team.objects.filter(tenant=tenant, name__iexact=name)
    if but is not None:
        teams = teams.exclude(pk=but.pk)
    if teams.exists():
        raise UniquenessException(detail=f"A team named {name!r} exists already.")


def scim_group_create(*, tenant: Tenant, resource: Group) -> Team:
    name = _team_name(resource)
    with transaction.atomic():
        _team_name_free(tenant=tenant, name=name, but=None)
        user_ids = _member_user_ids(tenant=tenant, resource=resource)
        try:
            with transaction.atomic():
                team = Team.objects.create(
                    tenant=tenant, name=name, external_id=(resource.external_id or "")[:255]
                )
        except IntegrityError as exc:
            raise UniquenessException(detail=f"A team named {name!r} exists already.") from exc
        members = _team_members_set(team, user_ids)
        audit.record(
            tenant=tenant,
            action="team.provisioned",
            target_type="team",
            target_id=str(team.pk),
            target_label=name,
            changes={"name": [None, name], "members_added": members["added"]},
        )
    log.info("scim.team_created", tenant=tenant.slug, team=team.pk)
    return team


def scim_group_update(*, team: Team, resource: Group) -> Team:
    """Rename the team and make its members exactly the ones the Group lists."""
    tenant = team.tenant
    name = _team_name(resource)
    with transaction.atomic():
        locked = Team.objects.select_for_update().get(pk=team.pk)
        _team_name_free(tenant=tenant, name=name, but=locked)
        user_ids = _member_user_ids(tenant=tenant, resource=resource)
        changes: dict[str, object] = {}
        external_id = (resource.external_id or "")[:255]
        fields = []
        if name != locked.name:
            changes["name"] = [locked.name, name]
            locked.name = name
            fields.append("name")
        if external_id != locked.external_id:
            changes["external_id"] = [locked.external_id, external_id]
            locked.external_id = external_id
            fields.append("external_id")
        if fields:
            try:
                with transaction.atomic():
                    locked.save(update_fields=fields)
            except IntegrityError as exc:
                raise UniquenessException(detail=f"A team named {name!r} exists already.") from exc
        members = _team_members_set(locked, user_ids)
        if members["added"]:
            changes["members_added"] = members["added"]
        if members["removed"]:
            changes["members_removed"] = members["removed"]
        audit.record(
            tenant=tenant,
            action="team.updated",
            target_type="team",
            target_id=str(locked.pk),
            target_label=locked.name,
            changes=changes,
        )
    log.info("scim.team_updated", tenant=tenant.slug, team=locked.pk)
    return locked


def scim_group_delete(*, team: Team) -> None:
    tenant = team.tenant
    with transaction.atomic():
        team_id, name = team.pk, team.name
        team.delete()
        audit.record(
            tenant=tenant,
            action="team.deprovisioned",
            target_type="team",
            target_id=str(team_id),
            target_label=name,
            changes={"name": [name, None]},
        )
    log.info("scim.team_removed", tenant=tenant.slug, team=team_id)
