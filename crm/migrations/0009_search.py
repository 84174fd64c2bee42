"""Search: the e-mail token index of contacts and leads, and the indexes of every record's
words and typo keys."""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models

import pii.fields

# What each record is found by (crm.selectors.search names the same expressions): its words,
# folded, for full-text search with prefixes, and its words' typo keys, both indexed.
DOCUMENTS = {
    "crm_contact": "first_name || ' ' || last_name",
    "crm_company": "name || ' ' || domain",
    "crm_lead": "first_name || ' ' || last_name || ' ' || company_name",
    "crm_deal": "name",
}


def _indexes() -> list[migrations.RunSQL]:
    operations = []
    for table, document in DOCUMENTS.items():
        words = f"to_tsvector('simple'::regconfig, public.mycrm_fold({document}))"
        typos = f"public.mycrm_typo_keys({document})"
        operations.append(
            migrations.RunSQL(
                [
                    f"CREATE INDEX {table}_search_words ON {table} USING gin ({words})",
                    f"CREATE INDEX {table}_search_typos ON {table} USING gin ({typos})",
                ],
                [
                    f"DROP INDEX IF EXISTS {table}_search_words",
                    f"DROP INDEX IF EXISTS {table}_search_typos",
                ],
            )
        )
    return operations


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0008_sales_cycle_records"),
        # public.mycrm_fold and public.mycrm_typo_keys, which the indexes below are over.
        ("tenants", "0006_search_functions"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="email_tokens",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.TextField(), blank=True, editable=False, null=True, size=None
            ),
        ),
        migrations.AddField(
            model_name="lead",
            name="email_tokens",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.TextField(), blank=True, editable=False, null=True, size=None
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="email",
            field=pii.fields.EncryptedEmailField(
                blank=True, blind_index="email_index", max_length=254, word_index="email_tokens"
            ),
        ),
        migrations.AlterField(
            model_name="lead",
            name="email",
            field=pii.fields.EncryptedEmailField(
                blank=True, blind_index="email_index", max_length=254, word_index="email_tokens"
            ),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["email_tokens"], name="crm_contact_email_tokens"
            ),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["email_tokens"], name="crm_lead_email_tokens"
            ),
        ),
    ] + _indexes()
