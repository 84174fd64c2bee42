"""Writes of PII protection: key rotation, rewrapping, and (re-)sealing stored values."""

import re
import time
from collections.abc import Iterator

import structlog
from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django_tenants.utils import get_public_schema_name

from tenants.models import Tenant

from . import keys, vault
from .fields import FORMAT_PREFIX, EncryptedMixin, SealedJSONField
from .models import TenantKey

log = structlog.get_logger(__name__)

# A column holding one ciphertext, or a JSON object of ciphertexts (SealedJSONField).
EncryptedField = EncryptedMixin | SealedJSONField


def encrypted_models() -> list[tuple[type[models.Model], list[EncryptedField]]]:
    """Every model with encrypted fields, with those fields."""
    found: list[tuple[type[models.Model], list[EncryptedField]]] = []
    for model in apps.get_models():
        fields: list[EncryptedField] = []
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedMixin | SealedJSONField):
                fields.append(field)
        if fields:
            found.append((model, fields))
    return found


def _stale_condition(field: EncryptedField) -> str:
    """SQL true for a row holding a value of `field` that does not start with the one
    parameter (the current key's prefix), or whose words are not indexed yet."""
    column = connection.ops.quote_name(field.column)
    if isinstance(field, SealedJSONField):
        return f"EXISTS (SELECT 1 FROM jsonb_each_text({column}) v WHERE v.value NOT LIKE %s)"  # noqa: S608
    if field.word_index:
        sibling = field.model._meta.get_field(field.word_index)
        words = connection.ops.quote_name(getattr(sibling, "column", field.word_index))
        return f"({column} <> '' AND ({column} NOT LIKE %s OR {words} IS NULL))"
    return f"({column} <> '' AND {column} NOT LIKE %s)"


def _stale_pks(
    model: type[models.Model], fields: list[EncryptedField], current: str, batch_size: int
) -> list[int]:
    """Rows holding any value that is not sealed with the `current` key prefix."""
    where = " OR ".join(_stale_condition(f) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT id FROM {table} WHERE {where} ORDER BY id LIMIT %s",  # noqa: S608
            [f"{current}%"] * len(fields) + [batch_size],
        )
        return [row[0] for row in cur.fetchall()]


def values_reseal(*, batch_size: int = 500) -> Iterator[tuple[str, int]]:
    """Bring every encrypted value of the current tenant under its current data key.

    Values still in plaintext (written before encryption) and values sealed with an older
    key version are (re-)encrypted, in batches of `batch_size` rows, each batch in its own
    transaction; reads keep working throughout because every value names its key version.
    Yields (model label, rows done so far) after each batch. Only rows still to do are ever
    picked, so an interrupted run continues where it stopped.

    It ends only after a pass that began once every process had taken up the newest key
    (`keys.current_settled_at`), so values another process wrote with the older key just
    after a rotation are re-encrypted too.
    """
    tenant_id = connection.tenant.pk  # type: ignore[attr-defined]
    done: dict[str, int] = {}
    while True:
        began = time.time()
        settled_at = keys.current_settled_at(tenant_id, TenantKey.Purpose.DATA)
        version, _ = keys.current_key(tenant_id, TenantKey.Purpose.DATA)
        for label, rows in _values_reseal_pass(version, batch_size):
            done[label] = done.get(label, 0) + rows
            yield label, done[label]
        if began >= settled_at:
            return
        log.info("pii.values_reseal.waiting", tenant=tenant_id, seconds=settled_at - began)
        time.sleep(max(0.0, settled_at - time.time()))


def _values_reseal_pass(version: int, batch_size: int) -> Iterator[tuple[str, int]]:
    """One pass of `values_reseal` over every encrypted model; yields (label, rows) per batch."""
    current = f"{FORMAT_PREFIX}{version}."
    for model, fields in encrypted_models():
        done = 0
        while pks := _stale_pks(model, fields, current, batch_size):
            with transaction.atomic():
                # The base manager: a default manager may hide rows (records in a trash),
                # whose values need the current key as much as any.
                for row in model._base_manager.select_for_update().filter(pk__in=pks):
                    update_fields = []
                    for field in fields:
                        setattr(row, field.attname, getattr(row, field.attname))
                        update_fields.append(field.attname)
                        if isinstance(field, EncryptedMixin) and field.blind_index:
                            update_fields.append(field.blind_index)
                        if isinstance(field, EncryptedMixin) and field.word_index:
                            update_fields.append(field.word_index)
                    row.save(update_fields=update_fields)
            done += len(pks)
            log.info("pii.values_resealed", model=model._meta.label, rows=done, key=version)
            yield model._meta.label, len(pks)


def tenant_key_rotate(*, tenant_id: int) -> int:
    """Give a tenant a new data-key version; new writes use it at once. Returns it."""
    version = keys.key_add_version(tenant_id, TenantKey.Purpose.DATA)
    log.info("pii.tenant_key_rotated", tenant=tenant_id, version=version)
    return version


def vault_key_rotate(*, batch_size: int = 250) -> tuple[int, int]:
    """Rotate every Transit key that wraps tenant keys, rewrap every stored key under its
    Transit key's new version (inside Vault: no plaintext key leaves it, no field value is
    touched), then destroy the older versions, so a backup's wrapped keys can no longer be
    unwrapped. Returns (Transit keys rotated, tenant keys rewrapped)."""
    names = sorted(set(TenantKey.objects.values_list("vault_key", flat=True)))
    for name in names:
        vault.transit_key_rotate(name)
    return len(names), wrapped_keys_rewrap(batch_size=batch_size)


def wrapped_keys_rewrap(*, batch_size: int = 250) -> int:
    """Bring every stored tenant key under its organization's own Transit key at that key's
    latest version, then destroy each Transit key's older versions. Keys still wrapped by
    another Transit key (the one all organizations shared before) are unwrapped and wrapped
    again under their own. Resumable: an interrupted run is finished by running it again."""
    done = 0
    last_pk = 0
    while True:
        batch = list(TenantKey.objects.filter(pk__gt=last_pk).order_by("pk")[:batch_size])
        if not batch:
            break
        by_name: dict[str, list[TenantKey]] = {}
        for row in batch:
            own = keys.transit_key_of(row.tenant_id)
            if row.vault_key != own:
                plaintext = vault.data_key_unwrap(row.vault_key, row.wrapped)
                row.wrapped, row.vault_key_version = vault.data_key_wrap(own, plaintext)
                row.vault_key = own
            else:
                by_name.setdefault(own, []).append(row)
        for name, rows in by_name.items():
            rewrapped = vault.data_keys_rewrap(name, [row.wrapped for row in rows])
            for row, (wrapped, version) in zip(rows, rewrapped, strict=True):
                row.wrapped, row.vault_key_version = wrapped, version
        TenantKey.objects.bulk_update(batch, ["wrapped", "vault_key", "vault_key_version"])
        done += len(batch)
        last_pk = batch[-1].pk
    log.info("pii.wrapped_keys_rewrapped", keys=done)
    # Only once the rewrapped rows are committed: a rolled-back rewrap leaves rows that need
    # the older versions.
    transaction.on_commit(transit_keys_trim)
    return done


def transit_keys_trim() -> None:
    """Destroy, in every Transit key that wraps tenant keys, the versions older than the
    oldest one a stored key still needs."""
    oldest = (
        TenantKey.objects.values_list("vault_key")
        .annotate(needed=models.Min("vault_key_version"))
        .order_by("vault_key")
    )
    for name, needed in oldest:
        kept = vault.transit_key_trim(name, min_version=needed)
        log.info("pii.transit_key_trimmed", key=name, kept_from=kept)


def transit_keys_orphaned_delete(*, older_than: float = 3600.0) -> list[str]:
    """Delete the Transit keys of ours that wrap nothing any more: those of deleted
    organizations whose deletion could not reach Vault, and the formerly shared key once no
    stored key uses it. Keys younger than `older_than` seconds are left alone (an
    organization being created may be about to store its first key). Returns the names."""
    prefix = settings.PII_TRANSIT_KEY
    referenced = set(TenantKey.objects.values_list("vault_key", flat=True))
    organizations = set(Tenant.objects.values_list("pk", flat=True))
    deleted: list[str] = []
    for name in vault.transit_keys_list():
        suffix = name.removeprefix(f"{prefix}-")
        ours_shared, ours_own = name == prefix, suffix != name and suffix.isdigit()
        if name in referenced or not (ours_shared or ours_own):
            continue
        if ours_own and int(suffix) in organizations:
            continue  # kept for the organization's next key
        created_at = vault.transit_key_created_at(name)
        if created_at is None or time.time() - created_at < older_than:
            continue
        vault.transit_key_delete(name)
        log.info("pii.transit_key_deleted", key=name)
        deleted.append(name)
    return deleted


def value_key_versions() -> list[tuple[str, int, int]]:
    """How many values of the current tenant each data-key version seals, per field (a
    SealedJSONField counts each value under each key)."""
    sealed = rf"^{re.escape(FORMAT_PREFIX)}[0-9]+\."
    counts: list[tuple[str, int, int]] = []
    with connection.cursor() as cur:
        for model, fields in encrypted_models():
            table = connection.ops.quote_name(model._meta.db_table)
            for field in fields:
                column = connection.ops.quote_name(field.column)
                if isinstance(field, SealedJSONField):
                    source = f"SELECT v.value AS token FROM {table}, jsonb_each_text({column}) v"  # noqa: S608
                else:
                    source = f"SELECT {column} AS token FROM {table}"  # noqa: S608
                cur.execute(
                    f"SELECT split_part(token, '.', 2)::int, count(*) FROM ({source}) AS s "  # noqa: S608
                    "WHERE token ~ %s GROUP BY 1 ORDER BY 1",
                    [sealed],
                )
                counts.extend((field.label, version, n) for version, n in cur.fetchall())
    return counts


def key_versions_in_use() -> dict[str, list[tuple[str, int, int]]]:
    """Which key versions still wrap or seal something: Transit versions wrapping tenant keys,
    and tenant data/index key versions, each with a count; inside a tenant also the values
    each of its data-key versions seals, per field (`value_key_versions`)."""
    wrapping = (
        TenantKey.objects.values_list("vault_key", "vault_key_version")
        .annotate(n=models.Count("id"))
        .order_by("vault_key", "vault_key_version")
    )
    tenant_keys = (
        TenantKey.objects.values_list("purpose", "version")
        .annotate(n=models.Count("id"))
        .order_by("purpose", "version")
    )
    in_tenant = connection.schema_name != get_public_schema_name()  # type: ignore[attr-defined]
    return {
        "transit": [(k, v, n) for k, v, n in wrapping],
        "tenant": [(p, v, n) for p, v, n in tenant_keys],
        "values": value_key_versions() if in_tenant else [],
    }
