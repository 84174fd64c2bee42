"""Tell the planner what the search functions cost (PostgreSQL assumes 100 operator costs for
a function in SQL): with the default, a search whose words match a few percent of a table was
planned as a sequential scan evaluating them row after row until enough rows matched, rather
than through their indexes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("tenants", "0007_search_fold_ascii_first")]

    operations = [
        migrations.RunSQL(
            [
                "ALTER FUNCTION public.mycrm_fold(text) COST 1000",
                "ALTER FUNCTION public.mycrm_typo_keys(text) COST 1000",
            ],
            [
                "ALTER FUNCTION public.mycrm_fold(text) COST 100",
                "ALTER FUNCTION public.mycrm_typo_keys(text) COST 100",
            ],
        )
    ]
