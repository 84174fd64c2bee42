"""Writing, verifying and purging an organization's audit log (`iam_org.AuditEvent`).

Rows are written with SQL naming the organization's schema, so a service that works in
`public` (memberships, invitations, tokens) logs into the right organization without moving
the connection, inside the same transaction as its change.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from django.db import connection, models, transaction
from django.db.models.fields.related import ForeignKey
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from pii.fields import EncryptedMixin, SealedJSONField
from tenants.models import Tenant

from .context import current_actor, current_request, request_id_of

log = structlog.get_logger(__name__)

CHANGED = "changed"  # what an encrypted value's change shows, never the value
GENESIS = ""  # the prev_hash of the first row of a chain with no anchor
VIA_VALUES = frozenset(
    {"session", "token", "service_token", "scim", "sso", "operator", "task", "system"}
)
# Two-key advisory lock: (this constant, tenant id) serializes the writers of one chain.
_CHAIN_LOCK = 0x617564  # "aud"
_EVENT_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_label",
    "via",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "changes",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
    "hash",
)
Target = tuple[str, Any, str]


class AuditTenantMissing(RuntimeError):
    """An audit row was asked for with no organization to write it in."""


# Diffs -------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """A value as the log keeps it: JSON types only (dates, decimals and ids as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


def _field(model: type[models.Model] | None, name: str) -> "models.Field[Any, Any] | None":
    if model is None:
        return None
    try:
        field = model._meta.get_field(name)
    except Exception:  # noqa: BLE001 - a key that names no field (a custom value, an alias)
        for candidate in model._meta.concrete_fields:
            if candidate.attname == name:
                return candidate
        return None
    return field if isinstance(field, models.Field) else None


def is_sensitive(model: type[models.Model] | None, name: str) -> bool:
    """Whether `name` of `model` is stored encrypted (an `pii` field), so its values never
    reach the log."""
    field = _field(model, name)
    return isinstance(field, EncryptedMixin | SealedJSONField)


def audit_snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The values of `fields` of `instance` now, to compare with `changes_between` later.
    Foreign keys are read by id, so nothing is fetched."""
    values: dict[str, Any] = {}
    for name in fields:
        field = _field(type(instance), name)
        attname = field.attname if isinstance(field, ForeignKey) else name
        values[name] = getattr(instance, attname, None)
    return values


def changes_between(
    before: Mapping[str, Any], after: Mapping[str, Any], *, model: type[models.Model] | None
) -> dict[str, Any]:
    """What changed from `before` to `after`, as field -> [before, after]; an encrypted
    field of `model` (and any value in its sealed custom values) as "changed". A dict of
    custom values is compared key by key (`custom.<key>`)."""
    changes: dict[str, Any] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        sensitive = is_sensitive(model, name)
        if (
            isinstance(old, Mapping | type(None))
            and isinstance(new, Mapping | type(None))
            and (isinstance(old, Mapping) or isinstance(new, Mapping))
        ):
            old_map, new_map = old or {}, new or {}
            prefix = "custom" if name.startswith("custom") else name
            for key in sorted(set(old_map) | set(new_map)):
                if old_map.get(key) != new_map.get(key):
                    changes[f"{prefix}.{key}"] = (
                        CHANGED
                        if sensitive
                        else [_jsonable(old_map.get(key)), _jsonable(new_map.get(key))]
                    )
            continue
        changes[name] = CHANGED if sensitive else [_jsonable(old), _jsonable(new)]
    return changes


def changes_of_new(
    instance: models.Model, fields: Iterable[str], *, skip_empty: bool = True
) -> dict[str, Any]:
    """The fields a new record was created with, as changes from nothing."""
    after = audit_snapshot(instance, fields)
    if skip_empty:
        after = {k: v for k, v in after.items() if v not in (None, "", [], {})}
    return changes_between({}, after, model=type(instance))


# Writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Who:
    actor_id: int | None
    actor_label: str
    via: str
    ip: str
    user_agent: str
    request_id: str


def _who(actor: Any, via: str | None) -> _Who:
    request = current_request()
    ip = user_agent = request_id = ""
    request_user: Any = None
    request_via = ""
    if request is not None:
        ip = str(request.META.get("REMOTE_ADDR", ""))[:45]
        user_agent = str(request.headers.get("User-Agent", ""))[:300]
        request_id = request_id_of(request)
        request_user = getattr(request, "user", None)
        principal = getattr(request, "principal", None) or getattr(
            request, "_authz_principal", None
        )
        credentials = getattr(request, "auth", None)
        request_via = str(
            getattr(request, "audit_via", "")
            or getattr(principal, "via", "")
            or getattr(credentials, "via", "")
            or ("token" if credentials is not None else "session")
        )
    named = current_actor()
    impersonation = getattr(request, "impersonation", None) if request is not None else None
    member_id = getattr(impersonation, "member_id", None)
    if (
        impersonation is not None
        and member_id is not None
        and getattr(actor or request_user, "pk", None) == member_id
    ):
        # An operator acting as a member (iam.impersonation): the member's account, named
        # with the operator, through "operator".
        label = f"{impersonation.operator_email} as {impersonation.member_email}"
        return _Who(member_id, label, "operator", ip, user_agent, request_id)
    if actor is None and named is not None:
        return _Who(named.user_id, named.label, via or named.via, ip, user_agent, request_id)
    if actor is None and request_user is not None and request_user.is_authenticated:
        actor = request_user
    # Who acts is the caller's to say; through what, an `acting_as` block's first.
    channel = via or (named.via if named is not None else "")
    if actor is not None:
        label = str(getattr(actor, "email", "") or "")
        chosen = channel or (request_via if request is not None else "task")
        return _Who(getattr(actor, "pk", None), label, chosen, ip, user_agent, request_id)
    chosen = channel or ("session" if request is not None else "system")
    return _Who(None, "", chosen, ip, user_agent, request_id)


def _target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return (
            target._meta.model_name or "",
            str(target.pk if target.pk is not None else ""),
            str(target)[:200],
        )
    kind, ident, label = target
    return str(kind)[:32], "" if ident is None else str(ident)[:64], str(label or "")[:200]


def event_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 of a row's content and the previous row's hash, over canonical JSON (sorted
    keys, no spaces, times in UTC), so the same row always hashes alike when read back."""
    occurred_at = row["occurred_at"]
    if isinstance(occurred_at, dt.datetime):
        occurred_at = occurred_at.astimezone(dt.UTC).isoformat()
    content = {name: row[name] for name in _EVENT_COLUMNS if name not in ("hash", "occurred_at")}
    content["occurred_at"] = occurred_at
    content["actor_id"] = None if row["actor_id"] is None else int(row["actor_id"])
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _schema_of(tenant: Tenant | None) -> tuple[Tenant, str]:
    if tenant is None:
        tenant = getattr(connection, "tenant", None)
    schema = getattr(tenant, "schema_name", None)
    if tenant is None or not schema or schema == get_public_schema_name():
        raise AuditTenantMissing("An audit row needs the organization it happened in.")
    return tenant, schema


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _chain_head(cur: Any, *, tenant_id: int, schema: str) -> tuple[int, str]:
    """The seq and hash the next row follows, with the organization's chain locked until
    this transaction ends.

    A transaction that wrote a row already holds the lock and knows the head, unless that
    row was rolled back to a savepoint since: each write leaves a no-op commit hook, which
    Django drops with the savepoint it was made in, so the head is trusted only while its
    hook is still there. A bulk change then costs one statement per row, not three.
    """
    head = getattr(connection, "_audit_heads", {}).get(tenant_id)
    if head is not None and connection.in_atomic_block:
        seq, row_hash, hook = head
        if any(entry[1] is hook for entry in connection.run_on_commit):
            return seq + 1, row_hash
    cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_CHAIN_LOCK, tenant_id])
    # The last row, or (everything purged) the anchor the purge left.
    cur.execute(
        f"""(SELECT seq, hash FROM {_q(schema)}.iam_org_auditevent ORDER BY seq DESC LIMIT 1)
        UNION ALL
        (SELECT seq, hash FROM {_q(schema)}.iam_org_auditanchor ORDER BY seq DESC LIMIT 1)
        ORDER BY seq DESC LIMIT 1"""  # noqa: S608 - schema quoted by _q
    )
    last = cur.fetchone()
    return (last[0] + 1, last[1]) if last else (1, GENESIS)


def _chain_head_remember(*, tenant_id: int, seq: int, row_hash: str) -> None:
    def hook() -> None:  # the marker; nothing to do at commit
        return None

    transaction.on_commit(hook)
    # On the connection of this thread (the `connection` proxy hands attributes to it).
    heads: dict[int, tuple[int, str, Any]] | None = getattr(connection, "_audit_heads", None)
    if heads is None:
        heads = {}
        connection._audit_heads = heads  # type: ignore[attr-defined]
    heads[tenant_id] = (seq, row_hash, hook)


def audit_record(
    *,
    action: str,
    target: Any = None,
    changes: Mapping[str, Any] | None = None,
    actor: Any = None,
    via: str | None = None,
    tenant: Tenant | None = None,
) -> int:
    """Append one row to the organization's audit log and return its seq.

    Call it inside the transaction of the change it records: the row commits or rolls back
    with it. `target` is a model instance or (type, id, label); `changes` maps field to
    [before, after] (see `changes_between`). Who acted, through what, and from where come
    from the request being served unless `actor` / `via` say otherwise; outside a request
    a user acts through a task and nobody means the system. `tenant` defaults to the
    connection's organization; a service working in `public` passes it.
    """
    tenant, schema = _schema_of(tenant)
    who = _who(actor, via)
    if who.via not in VIA_VALUES:
        raise ValueError(f"Unknown audit channel {who.via!r}.")
    target_type, target_id, target_label = _target(target)
    # The row as it will read back: JSON types only, times to the microsecond.
    clean_changes = json.loads(json.dumps(_jsonable(dict(changes or {}))))
    table = f"{_q(schema)}.iam_org_auditevent"
    # No savepoint of its own: a failure here fails the caller's change, which is the point.
    with transaction.atomic(savepoint=False), connection.cursor() as cur:
        seq, prev_hash = _chain_head(cur, tenant_id=tenant.pk, schema=schema)
        row: dict[str, Any] = {
            "seq": seq,
            "occurred_at": timezone.now(),
            "actor_id": who.actor_id,
            "actor_label": who.actor_label[:254],
            "via": who.via,
            "action": action[:64],
            "target_type": target_type,
            "target_id": target_id,
            "target_label": target_label,
            "changes": clean_changes,
            "ip": who.ip,
            "user_agent": who.user_agent,
            "request_id": who.request_id[:64],
            "prev_hash": prev_hash,
        }
        row["hash"] = event_hash(row)
        values = [json.dumps(row[c]) if c == "changes" else row[c] for c in _EVENT_COLUMNS]
        placeholders = ", ".join("%s::jsonb" if c == "changes" else "%s" for c in _EVENT_COLUMNS)
        cur.execute(
            f"INSERT INTO {table} ({', '.join(_EVENT_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
            values,
        )
        _chain_head_remember(tenant_id=tenant.pk, seq=seq, row_hash=row["hash"])
    log.info("audit.recorded", tenant=tenant.slug, seq=seq, action=action)
    return seq


# Verifying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """What `chain_verify` found: how many rows hold, and the first broken one, if any."""

    count: int
    broken_seq: int | None = None
    problem: str = ""

    @property
    def holds(self) -> bool:
        return self.broken_seq is None


def chain_verify(*, tenant: Tenant) -> ChainReport:
    """Walk the organization's chain from its anchor (or its start) and report the first row
    that was removed (a gap in seq, or a first row that does not follow the anchor) or
    edited (its hash does not match its content, or its link does not match the row
    before)."""
    from iam.org.models import AuditAnchor, AuditEvent

    with schema_context(tenant.schema_name):
        anchor = AuditAnchor.objects.order_by("-seq").first()
        expected_seq, expected_prev = (anchor.seq + 1, anchor.hash) if anchor else (1, GENESIS)
        count = 0
        rows = AuditEvent.objects.order_by("seq").values(*_EVENT_COLUMNS)
        for row in rows.iterator(chunk_size=2000):
            if row["seq"] != expected_seq:
                return ChainReport(
                    count,
                    expected_seq,
                    f"row #{expected_seq} was removed (the next row is #{row['seq']})",
                )
            if event_hash(row) != row["hash"]:
                return ChainReport(count, row["seq"], f"row #{row['seq']} was edited")
            if row["prev_hash"] != expected_prev:
                return ChainReport(
                    count,
                    row["seq"],
                    f"row #{row['seq']} does not follow row #{row['seq'] - 1}: "
                    f"row #{row['seq'] - 1} was edited",
                )
            count += 1
            expected_seq, expected_prev = row["seq"] + 1, row["hash"]
    return ChainReport(count)


# Retention ---------------------------------------------------------------------------------

DEFAULT_RETENTION_DAYS = 365 * 2


def retention_days(*, tenant: Tenant) -> int:
    """How long the organization keeps its audit log (SecuritySettings; defaults if none)."""
    from iam.models import SecuritySettings

    found = (
        SecuritySettings.objects.filter(tenant=tenant)
        .values_list("audit_retention_days", flat=True)
        .first()
    )
    return int(found) if found else DEFAULT_RETENTION_DAYS


def audit_purge(*, tenant: Tenant, now: dt.datetime | None = None) -> int:
    """Delete the rows older than the organization's retention, oldest first, and move the
    chain's anchor to the last one deleted, so the rest still verifies. Returns how many."""
    from iam.org.models import AuditAnchor, AuditEvent

    cutoff = (now or timezone.now()) - dt.timedelta(days=retention_days(tenant=tenant))
    with schema_context(tenant.schema_name), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_CHAIN_LOCK, tenant.pk])
            # The guard trigger lets this transaction (and only it) delete and move the anchor.
            cur.execute("SET LOCAL mycrm.audit_purge = 'on'")
        # Rows are cut at the first one that is recent enough, so the chain stays one piece.
        keep_from = (
            AuditEvent.objects.filter(occurred_at__gte=cutoff)
            .order_by("seq")
            .values_list("seq", flat=True)
            .first()
        )
        doomed = AuditEvent.objects.all()
        if keep_from is not None:
            doomed = doomed.filter(seq__lt=keep_from)
        last = doomed.order_by("-seq").values("seq", "hash").first()
        if last is None:
            return 0
        deleted, _ = doomed.delete()
        AuditAnchor.objects.all().delete()
        AuditAnchor.objects.create(seq=last["seq"], hash=last["hash"], purged_at=timezone.now())
    log.info("audit.purged", tenant=tenant.slug, deleted=deleted, anchor=last["seq"])
    return deleted


def audit_retention_set(*, tenant: Tenant, by: Any, days: int) -> int:
    """Change how many days the organization keeps its audit log (30 to 3650), logged."""
    from iam.models import SecuritySettings
    from problems.exceptions import InvalidFields

    if not isinstance(days, int) or isinstance(days, bool) or not 30 <= days <= 3650:
        raise InvalidFields({"audit_retention_days": ["Enter a number of days from 30 to 3650."]})
    with transaction.atomic():
        settings_row, _ = SecuritySettings.objects.select_for_update().get_or_create(tenant=tenant)
        before = settings_row.audit_retention_days
        if before != days:
            settings_row.audit_retention_days = days
            settings_row.save(update_fields=["audit_retention_days", "updated_at"])
            audit_record(
                action="security.audit_retention_changed",
                target=("organization", tenant.pk, tenant.name),
                changes={"audit_retention_days": [before, days]},
                actor=by,
                tenant=tenant,
            )
    return days
