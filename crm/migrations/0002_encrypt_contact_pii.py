import uuid

from django.db import migrations, models

import pii.fields


def give_each_contact_a_row_id(apps, schema_editor):
    Contact = apps.get_model("crm", "Contact")
    for contact in Contact.objects.filter(pii_row__isnull=True).only("pk").iterator():
        Contact.objects.filter(pk=contact.pk).update(pii_row=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="pii_row",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(give_each_contact_a_row_id, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="contact",
            name="pii_row",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name="contact",
            name="email_index",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="contact",
            name="phone_index",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name="contact",
            name="email",
            field=pii.fields.EncryptedEmailField(
                blank=True, blind_index="email_index", max_length=254
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="phone",
            field=pii.fields.EncryptedCharField(
                blank=True, blind_index="phone_index", max_length=50
            ),
        ),
    ]
