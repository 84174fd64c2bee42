"""Writes of PII protection: sealing values that were stored before encryption."""

from collections.abc import Iterator

import structlog
from django.apps import apps
from django.db import connection, models, transaction

from .fields import FORMAT_PREFIX, EncryptedMixin

log = structlog.get_logger(__name__)


def encrypted_models() -> list[tuple[type[models.Model], list[EncryptedMixin]]]:
    """Every model with encrypted fields, with those fields."""
    found: list[tuple[type[models.Model], list[EncryptedMixin]]] = []
    for model in apps.get_models():
        fields: list[EncryptedMixin] = []
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedMixin):
                fields.append(field)
        if fields:
            found.append((model, fields))
    return found


def _plaintext_pks(
    model: type[models.Model], fields: list[EncryptedMixin], batch_size: int
) -> list[int]:
    columns = [connection.ops.quote_name(f.column) for f in fields]
    where = " OR ".join(f"({c} <> '' AND {c} NOT LIKE %s)" for c in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT id FROM {table} WHERE {where} ORDER BY id LIMIT %s",  # noqa: S608
            [f"{FORMAT_PREFIX}%"] * len(columns) + [batch_size],
        )
        return [row[0] for row in cur.fetchall()]


def plaintext_seal(*, batch_size: int = 500) -> Iterator[tuple[str, int]]:
    """Encrypt, in the current tenant, every value still stored in plaintext.

    Works in batches of `batch_size` rows, each batch in its own transaction, and yields
    (model label, rows sealed so far) after each; since it only ever picks rows that still
    hold plaintext, an interrupted run simply continues where it stopped.
    """
    for model, fields in encrypted_models():
        done = 0
        while pks := _plaintext_pks(model, fields, batch_size):
            with transaction.atomic():
                for row in model._default_manager.select_for_update().filter(pk__in=pks):
                    update_fields = []
                    for field in fields:
                        setattr(row, field.attname, getattr(row, field.attname))
                        update_fields.append(field.attname)
                        if field.blind_index:
                            update_fields.append(field.blind_index)
                    row.save(update_fields=update_fields)
            done += len(pks)
            log.info("pii.plaintext_sealed", model=model._meta.label, rows=done)
            yield model._meta.label, done
