"""`mycrm_fold` answers text that is all printable ASCII (most names) with `lower()` alone:
its translation table is long, and `translate` walks it for every character. The result is
the same, so indexes over the function stay valid."""

import importlib

from django.db import migrations

_first = importlib.import_module("tenants.migrations.0006_search_functions")

FOLD = f"""
CREATE OR REPLACE FUNCTION public.mycrm_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN $1 ~ '^[ -~]*$' THEN lower($1) ELSE {_first._folded} END
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0006_search_functions")]

    operations = [migrations.RunSQL([FOLD], [_first.FOLD])]
