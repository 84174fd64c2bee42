"""Model fields whose values the database only ever sees encrypted.

A value is sealed in `pre_save` with the tenant's data key, bound to the tenant, the field
and the row (`pii_row`, a UUID every model with encrypted fields carries), and opened
lazily on first attribute access. Exact-match lookups go through a blind-index column that
`pre_save` fills from the normalized plaintext; filtering on the encrypted column itself is
refused, since it could only ever compare ciphertexts.
"""

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from django.db import connection, models

from . import crypto
from .exceptions import TenantRequired

FORMAT_PREFIX = f"{crypto.FORMAT}."


class Sealed:
    """A ciphertext as stored, with the tenant it was loaded for."""

    __slots__ = ("tenant_id", "token")

    def __init__(self, token: str, tenant_id: int | None) -> None:
        self.token = token
        self.tenant_id = tenant_id

    def __repr__(self) -> str:
        return "<sealed>"


def _tenant_id() -> int:
    tenant = getattr(connection, "tenant", None)
    pk = getattr(tenant, "pk", None)
    if pk is None:
        raise TenantRequired("Encrypted fields are read and written inside a tenant only.")
    return int(pk)


def _row_text(instance: Any) -> str:
    """`str(instance.pii_row)`, remembered on the instance: a list page opens several fields
    per row, and formatting a UUID costs more than the rest of building the associated data."""
    row = instance.pii_row
    cached: tuple[Any, str] | None = instance.__dict__.get("_pii_row_text")
    if cached is None or cached[0] is not row:
        cached = (row, str(row))
        instance.__dict__["_pii_row_text"] = cached
    return cached[1]


def normalize_email(value: str) -> str:
    return value.strip().lower()


# Where an e-mail address's local part is split into words: zoe.muller+crm → zoe, muller, crm.
_LOCAL_PART_SEPARATORS = re.compile(r"[._+-]+")


def email_tokens(normalized: str) -> list[str]:
    """The words of a normalized e-mail address that a search may name: each piece of the
    local part (split at `.`, `_`, `-`, `+`), prefixed `local:`, and the domain with each of
    its parent domains short of the top level, prefixed `domain:`. For
    "zoe.muller@mail.example.com": local:zoe, local:muller, domain:mail.example.com and
    domain:example.com. Only their keyed digests are ever stored (`word_index`)."""
    local, at, domain = normalized.rpartition("@")
    if not at:
        return []
    tokens = {f"local:{piece}" for piece in _LOCAL_PART_SEPARATORS.split(local) if piece}
    labels = [label for label in domain.split(".") if label]
    tokens |= {f"domain:{'.'.join(labels[i:])}" for i in range(len(labels) - 1)}
    return sorted(tokens)


def normalize_phone(value: str) -> str:
    """Digits with a leading + kept: '+1 (555) 010-0' and '+15550100' index alike."""
    stripped = value.strip()
    digits = "".join(ch for ch in stripped if ch.isdigit())
    return ("+" if stripped.startswith("+") else "") + digits


class _OpensOnAccess:
    """Descriptor: decrypts a loaded ciphertext on first read and keeps the plaintext."""

    def __init__(self, field: "EncryptedMixin") -> None:
        self.field = field

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        if self.field.attname not in instance.__dict__:  # deferred: load it like Django would
            instance.refresh_from_db(fields=[self.field.attname])
        value = instance.__dict__.get(self.field.attname)
        if isinstance(value, Sealed):
            value = self.field.open(value, instance)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedMixin:
    """Shared behaviour of encrypted fields; `blind_index` names a sibling CharField, and
    `word_index` a sibling array field that `pre_save` fills with the keyed digests
    (`token_digest`) of the words `tokenizer` finds in the normalized value, so that a
    search can find a row by part of the value without it being stored in the clear."""

    attname: str
    column: str
    name: str
    model: type[models.Model]
    label: str

    def __init__(
        self,
        *args: Any,
        blind_index: str | None = None,
        normalizer: Callable[[str], str] | None = None,
        word_index: str | None = None,
        tokenizer: Callable[[str], list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.blind_index = blind_index
        self.normalizer = normalizer or (lambda value: value)
        self.word_index = word_index
        self.tokenizer = tokenizer or (lambda value: [])
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()  # type: ignore[misc]
        if self.blind_index:
            kwargs["blind_index"] = self.blind_index
        if self.word_index:
            kwargs["word_index"] = self.word_index
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str:
        return "text"

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, **kwargs)  # type: ignore[misc]
        setattr(cls, self.attname, _OpensOnAccess(self))
        self.label = f"{cls._meta.label_lower}.{name}"

    def _bound_to(self, instance: Any) -> str:
        """The associated-data name of this field in this row."""
        return f"{self.label}:{_row_text(instance)}"

    def dump(self, value: Any) -> str:
        """The text to encrypt for a Python value."""
        return str(value)

    def load(self, text: str) -> Any:
        """The Python value of decrypted text."""
        return text

    def open(self, sealed: Sealed, instance: Any) -> Any:
        if not sealed.token.startswith(FORMAT_PREFIX):
            # Written before the field was encrypted; `manage.py pii_reencrypt` seals it.
            return self.load(sealed.token)
        tenant_id = sealed.tenant_id if sealed.tenant_id is not None else _tenant_id()
        return self.load(
            crypto.decrypt(tenant_id=tenant_id, field=self._bound_to(instance), token=sealed.token)
        )

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return Sealed(value, getattr(getattr(connection, "tenant", None), "pk", None))

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        if isinstance(value, Sealed) or value is None:
            return value
        tenant_id = _tenant_id()
        if self.blind_index:
            digest = (
                crypto.blind_index(
                    tenant_id=tenant_id,
                    field=self.label,
                    normalized=self.normalizer(self.dump(value)),
                )
                if value
                else ""
            )
            setattr(model_instance, self.blind_index, digest)
        if self.word_index:
            words = self.tokenizer(self.normalizer(self.dump(value))) if value else []
            setattr(
                model_instance,
                self.word_index,
                sorted(
                    {token_digest(tenant_id=tenant_id, field=self.label, token=w) for w in words}
                ),
            )
        if value == "":
            return value
        token = crypto.encrypt(
            tenant_id=tenant_id,
            field=self._bound_to(model_instance),
            value=self.dump(value),
        )
        return Sealed(token, tenant_id)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None or value == "":
            return value
        if isinstance(value, Sealed):
            return value.token
        raise TypeError(
            f"{self.label} is encrypted: filter on its blind index (blind_index_for), not on it."
        )


class EncryptedTextField(EncryptedMixin, models.TextField):  # type: ignore[misc]
    pass


class EncryptedEmailField(EncryptedMixin, models.EmailField):  # type: ignore[misc]
    pass


class EncryptedCharField(EncryptedMixin, models.CharField):  # type: ignore[misc]
    pass


class EncryptedDateField(EncryptedMixin, models.DateField):  # type: ignore[misc]
    """A date (a birthday, say), stored as its encrypted ISO form."""

    def dump(self, value: Any) -> str:
        return value.isoformat() if isinstance(value, dt.date) else str(value)

    def load(self, text: str) -> Any:
        return dt.date.fromisoformat(text)


def blind_index_for(model: type[models.Model], field: str, value: str) -> str:
    """The blind-index value to filter `model`'s `field` on, in the current tenant."""
    encrypted = model._meta.get_field(field)
    if not isinstance(encrypted, EncryptedMixin) or not encrypted.blind_index:
        raise ValueError(f"{model.__name__}.{field} has no blind index.")
    return crypto.blind_index(
        tenant_id=_tenant_id(), field=encrypted.label, normalized=encrypted.normalizer(value)
    )


def with_derived_fields(model: type[models.Model], fields: list[str]) -> list[str]:
    """`fields` for `save(update_fields=…)`, with the blind index and word index of every
    encrypted field among them: `pre_save` recomputes those, and a save that leaves them
    out would keep the old value's indexes."""
    derived = []
    for name in fields:
        field = model._meta.get_field(name)
        if isinstance(field, EncryptedMixin):
            derived += [f for f in (field.blind_index, field.word_index) if f and f not in fields]
    return [*fields, *derived]


def token_digest(*, tenant_id: int, field: str, token: str) -> str:
    """The stored form of one word of a value (`EncryptedMixin.word_index`): a digest keyed
    with the organization's index key, and apart from the whole value's blind index by its
    field name. 128 bits are kept; nothing here is ever compared but for equality."""
    return crypto.blind_index(tenant_id=tenant_id, field=f"{field}#tokens", normalized=token)[:32]


def token_digests_for(model: type[models.Model], field: str, tokens: list[str]) -> list[str]:
    """The token-index values of `tokens` (words as `tokenizer` gives them) of `model`'s
    `field`, in the current tenant, to look rows up by."""
    encrypted = model._meta.get_field(field)
    if not isinstance(encrypted, EncryptedMixin) or not encrypted.word_index:
        raise ValueError(f"{model.__name__}.{field} has no token index.")
    tenant_id = _tenant_id()
    return sorted(
        {token_digest(tenant_id=tenant_id, field=encrypted.label, token=t) for t in tokens}
    )


class SealedMap:
    """A stored JSON object of ciphertexts, by key, with the tenant it was loaded for."""

    __slots__ = ("tenant_id", "tokens")

    def __init__(self, tokens: dict[str, Any], tenant_id: int | None) -> None:
        self.tokens = tokens
        self.tenant_id = tenant_id

    def __repr__(self) -> str:
        return f"<sealed {sorted(self.tokens)}>"


class _OpensMapOnAccess:
    """Descriptor: opens every value of a loaded SealedMap on first read, keeps the dict."""

    def __init__(self, field: "SealedJSONField") -> None:
        self.field = field

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        if self.field.attname not in instance.__dict__:
            instance.refresh_from_db(fields=[self.field.attname])
        value = instance.__dict__.get(self.field.attname)
        if isinstance(value, SealedMap):
            value = self.field.open(value, instance)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class SealedJSONField(models.JSONField):
    """A JSON object whose keys are stored in the clear and every value encrypted.

    For values under keys that are not known in advance, such as user-defined fields marked
    sensitive. In Python it is a plain dict of JSON values; in the table, a dict of the same
    keys to ciphertexts, each sealed in `pre_save` with `<model>.<field>.<key>:<pii_row>` as
    its field name, so a value moved to another key, row or tenant does not decrypt. Values
    open on first attribute access. Filtering on it is refused except for key lookups
    (`has_key`), since the values could only ever compare as ciphertexts.
    """

    column: str
    label: str

    def contribute_to_class(
        self, cls: type[models.Model], name: str, private_only: bool = False
    ) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        setattr(cls, self.attname, _OpensMapOnAccess(self))
        self.label = f"{cls._meta.label_lower}.{name}"

    def bound_to(self, instance: Any, key: str) -> str:
        """The associated-data name of the value under `key` in this row."""
        return f"{self.label}.{key}:{_row_text(instance)}"

    def open(self, sealed: SealedMap, instance: Any) -> dict[str, Any]:
        tenant_id = sealed.tenant_id if sealed.tenant_id is not None else _tenant_id()
        opened: dict[str, Any] = {}
        for key, token in sealed.tokens.items():
            if not isinstance(token, str) or not token.startswith(FORMAT_PREFIX):
                # Stored in the clear by other means; `manage.py pii_reencrypt` seals it.
                opened[key] = token
                continue
            text = crypto.decrypt(
                tenant_id=tenant_id, field=self.bound_to(instance, key), token=token
            )
            opened[key] = json.loads(text)
        return opened

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        loaded = super().from_db_value(value, expression, connection)
        if not isinstance(loaded, dict) or not loaded:
            return loaded
        return SealedMap(loaded, getattr(getattr(connection, "tenant", None), "pk", None))

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        if isinstance(value, SealedMap) or not value:
            return value
        if not isinstance(value, dict):
            raise TypeError(f"{self.label} holds a JSON object, not {type(value).__name__}.")
        tenant_id = _tenant_id()
        tokens = {
            key: crypto.encrypt(
                tenant_id=tenant_id,
                field=self.bound_to(model_instance, key),
                value=json.dumps(item, ensure_ascii=False, separators=(",", ":")),
            )
            for key, item in value.items()
        }
        return SealedMap(tokens, tenant_id)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if isinstance(value, SealedMap):
            return super().get_db_prep_value(value.tokens, connection, prepared)
        if hasattr(value, "as_sql"):
            return value
        if value is None or value == {}:
            return super().get_db_prep_value(value, connection, prepared)
        raise TypeError(
            f"{self.label} is encrypted: only its keys can be filtered on (has_key), "
            "and values are sealed when the row is saved."
        )
