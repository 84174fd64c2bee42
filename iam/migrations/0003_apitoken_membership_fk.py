"""A token can't outlive its owner's membership: a foreign key from (user, tenant) to the
membership, deleted with it. Authentication then needs no membership join to know that
a live token's owner is a member (iam.services.api_token_authenticate)."""

from django.db import migrations

# Tokens whose membership is already gone authenticate nobody (the membership check
# refused them); they go before the key is added.
DELETE_ORPHANS = """
    DELETE FROM iam_apitoken t
    WHERE NOT EXISTS (
        SELECT 1 FROM iam_membership m WHERE m.user_id = t.user_id AND m.tenant_id = t.tenant_id
    )
"""
ADD_KEY = """
    ALTER TABLE iam_apitoken ADD CONSTRAINT iam_apitoken_membership_fk
    FOREIGN KEY (user_id, tenant_id) REFERENCES iam_membership (user_id, tenant_id)
    ON DELETE CASCADE
"""
DROP_KEY = "ALTER TABLE iam_apitoken DROP CONSTRAINT iam_apitoken_membership_fk"


class Migration(migrations.Migration):
    dependencies = [("iam", "0002_invitation")]

    operations = [
        migrations.RunSQL(DELETE_ORPHANS, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(ADD_KEY, reverse_sql=DROP_KEY),
    ]
