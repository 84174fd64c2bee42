from typing import Any

from django.core.management.base import BaseCommand

from tenants.models import Tenant
from tenants.services import tenant_url


class Command(BaseCommand):
    help = "List organizations: slug, status, schema, URL."

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.exclude(schema_name="public").order_by("slug")
        rows = [(t.slug, t.status, t.schema_name, tenant_url(t), t.name) for t in tenants]
        header = ("SLUG", "STATUS", "SCHEMA", "URL", "NAME")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            cells = [str(c).ljust(widths[i]) for i, c in enumerate(row[:4])]
            self.stdout.write("  ".join([*cells, row[4]]))
        self.stdout.write(f"{len(rows)} organization(s)")
