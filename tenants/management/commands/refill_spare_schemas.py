from typing import Any

from django.core.management.base import BaseCommand

from tenants.pool import spare_schemas_refill


class Command(BaseCommand):
    help = (
        "Drop spare schemas made from an older snapshot and top the warm pool up to "
        "TENANT_SPARE_SCHEMAS (idempotent; run it after build_tenant_snapshot on deploy)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = spare_schemas_refill()
        self.stdout.write(
            f"Spare schemas: {report.ready} ready ({report.made} made, {report.dropped} dropped)"
        )
