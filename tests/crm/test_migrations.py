"""The custom-fields migration gives every existing company its own `pii_row`."""

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

pytestmark = pytest.mark.django_db


def _migrate_crm(schema: str, target: str) -> None:
    call_command(
        "migrate_schemas",
        "crm",
        target,
        schema_name=schema,
        tenant=True,
        interactive=False,
        verbosity=0,
    )


def test_existing_companies_get_distinct_row_ids() -> None:
    schema = "mig_custom_fields"
    with connection.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    _migrate_crm(schema, "0003_contact_address_birthday")
    with connection.cursor() as cur:
        cur.execute(f"SET search_path TO {schema}")
        cur.execute(
            "INSERT INTO crm_company (name, domain, phone, created_at, updated_at) "
            "SELECT 'Co ' || n, '', '', now(), now() FROM generate_series(1, 50) AS n"
        )
    _migrate_crm(schema, "0004_custom_fields")
    with connection.cursor() as cur:
        cur.execute(f"SET search_path TO {schema}")
        cur.execute(
            "SELECT count(*), count(DISTINCT pii_row), count(*) FILTER (WHERE custom = '{}' "
            "AND custom_sealed = '{}') FROM crm_company"
        )
        assert cur.fetchone() == (50, 50, 50)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SET search_path TO {schema}")
        cur.execute(  # the column is unique from now on
            "INSERT INTO crm_company (name, domain, phone, custom, custom_sealed, pii_row, "
            "created_at, updated_at) SELECT name, '', '', '{}', '{}', pii_row, now(), now() "
            "FROM crm_company LIMIT 1"
        )
    connection.set_schema_to_public()  # type: ignore[attr-defined]
