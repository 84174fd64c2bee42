"""Every write of single sign-on: domains and their verification, connections, the
"SSO required" switch, and signing a person in from what an identity provider vouched."""

import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from iam.audit.services import audit_record
from iam.exceptions import EmailInvalid, EmailTaken
from iam.models import CustomRole, Membership, Role, SecuritySettings, Team, TeamMember, User
from iam.services import membership_create
from pii.crypto import decrypt, encrypt
from problems.exceptions import InvalidFields
from tenants.models import Tenant

from . import dns, keys
from .exceptions import (
    ConnectionInvalid,
    ConnectionNotTested,
    DomainInvalid,
    DomainNotVerified,
    DomainTaken,
    SsoFailed,
    SsoNotAllowed,
)
from .models import SamlAssertionSeen, SsoConnection, SsoDomain, SsoGrant

if TYPE_CHECKING:
    from .saml import SpSettings

log = structlog.get_logger(__name__)

_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_SECRET_FIELD = "sso.oidc_client_secret"  # noqa: S105 - a field name bound into the ciphertext
# Built-in roles single sign-on may give, strongest first: when a person's groups map to
# several, the strongest wins. Owner is never given by an identity provider.
SSO_ROLES = (Role.ADMIN, Role.MANAGER, Role.MEMBER, Role.BILLING, Role.READ_ONLY)


# Domains ---------------------------------------------------------------------------------


def domain_claim(*, tenant: Tenant, domain: str) -> SsoDomain:
    """Claim an e-mail domain for the organization; it counts once verified in DNS."""
    name = domain.strip().lower().rstrip(".")
    if name.startswith("@"):
        name = name[1:]
    if not _DOMAIN.fullmatch(name):
        raise DomainInvalid(field="domain")
    if SsoDomain.objects.filter(domain__iexact=name, verified_at__isnull=False).exclude(
        tenant=tenant
    ):
        raise DomainTaken(field="domain")
    try:
        with transaction.atomic():
            claimed = SsoDomain.objects.create(
                tenant=tenant, domain=name, token=secrets.token_urlsafe(24)
            )
            audit_record(action="sso.domain_claimed", target=claimed, tenant=tenant)
    except IntegrityError:
        raise DomainInvalid(
            "This organization claims this domain already.", field="domain"
        ) from None
    log.info("sso.domain_claimed", tenant=tenant.slug, domain=name)
    return claimed


def domain_verify(*, domain: SsoDomain) -> SsoDomain:
    """Look the domain's TXT record up; mark it verified when it carries our token.

    Raises DomainNotVerified (with what DNS answered) or DomainTaken when another
    organization verified it first."""
    name = dns.record_name(domain.domain)
    values, problem = dns.txt_values(name)
    now = timezone.now()
    expected = dns.record_value(domain.token)
    found = any(secrets.compare_digest(value.strip(), expected) for value in values)
    if not found:
        result = problem or f"{name} has no TXT record with the value {expected}."
        SsoDomain.objects.filter(pk=domain.pk).update(checked_at=now, check_result=result)
        log.info("sso.domain_not_verified", tenant=domain.tenant_id, domain=domain.domain)
        raise DomainNotVerified(result)
    try:
        with transaction.atomic():
            domain.verified_at = domain.verified_at or now
            domain.checked_at = now
            domain.check_result = "Verified."
            domain.save(update_fields=["verified_at", "checked_at", "check_result"])
            audit_record(action="sso.domain_verified", target=domain, tenant=domain.tenant)
    except IntegrityError:
        raise DomainTaken() from None
    log.info("sso.domain_verified", tenant=domain.tenant_id, domain=domain.domain)
    return domain


def domain_delete(*, domain: SsoDomain) -> None:
    with transaction.atomic():
        audit_record(action="sso.domain_removed", target=domain, tenant=domain.tenant)
        domain.delete()
    log.info("sso.domain_deleted", tenant=domain.tenant_id, domain=domain.domain)


def domain_is_verified(*, tenant: Tenant, email: str) -> bool:
    """Whether the address's domain is one this organization verified."""
    _, _, domain = email.strip().lower().rpartition("@")
    return (
        bool(domain)
        and SsoDomain.objects.filter(
            tenant=tenant, domain__iexact=domain, verified_at__isnull=False
        ).exists()
    )


# Connections -----------------------------------------------------------------------------


@dataclass
class GroupMapping:
    group: str
    role: str = ""
    custom_role: int | None = None
    team: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "role": self.role,
            "custom_role": self.custom_role,
            "team": self.team,
        }


def group_mappings_parse(*, tenant: Tenant, text: str) -> list[dict[str, Any]]:
    """Read mapping lines `group = role[, team]`: the role is a built-in key (not owner) or
    a custom role's name, the team a team's name. InvalidFields names the bad line."""
    custom = {r.name.lower(): r.pk for r in CustomRole.objects.filter(tenant=tenant)}
    teams = {t.name.lower(): t.pk for t in Team.objects.filter(tenant=tenant)}
    mappings = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        group, sep, rest = line.partition("=")
        group = group.strip()
        if not sep or not group:
            raise InvalidFields({"group_mappings": [f"Line {number}: write group = role."]})
        role_text, _, team_text = (part.strip() for part in rest.partition(","))
        mapping = GroupMapping(group=group)
        if role_text in SSO_ROLES:
            mapping.role = role_text
        elif role_text.lower() in custom:
            mapping.custom_role = custom[role_text.lower()]
        elif role_text:
            raise InvalidFields(
                {
                    "group_mappings": [
                        f"Line {number}: {role_text!r} is neither a role "
                        f"({', '.join(SSO_ROLES)}) nor a custom role of this organization."
                    ]
                }
            )
        if team_text:
            if team_text.lower() not in teams:
                raise InvalidFields(
                    {"group_mappings": [f"Line {number}: no team is named {team_text!r}."]}
                )
            mapping.team = teams[team_text.lower()]
        mappings.append(mapping.as_json())
    return mappings


def group_mappings_text(*, connection: SsoConnection) -> str:
    """The mapping lines of a connection, as `group_mappings_parse` reads them."""
    custom = {r.pk: r.name for r in CustomRole.objects.filter(tenant_id=connection.tenant_id)}
    teams = {t.pk: t.name for t in Team.objects.filter(tenant_id=connection.tenant_id)}
    lines = []
    for mapping in connection.group_mappings:
        role = mapping.get("role") or custom.get(mapping.get("custom_role") or 0, "")
        team = teams.get(mapping.get("team") or 0)
        lines.append(f"{mapping['group']} = {role}" + (f", {team}" if team else ""))
    return "\n".join(lines)


def _default_role_check(role: str, custom_role: CustomRole | None, tenant: Tenant) -> None:
    if role not in SSO_ROLES:
        raise InvalidFields({"default_role": ["New members can't be owners."]})
    if custom_role is not None and custom_role.tenant_id != tenant.pk:
        raise InvalidFields({"default_custom_role": ["Choose a role of this organization."]})


def connection_save(
    *,
    tenant: Tenant,
    connection: SsoConnection | None = None,
    name: str,
    protocol: str,
    oidc_issuer: str = "",
    oidc_metadata: dict[str, Any] | None = None,
    oidc_client_id: str = "",
    oidc_client_secret: str = "",
    saml_metadata_url: str = "",
    saml_metadata_xml: str = "",
    saml_sign_requests: bool | None = None,
    jit_enabled: bool = True,
    default_role: str = Role.MEMBER,
    default_custom_role: CustomRole | None = None,
    group_mappings: list[dict[str, Any]] | None = None,
) -> SsoConnection:
    """Create or change a connection. The provider's metadata is read now, so a wrong URL
    or document is a field error; a change of how the provider is reached takes the
    connection's test (and with it its being switched on) away."""
    from . import oidc, saml

    _default_role_check(default_role, default_custom_role, tenant)
    if protocol not in SsoConnection.Protocol.values:
        raise InvalidFields({"protocol": ["Choose OpenID Connect or SAML 2.0."]})
    conn = connection or SsoConnection(tenant=tenant, protocol=protocol)
    if conn.pk and conn.tenant_id != tenant.pk:
        raise SsoNotAllowed()
    before = (
        conn.oidc_metadata,
        conn.oidc_client_id,
        conn.oidc_client_secret,
        conn.saml_metadata_xml,
    )
    conn.name = name.strip()[:100] or "Single sign-on"
    conn.protocol = protocol
    if protocol == SsoConnection.Protocol.OIDC:
        if oidc_metadata:
            conn.oidc_metadata = oidc.metadata_check(oidc_metadata)
            conn.oidc_issuer = ""
        elif oidc_issuer:
            conn.oidc_metadata = oidc.discovery_fetch(oidc_issuer)
            conn.oidc_issuer = oidc_issuer.strip()
        elif not conn.oidc_metadata:
            raise InvalidFields(
                {"oidc_issuer": ["Give the issuer's URL or paste its discovery document."]}
            )
        if not oidc_client_id.strip():
            raise InvalidFields({"oidc_client_id": ["The client id is required."]})
        conn.oidc_client_id = oidc_client_id.strip()
        if oidc_client_secret:
            conn.oidc_client_secret = encrypt(
                tenant_id=tenant.pk, field=_SECRET_FIELD, value=oidc_client_secret
            )
    else:
        if saml_metadata_xml:
            conn.saml_metadata_xml = saml_metadata_xml
            conn.saml_metadata_url = ""
        elif saml_metadata_url:
            conn.saml_metadata_xml = saml.metadata_fetch(saml_metadata_url)
            conn.saml_metadata_url = saml_metadata_url.strip()
            conn.saml_metadata_refreshed_at = timezone.now()
            conn.saml_metadata_error, conn.saml_metadata_error_at = "", None
        elif not conn.saml_metadata_xml:
            raise InvalidFields(
                {"saml_metadata_url": ["Give the metadata's URL or upload its file."]}
            )
        saml.idp_entity_id(conn.saml_metadata_xml)
        if not conn.saml_sp_private_key:
            # A new connection (or one made before connections had keys) gets its key pair,
            # and signs its requests when the identity provider asks for signed ones.
            _sp_keypair_set(conn, tenant=tenant)
            conn.saml_sign_requests = saml.idp_wants_signed_requests(conn.saml_metadata_xml)
        if saml_sign_requests is not None:
            conn.saml_sign_requests = saml_sign_requests
    conn.jit_enabled = jit_enabled
    conn.default_role = default_role
    conn.default_custom_role = default_custom_role
    conn.group_mappings = group_mappings or []
    after = (
        conn.oidc_metadata,
        conn.oidc_client_id,
        conn.oidc_client_secret,
        conn.saml_metadata_xml,
    )
    if conn.pk and before != after:
        conn.tested_at = None
        conn.is_enabled = False
    created = conn.pk is None
    try:
        with transaction.atomic():
            conn.save()
            audit_record(
                action="sso.connection_created" if created else "sso.connection_changed",
                target=conn,
                tenant=tenant,
                # The secret is never written out, only that it changed.
                changes={"oidc_client_secret": ["changed", "changed"]}
                if before[2] != after[2]
                else None,
            )
    except IntegrityError:
        raise InvalidFields({"name": ["Another connection has this name."]}) from None
    log.info("sso.connection_saved", tenant=tenant.slug, connection=conn.pk)
    return conn


def connection_client_secret(*, connection: SsoConnection) -> str:
    if not connection.oidc_client_secret:
        return ""
    return decrypt(
        tenant_id=connection.tenant_id, field=_SECRET_FIELD, token=connection.oidc_client_secret
    )


def connection_mark_tested(*, connection: SsoConnection) -> SsoConnection:
    connection.tested_at = timezone.now()
    with transaction.atomic():
        connection.save(update_fields=["tested_at", "updated_at"])
        audit_record(action="sso.connection_tested", target=connection, tenant=connection.tenant)
    log.info("sso.connection_tested", tenant=connection.tenant_id, connection=connection.pk)
    return connection


def connection_enable(*, connection: SsoConnection, enabled: bool) -> SsoConnection:
    """Switch a connection on (only once a test sign-in went through) or off."""
    if enabled and connection.tested_at is None:
        raise ConnectionNotTested()
    with transaction.atomic():
        before = connection.is_enabled
        connection.is_enabled = enabled
        connection.save(update_fields=["is_enabled", "updated_at"])
        audit_record(
            action="sso.connection_enabled" if enabled else "sso.connection_disabled",
            target=connection,
            tenant=connection.tenant,
            changes={"is_enabled": [before, enabled]},
        )
    log.info(
        "sso.connection_enabled" if enabled else "sso.connection_disabled",
        tenant=connection.tenant_id,
        connection=connection.pk,
    )
    return connection


def connection_delete(*, connection: SsoConnection) -> None:
    with transaction.atomic():
        audit_record(action="sso.connection_removed", target=connection, tenant=connection.tenant)
        connection.delete()
    log.info("sso.connection_deleted", tenant=connection.tenant_id, connection=connection.pk)


# SAML: our key pair, signed requests, the identity provider's metadata ----------------------


def _sp_keypair_set(conn: SsoConnection, *, tenant: Tenant) -> None:
    pair = keys.keypair_generate(common_name=f"{tenant.slug} SAML SP {conn.name}")
    conn.saml_sp_certificate = pair.cert_pem
    conn.saml_sp_private_key = keys.key_seal(tenant_id=tenant.pk, key_pem=pair.key_pem)


def _saml_connection(connection: SsoConnection) -> None:
    if connection.protocol != SsoConnection.Protocol.SAML:
        raise ConnectionInvalid("This is not a SAML connection.")


def connection_sp_settings(
    *, tenant: Tenant, connection_id: int, private_keys: bool = True
) -> "SpSettings":
    """The SP side of a SAML connection of `tenant`: its key pairs, unsealed (the current
    one, then the one kept from before the last rotation) and whether it signs requests.
    Without `private_keys` only the certificates are given (enough for our metadata, which
    anyone may read, so nothing is unsealed for it). A connection of another organization
    has nothing to give."""
    from .saml import SpSettings

    conn = SsoConnection.objects.filter(
        pk=connection_id, tenant=tenant, protocol=SsoConnection.Protocol.SAML
    ).first()
    if conn is None:
        return SpSettings()
    pairs = [
        keys.KeyPair(
            key_pem=keys.key_open(tenant_id=tenant.pk, sealed=sealed) if private_keys else "",
            cert_pem=certificate,
        )
        for sealed, certificate in (
            (conn.saml_sp_private_key, conn.saml_sp_certificate),
            (conn.saml_sp_previous_private_key, conn.saml_sp_previous_certificate),
        )
        if sealed and certificate
    ]
    return SpSettings(keys=pairs, sign_requests=conn.saml_sign_requests and bool(pairs))


def connection_sp_key_rotate(*, connection: SsoConnection) -> SsoConnection:
    """Give the connection a new key pair. Requests are signed with the new key at once
    (the identity provider needs our new metadata); the previous pair still decrypts
    assertions encrypted to it until the next rotation."""
    _saml_connection(connection)
    tenant = connection.tenant
    with transaction.atomic():
        conn = SsoConnection.objects.select_for_update().get(pk=connection.pk, tenant=tenant)
        before = keys.fingerprint(conn.saml_sp_certificate) if conn.saml_sp_certificate else None
        conn.saml_sp_previous_certificate = conn.saml_sp_certificate
        conn.saml_sp_previous_private_key = conn.saml_sp_private_key
        _sp_keypair_set(conn, tenant=tenant)
        conn.save(
            update_fields=[
                "saml_sp_certificate",
                "saml_sp_private_key",
                "saml_sp_previous_certificate",
                "saml_sp_previous_private_key",
                "updated_at",
            ]
        )
        audit_record(
            action="sso.sp_key_rotated",
            target=conn,
            tenant=tenant,
            changes={
                "saml_sp_certificate": [before, keys.fingerprint(conn.saml_sp_certificate)],
                "saml_sp_private_key": "changed",
            },
        )
    log.info("sso.sp_key_rotated", tenant=tenant.slug, connection=conn.pk)
    return conn


def connection_sign_requests_set(*, connection: SsoConnection, enabled: bool) -> SsoConnection:
    """Sign the connection's AuthnRequests with its key, or stop signing them."""
    _saml_connection(connection)
    tenant = connection.tenant
    with transaction.atomic():
        conn = SsoConnection.objects.select_for_update().get(pk=connection.pk, tenant=tenant)
        before = conn.saml_sign_requests
        fields = ["saml_sign_requests", "updated_at"]
        if enabled and not conn.saml_sp_private_key:
            _sp_keypair_set(conn, tenant=tenant)
            fields += ["saml_sp_certificate", "saml_sp_private_key"]
        conn.saml_sign_requests = enabled
        conn.save(update_fields=fields)
        audit_record(
            action="sso.connection_changed",
            target=conn,
            tenant=tenant,
            changes={"saml_sign_requests": [before, enabled]},
        )
    log.info("sso.sign_requests_set", tenant=tenant.slug, connection=conn.pk, enabled=enabled)
    return conn


@dataclass(frozen=True)
class MetadataRefreshed:
    connection: SsoConnection
    changed: bool
    certificates_changed: bool


def connection_metadata_refresh(
    *, connection: SsoConnection, via: str | None = None
) -> MetadataRefreshed:
    """Fetch a SAML connection's metadata from its URL again and keep it when it is valid
    (the same identity provider, with a signing certificate). A new signing certificate
    (the provider rotated it) is written to the audit log; from then on only assertions it
    signs are accepted. When the fetch or the check fails the stored metadata stays, and
    the error and its time are kept on the connection for its page; ConnectionInvalid."""
    from . import saml

    _saml_connection(connection)
    if not connection.saml_metadata_url:
        raise ConnectionInvalid("This connection's metadata was uploaded; there is no URL.")
    now = timezone.now()
    try:
        xml = saml.metadata_fetch(connection.saml_metadata_url)
        entity_id = saml.idp_entity_id(xml)
        known = saml.idp_entity_id(connection.saml_metadata_xml)
        if entity_id != known:
            raise ConnectionInvalid(
                f"The metadata now describes another identity provider ({entity_id}, not "
                f"{known}); save the connection again to accept it."
            )
        certificates = saml.idp_signing_certificates(xml)
        if not certificates:
            raise ConnectionInvalid("The metadata names no signing certificate.")
    except ConnectionInvalid as exc:
        SsoConnection.objects.filter(pk=connection.pk, tenant_id=connection.tenant_id).update(
            saml_metadata_error=exc.detail[:300], saml_metadata_error_at=now
        )
        log.warning(
            "sso.saml.metadata_refresh_failed",
            tenant=connection.tenant_id,
            connection=connection.pk,
            error=exc.detail,
        )
        raise
    tenant = connection.tenant
    with transaction.atomic():
        conn = SsoConnection.objects.select_for_update().get(pk=connection.pk, tenant=tenant)
        before = saml.idp_signing_certificates(conn.saml_metadata_xml)
        changed = conn.saml_metadata_xml != xml
        fields = ["saml_metadata_refreshed_at", "saml_metadata_error", "saml_metadata_error_at"]
        conn.saml_metadata_refreshed_at, conn.saml_metadata_error = now, ""
        conn.saml_metadata_error_at = None
        changes: dict[str, Any] = {}
        if changed:
            conn.saml_metadata_xml = xml
            fields += ["saml_metadata_xml", "updated_at"]
            if before != certificates:
                changes["idp_signing_certificates"] = [
                    [keys.fingerprint(c) for c in before],
                    [keys.fingerprint(c) for c in certificates],
                ]
            if saml.idp_wants_signed_requests(xml) and not conn.saml_sign_requests:
                # The provider now asks for signed requests: sign them, or it refuses us.
                conn.saml_sign_requests = True
                fields.append("saml_sign_requests")
                changes["saml_sign_requests"] = [False, True]
        conn.save(update_fields=fields)
        if changes:
            audit_record(
                action="sso.idp_certificate_changed"
                if "idp_signing_certificates" in changes
                else "sso.connection_changed",
                target=conn,
                tenant=tenant,
                via=via,
                changes=changes,
            )
    log.info(
        "sso.saml.metadata_refreshed",
        tenant=tenant.slug,
        connection=conn.pk,
        changed=changed,
        certificates_changed="idp_signing_certificates" in changes,
    )
    return MetadataRefreshed(
        connection=conn,
        changed=changed,
        certificates_changed="idp_signing_certificates" in changes,
    )


def saml_metadata_refresh_all() -> dict[str, int]:
    """Refresh every SAML connection configured from a metadata URL (the periodic task);
    one failing provider does not stop the others."""
    counts = {"refreshed": 0, "failed": 0}
    connections = SsoConnection.objects.filter(
        protocol=SsoConnection.Protocol.SAML, tenant__status=Tenant.Status.ACTIVE
    ).exclude(saml_metadata_url="")
    for connection in connections.select_related("tenant").order_by("pk"):
        try:
            connection_metadata_refresh(connection=connection, via="task")
        except ConnectionInvalid:
            counts["failed"] += 1
        else:
            counts["refreshed"] += 1
    return counts


def sso_required_set(*, tenant: Tenant, required: bool) -> SecuritySettings:
    """Make single sign-on the only way in for members (owners keep their password as a
    way back in when the identity provider fails); needs a connection switched on."""
    if required and not SsoConnection.objects.filter(tenant=tenant, is_enabled=True).exists():
        raise ConnectionInvalid("Switch a connection on before requiring single sign-on.")
    with transaction.atomic():
        before = sso_required(tenant=tenant)
        settings_row, _ = SecuritySettings.objects.update_or_create(
            tenant=tenant, defaults={"sso_required": required}
        )
        audit_record(
            action="sso.required_changed",
            target=("securitysettings", settings_row.pk, "security settings"),
            tenant=tenant,
            changes={"sso_required": [before, required]},
        )
    log.info("sso.required_changed", tenant=tenant.slug, required=required)
    return settings_row


def sso_required(*, tenant: Tenant) -> bool:
    return SecuritySettings.objects.filter(tenant=tenant, sso_required=True).exists()


def password_sign_in_allowed(*, user: User, tenant: Tenant) -> bool:
    """Whether `user` may sign in to `tenant` with a password: yes unless the organization
    requires single sign-on, and even then for owners (the way back in)."""
    if not sso_required(tenant=tenant):
        return True
    return Membership.objects.filter(user=user, tenant=tenant, role=Role.OWNER).exists()


# Signing in ------------------------------------------------------------------------------


def user_create_external(*, email: str, full_name: str = "") -> User:
    """Create a user whom the organization's identity provider vouches for (just in time):
    no password of ours (they sign in through the provider, or set one by a reset), and the
    address confirmed, since the organization verified its domain."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise EmailInvalid(field="email") from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=None, full_name=full_name)
            EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    except IntegrityError as exc:
        raise EmailTaken(field="email") from exc
    log.info("user.created", user=user.pk, via="sso")
    return user


@dataclass(frozen=True)
class Identity:
    """What an identity provider vouched for, in protocol-neutral terms."""

    subject: str
    email: str
    full_name: str = ""
    groups: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


def assertion_use(*, assertion_id: str, expires_at: Any) -> None:
    """Record a SAML assertion as used; SsoFailed if it was used before (a replay)."""
    SamlAssertionSeen.objects.filter(expires_at__lt=timezone.now()).delete()
    try:
        with transaction.atomic():
            SamlAssertionSeen.objects.create(assertion_id=assertion_id, expires_at=expires_at)
    except IntegrityError:
        log.warning("sso.saml.replayed", assertion=assertion_id)
        raise SsoFailed("This SAML assertion was used already.") from None


def sso_sign_in_failed(
    *, tenant: Tenant, connection: SsoConnection | None, reason: str, email: str = ""
) -> None:
    """Record a refused sign-in in the organization's audit log, in its own transaction
    (the sign-in's own, if any, is being rolled back)."""
    with transaction.atomic():
        audit_record(
            action="sso.sign_in_failed",
            target=connection,
            via="sso",
            tenant=tenant,
            changes={"reason": [None, reason[:300]], "email": [None, email[:254]]},
        )


def sso_sign_in(*, connection: SsoConnection, identity: Identity) -> Membership:
    """The membership of the connection's organization that `identity` signs in with.

    The person is found by e-mail only when the address's domain is verified by this
    organization; a new person is made a member (default role) only when the connection
    creates members just in time. Group mappings are applied each time: what single
    sign-on granted before and the groups no longer give is taken back."""
    tenant = connection.tenant
    email = identity.email.strip().lower()
    if not email or "@" not in email:
        raise SsoNotAllowed("The identity provider sent no e-mail address.")
    if not domain_is_verified(tenant=tenant, email=email):
        raise SsoNotAllowed(
            f"{email} is not in a domain {tenant.name} has verified, so it can't be used "
            "to sign in here."
        )
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is not None and not user.is_active:
            raise SsoNotAllowed("This account is switched off.")
        membership = (
            Membership.objects.select_for_update().filter(user=user, tenant=tenant).first()
            if user is not None
            else None
        )
        if membership is not None and membership.deactivated_at is not None:
            raise SsoNotAllowed("Your membership of this organization is switched off.")
        if membership is None:
            if not connection.jit_enabled:
                raise SsoNotAllowed(
                    f"You are not a member of {tenant.name} yet; ask one of its admins."
                )
            if user is None:
                user = user_create_external(email=email, full_name=identity.full_name)
            membership = membership_create(user=user, tenant=tenant, role=connection.default_role)
            if connection.default_custom_role_id:
                membership.custom_roles.add(connection.default_custom_role_id)
            audit_record(
                action="sso.member_created",
                # Named as the membership services name a member: id and e-mail.
                target=("member", user.pk, user.email),
                actor=user,
                via="sso",
                tenant=tenant,
                changes={"role": [None, membership.role]},
            )
            log.info("sso.member_created", tenant=tenant.slug, user=user.pk)
        if user is None:  # a membership was found through its user: unreachable
            raise SsoFailed()
        _groups_apply(connection=connection, membership=membership, groups=identity.groups)
        audit_record(
            action="sso.signed_in",
            target=connection,
            actor=user,
            via="sso",
            tenant=tenant,
            changes={"email": [None, email]},
        )
    log.info("sso.signed_in", tenant=tenant.slug, user=user.pk, connection=connection.pk)
    return membership


def _groups_apply(
    *, connection: SsoConnection, membership: Membership, groups: tuple[str, ...]
) -> None:
    wanted = {g.lower() for g in groups}
    matched = [m for m in connection.group_mappings if str(m.get("group", "")).lower() in wanted]
    roles = {m["role"] for m in matched if m.get("role") in SSO_ROLES}
    role = next((r for r in SSO_ROLES if r in roles), "")
    custom_ids = sorted({int(m["custom_role"]) for m in matched if m.get("custom_role")})
    team_ids = sorted({int(m["team"]) for m in matched if m.get("team")})
    grant, _ = SsoGrant.objects.get_or_create(tenant=membership.tenant, user=membership.user)
    tenant_id = membership.tenant_id
    valid_custom = set(
        CustomRole.objects.filter(tenant_id=tenant_id, pk__in=custom_ids).values_list(
            "pk", flat=True
        )
    )
    valid_teams = set(
        Team.objects.filter(tenant_id=tenant_id, pk__in=team_ids).values_list("pk", flat=True)
    )
    # Built-in role: an owner stays an owner; otherwise the groups' strongest role, or back
    # to the default when single sign-on gave the current one and the groups give none.
    if membership.role != Role.OWNER:
        if role and membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        elif not role and grant.role and membership.role == grant.role:
            membership.role = connection.default_role
            membership.save(update_fields=["role"])
    taken_back = set(grant.custom_role_ids) - valid_custom
    if taken_back:
        membership.custom_roles.remove(*taken_back)
    if valid_custom:
        membership.custom_roles.add(*valid_custom)
    teams_left = set(grant.team_ids) - valid_teams
    if teams_left:
        TeamMember.objects.filter(team_id__in=teams_left, user=membership.user).delete()
    for team_id in valid_teams:
        TeamMember.objects.get_or_create(team_id=team_id, user=membership.user)
    grant.role = role
    grant.custom_role_ids = sorted(valid_custom)
    grant.team_ids = sorted(valid_teams)
    grant.save(update_fields=["role", "custom_role_ids", "team_ids", "updated_at"])
